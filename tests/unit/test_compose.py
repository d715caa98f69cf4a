"""docker-compose.yml stays true to the settings the code reads and wires its parts."""

from __future__ import annotations

from urllib.parse import urlsplit

import yaml

from hub.settings import ENV_VARS
from tests.support.compose import config_at, load

KNOWN = set(ENV_VARS)  # every part's variables (hub.settings.load_parts)
INIT_SCRIPT = "/docker-entrypoint-initdb.d/10-livehub-app.sh"


def _hubs() -> dict[str, dict[str, str]]:
    services = load()["services"]
    return {name: s["environment"] for name, s in services.items() if name.startswith("hub-")}


def test_compose_sets_only_variables_the_hub_reads():
    """Every variable given to a hub replica is one hub.settings reads."""
    hubs = _hubs()
    assert len(hubs) == 2
    for name, env in hubs.items():
        unknown = set(env) - KNOWN
        assert not unknown, f"{name} sets variables the hub ignores: {unknown}"
        assert env["REDIS_URL"].startswith("redis://")
        assert env["HUB_NODE_ID"] == name


def test_both_database_roles_have_the_passwords_postgres_was_given():
    """Owner and livehub_app log in with passwords the postgres service actually sets."""
    compose = load()
    pg = compose["services"]["postgres"]["environment"]
    script = config_at(compose, "postgres", INIT_SCRIPT)
    assert "CREATE ROLE livehub_app LOGIN NOSUPERUSER NOBYPASSRLS" in script
    assert "PASSWORD :'pw'" in script and 'pw="$LIVEHUB_APP_PASSWORD"' in script
    for env in _hubs().values():
        owner, app = urlsplit(env["DATABASE_URL"]), urlsplit(env["APP_DATABASE_URL"])
        assert (owner.username, owner.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
        assert (app.username, app.password) == ("livehub_app", pg["LIVEHUB_APP_PASSWORD"])
        assert owner.hostname == app.hostname == "postgres"
        assert owner.path == app.path == f"/{pg['POSTGRES_DB']}"


def test_browsers_get_a_livekit_url_they_can_resolve():
    """The hub calls LiveKit by service name; the URL handed to browsers is not one."""
    services = load()["services"]
    for env in _hubs().values():
        assert urlsplit(env["LIVEKIT_URL"]).hostname == "livekit"
        public = urlsplit(env["LIVEKIT_PUBLIC_URL"])
        assert public.hostname not in services
        assert public.port == 7880 and "7880:7880" in services["livekit"]["ports"]


def test_livekit_signs_webhooks_to_the_hubs_with_their_key():
    """livekit-server's key pair is the hubs', and its webhooks reach /webhooks/livekit."""
    services = load()["services"]
    config = yaml.safe_load(services["livekit"]["environment"]["LIVEKIT_CONFIG"])
    for env in _hubs().values():
        assert config["keys"] == {env["LIVEKIT_API_KEY"]: env["LIVEKIT_API_SECRET"]}
        assert config["webhook"]["api_key"] == env["LIVEKIT_API_KEY"]
    assert len(config["keys"][config["webhook"]["api_key"]]) >= 32  # livekit-server asks for 32+
    [url] = config["webhook"]["urls"]
    target = urlsplit(url)
    assert (target.hostname, target.port, target.path) == ("proxy", 8000, "/webhooks/livekit")
    assert "listen 8000;" in config_at(load(), "proxy", "/etc/nginx/conf.d/default.conf")
