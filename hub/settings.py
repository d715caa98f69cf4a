"""Settings, read once from the environment at start. Every variable is listed in README.md.

Each part declares its own settings Struct (``rooms.env`` says how); this module loads
the hub's and, through :func:`load_parts`, everyone else's.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec

from hub.products import parse_hosts
from integrations.agents_config import AgentConfig
from integrations.livekit_config import LiveKitConfig
from integrations.stripe_config import StripeConfig
from integrations.twilio_config import TwilioConfig
from rooms.env import from_env
from rooms.redis_client import as_cluster_url
from rooms.services.tips_config import TipsConfig

log = logging.getLogger(__name__)

DEV_SECRET = "livehub-development-secret-change-me-please"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's own settings (the shell, rooms and chat); other parts have their own."""

    ENV: ClassVar[Mapping[str, str]] = {
        "host": "HUB_HOST", "port": "HUB_PORT", "secret": "HUB_SECRET", "api_key": "HUB_API_KEY",
        "redis_url": "REDIS_URL", "redis_cluster": "REDIS_CLUSTER",
        "redis_prefix": "HUB_REDIS_PREFIX",
        "database_url": "DATABASE_URL", "app_database_url": "APP_DATABASE_URL",
        "embedded_pg": "HUB_EMBEDDED_PG", "pg_data_dir": "HUB_PG_DATA_DIR",
        "max_chat_chars": "HUB_MAX_CHAT_CHARS", "chat_user_burst": "HUB_CHAT_USER_BURST",
        "chat_retention_days": "HUB_CHAT_RETENTION_DAYS", "pg_timeout": "HUB_PG_TIMEOUT",
        "node_id": "HUB_NODE_ID",
        "ws_compression": "HUB_WS_COMPRESSION", "max_frame_bytes": "HUB_MAX_FRAME_BYTES",
        "max_publish_bytes": "HUB_MAX_PUBLISH_BYTES", "send_queue_bytes": "HUB_SEND_QUEUE_BYTES",
        "publish_rate": "HUB_PUBLISH_RATE", "publish_burst": "HUB_PUBLISH_BURST",
        "read_rate": "HUB_READ_RATE", "read_burst": "HUB_READ_BURST",
        "max_pending": "HUB_MAX_PENDING", "max_json_depth": "HUB_MAX_JSON_DEPTH",
        "ping_interval": "HUB_PING_INTERVAL", "ping_timeout": "HUB_PING_TIMEOUT",
        "history_size": "HUB_HISTORY_SIZE", "history_ttl": "HUB_HISTORY_TTL",
        "presence_ttl": "HUB_PRESENCE_TTL", "shutdown_timeout": "HUB_SHUTDOWN_TIMEOUT",
        "drain_seconds": "HUB_DRAIN_SECONDS", "header_timeout": "HUB_HEADER_TIMEOUT",
        "body_timeout": "HUB_BODY_TIMEOUT", "max_header_bytes": "HUB_MAX_HEADER_BYTES",
        "max_body_bytes": "HUB_MAX_BODY_BYTES",
        "max_connections_per_address": "HUB_MAX_CONNECTIONS_PER_ADDRESS",
        "max_token_ttl": "HUB_MAX_TOKEN_TTL", "role_cache_ttl": "HUB_ROLE_CACHE_TTL",
        "max_session": "HUB_MAX_SESSION", "refresh_grace": "HUB_REFRESH_GRACE",
        "product_hosts": "HUB_PRODUCT_HOSTS", "sse_heartbeat": "HUB_SSE_HEARTBEAT",
        "gc_freeze": "HUB_GC_FREEZE", "gc_freeze_after": "HUB_GC_FREEZE_AFTER",
        "gc_refreeze_after": "HUB_GC_REFREEZE_AFTER", "gc_check_interval": "HUB_GC_CHECK_INTERVAL",
        "gc_threshold": "HUB_GC_THRESHOLD",
        "workers": "HUB_WORKERS",
    }

    host: str = "127.0.0.1"
    port: int = 8000
    secret: str = DEV_SECRET  # HUB_SECRET: HS256 key for connection tokens
    api_key: str = ""  # HUB_API_KEY: server publish API; empty disables it
    redis_url: str = ""  # REDIS_URL: empty -> in-process broker
    # REDIS_CLUSTER=1: REDIS_URL's redis:// node belongs to a Redis Cluster (the same as
    # writing redis+cluster://); rooms.redis_client
    redis_cluster: bool = False
    redis_prefix: str = "lh"
    database_url: str = ""  # DATABASE_URL: owner DSN; empty -> embedded Postgres (hub run)
    app_database_url: str = ""  # APP_DATABASE_URL: the RLS-bound app role; derived if empty
    embedded_pg: bool = True  # HUB_EMBEDDED_PG=0: run without Postgres (rooms only)
    pg_data_dir: str = ".livehub/pg"
    max_chat_chars: int = 500
    chat_user_burst: int = 5  # chat messages per user per room per 10 s
    # Chat older than this many days is deleted by `python -m persistence.chat prune`
    # (run it from cron or a timer); 0 keeps chat forever.
    chat_retention_days: int = 0
    # Seconds a Postgres statement, or a new connection, may take before it fails (4503 to
    # the client): a server that hangs must not hold requests, or their rows locked, forever.
    pg_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    node_id: str = ""
    ws_compression: bool = False  # per-message deflate costs ~2x memory per socket
    max_frame_bytes: int = 64 * 1024
    max_publish_bytes: int = 16 * 1024
    send_queue_bytes: int = 1024 * 1024  # per-connection backlog before "slow consumer"
    publish_rate: float = 20.0
    publish_burst: int = 40
    read_rate: float = 20.0  # history/chat_history/presence queries per second
    read_burst: int = 60
    max_pending: int = 256  # queued commands per connection before it stops being read
    max_json_depth: int = 32  # nesting of arrays/objects in one client frame
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    history_size: int = 1000
    history_ttl: int = 300
    presence_ttl: float = 30.0
    shutdown_timeout: float = 5.0
    drain_seconds: float = 2.0  # after SIGTERM, /ready answers 503 this long before closing
    # HTTP edge (hub.http_limits): one client address must not exhaust the process.
    header_timeout: float = 10.0  # request line + headers (and so the websocket handshake)
    body_timeout: float = 20.0  # a request body must arrive within this many seconds
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024  # routes may set a smaller cap (webhooks do)
    max_connections_per_address: int = 256  # HTTP + websocket; 0 = no cap
    max_token_ttl: int = 24 * 3600  # longest exp - iat a connection token may have
    max_session: int = 12 * 3600  # longest chain of refreshes from one sign-in (auth_time)
    # Seconds past exp that POST /api/tokens/refresh (only it) still renews a token: a DJ's
    # laptop asleep through a set break wakes with an expired token. 30 min covers a break;
    # it never stretches the session (auth_time + max_session) and roles are re-confirmed.
    refresh_grace: Annotated[int, msgspec.Meta(ge=0)] = 1800
    role_cache_ttl: float = 60.0  # seconds a node trusts a cached membership role
    # host=product,... (hub.products): checked by load(), parsed once into Hub.products
    product_hosts: str = ""
    sse_heartbeat: Annotated[float, msgspec.Meta(gt=0)] = 15.0  # seconds of silence (hub.sse)
    # Cyclic GC policy (hub.gc_policy): freeze long-lived objects so collections never walk
    # every open connection. 0 for the *_after counts turns that step off.
    gc_freeze: bool = True  # HUB_GC_FREEZE=0: leave the collector as CPython sets it
    gc_freeze_after: Annotated[int, msgspec.Meta(ge=0)] = 500  # new connections per freeze
    gc_refreeze_after: Annotated[int, msgspec.Meta(ge=0)] = 20000  # closes per full collection
    gc_check_interval: Annotated[float, msgspec.Meta(gt=0)] = 0.5  # seconds between checks
    # Net allocations between generation-0 collections (CPython: 700); 0 keeps CPython's.
    gc_threshold: Annotated[int, msgspec.Meta(ge=0)] = 10000
    # hub run: processes sharing the port through SO_REUSEPORT (hub.workers); >1 needs Redis
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1


    @property
    def redis_target(self) -> str:
        """REDIS_URL as the Redis clients take it: ``redis+cluster://`` for a Cluster."""
        return as_cluster_url(self.redis_url) if self.redis_cluster else self.redis_url


