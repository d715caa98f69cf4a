"""docker-compose.yml read as `docker compose` reads it: YAML merges, then ${VAR} defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
# $$ is a literal $; ${NAME:-default} / ${NAME-default} / ${NAME} / $NAME take the environment.
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|\$([A-Za-z_]\w*)")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        return env.get(m[1] or m[3]) or (m[2] or "")

    return _VAR.sub(one, value)


def _walk(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: _walk(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(value, env) for value in node]
    return node


def load(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file with every variable at its default (or taken from ``env``)."""
    data: dict[str, Any] = _walk(yaml.safe_load(COMPOSE.read_text()), env or {})
    return data


def config_at(compose: dict[str, Any], service: str, target: str) -> str:
    """The content of the config a service mounts at ``target``."""
    [source] = [c["source"] for c in compose["services"][service].get("configs", [])
                if c["target"] == target]
    content: str = compose["configs"][source]["content"]
    return content
