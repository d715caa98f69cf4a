"""docker-compose.yml stays true to the settings the code reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from hub.settings import ENV_VARS
from integrations import livekit_config, stripe_config

KNOWN = {*ENV_VARS, *livekit_config._ENV.values(), *stripe_config._ENV.values(),
         "HUB_TIP_ALERT_TIMEOUT", "HUB_TIP_ALERT_MAX_AGE"}

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_compose_sets_only_variables_the_hub_reads():
    """Every variable given to a hub replica is one hub.settings reads."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    hubs = [name for name in services if name.startswith("hub-")]
    assert len(hubs) == 2
    for name in hubs:
        env = services[name]["environment"]
        unknown = set(env) - KNOWN
        assert not unknown, f"{name} sets variables the hub ignores: {unknown}"
        assert env["REDIS_URL"].startswith("redis://")
        assert env["HUB_NODE_ID"] == name
        assert env["LIVEKIT_URL"] == "http://livekit:7880"  # the dev-mode server below
    assert "--dev" in services["livekit"]["command"]