class Parts(msgspec.Struct, frozen=True, kw_only=True):
    """The settings of the other parts, loaded with the hub's at start."""

    tips: TipsConfig = TipsConfig()
    stripe: StripeConfig = StripeConfig()
    livekit: LiveKitConfig = LiveKitConfig()
    twilio: TwilioConfig = TwilioConfig()
    agents: AgentConfig = AgentConfig()


_PART_TYPES = (Settings, TipsConfig, StripeConfig, LiveKitConfig, TwilioConfig, AgentConfig)
ENV_VARS = tuple(var for part in _PART_TYPES for var in part.ENV.values())


def load_parts(env: Mapping[str, str] | None = None) -> Parts:
    """Every other part's settings from ``env`` (default ``os.environ``).

    Raises:
        rooms.env.SettingsError: a bad value, naming its variable.
    """
    return Parts(tips=from_env(TipsConfig, env), stripe=from_env(StripeConfig, env),
                 livekit=from_env(LiveKitConfig, env), twilio=from_env(TwilioConfig, env),
                 agents=from_env(AgentConfig, env))


def load(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """The hub's settings from environment variables, then keyword overrides."""
    settings = from_env(Settings, env)
    parse_hosts(settings.product_hosts)  # a bad map stops the start, naming its variable
    changed = {k: v for k, v in overrides.items() if v is not None}
    if changed:
        settings = msgspec.convert({**msgspec.structs.asdict(settings), **changed}, Settings,
                                   strict=False)
    if not settings.node_id:
        settings = msgspec.structs.replace(
            settings, node_id=f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}")
    if settings.secret == DEV_SECRET:
        log.warning("HUB_SECRET is unset: using the development secret")
    return settings
