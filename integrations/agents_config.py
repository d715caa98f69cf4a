"""AI agent settings, read from the environment into one msgspec Struct.

Variables:

* ``OPENAI_API_KEY``: unset, the rule-based fallback (``agents_rules``) answers SMS, so
  the hub works offline.
* ``OPENAI_BASE_URL``: the API base (default ``https://api.openai.com/v1``; tests point it
  at a local fake).
* ``OPENAI_MODEL``: the chat model (default ``gpt-4o-mini``).
* ``AGENT_MAX_TURNS``: model calls one agent may make for one SMS (default 4); a model
  that keeps calling tools is stopped there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec

from rooms.env import from_env


class AgentConfig(msgspec.Struct, frozen=True, kw_only=True):
    ENV: ClassVar[Mapping[str, str]] = {
        "api_key": "OPENAI_API_KEY",
        "base_url": "OPENAI_BASE_URL",
        "model": "OPENAI_MODEL",
        "max_turns": "AGENT_MAX_TURNS",
    }

    api_key: str = ""
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    max_turns: Annotated[int, msgspec.Meta(ge=1, le=20)] = 4

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)


def load_config(env: Mapping[str, str] | None = None) -> AgentConfig:
    """Build the config from ``env`` (default ``os.environ``); bad values raise early."""
    return from_env(AgentConfig, env)

