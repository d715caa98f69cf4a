"""LiveKit settings, read from the environment into one msgspec Struct.

Variables (all optional; without ``LIVEKIT_API_KEY`` streaming is off and the LiveKit
routes answer 503 "streaming not configured"):

* ``LIVEKIT_URL``: the LiveKit server, e.g. ``http://127.0.0.1:7880``. The hub's
  RoomService client calls it and, unless ``LIVEKIT_PUBLIC_URL`` is set, it is handed to
  browsers in token responses.
* ``LIVEKIT_PUBLIC_URL``: the address browsers use, when it differs from the hub's (in
  docker-compose the hub reaches ``livekit:7880``, a name browsers cannot resolve).
* ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``: sign access tokens and RoomService
  calls, and verify webhooks.
* ``LIVEKIT_TOKEN_TTL``: lifetime of minted access tokens in seconds (default 600).
* ``LIVEKIT_EGRESS_FILEPATH``: where a recording (``integrations.recording``) is written,
  as LiveKit's ``EncodedFileOutput.filepath``; LiveKit fills in its template variables
  (``{room_name}``, ``{time}``, ...). Default ``livehub/{room_name}-{time}.mp4``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec

from rooms.env import from_env


class LiveKitConfig(msgspec.Struct, frozen=True, kw_only=True):
    ENV: ClassVar[Mapping[str, str]] = {
        "url": "LIVEKIT_URL",
        "public_url": "LIVEKIT_PUBLIC_URL",
        "api_key": "LIVEKIT_API_KEY",
        "api_secret": "LIVEKIT_API_SECRET",
        "token_ttl": "LIVEKIT_TOKEN_TTL",
        "egress_filepath": "LIVEKIT_EGRESS_FILEPATH",
    }

    url: str = ""
    public_url: str = ""
    api_key: str = ""
    api_secret: str = ""
    # Short: a refunded pay-per-view fan is kicked, and a kicked fan can rejoin with a
    # token minted before the refund until it expires.
    token_ttl: Annotated[int, msgspec.Meta(ge=10, le=86_400)] = 600
    egress_filepath: Annotated[str, msgspec.Meta(min_length=1)] = "livehub/{room_name}-{time}.mp4"

    @property
    def enabled(self) -> bool:
        """Streaming needs all three: where LiveKit is, and the key pair to talk to it."""
        return bool(self.api_key and self.api_secret and self.url)

    @property
    def browser_url(self) -> str:
        """The LiveKit address handed to browsers with their tokens."""
        return self.public_url or self.url


def load_config(env: Mapping[str, str] | None = None) -> LiveKitConfig:
    """Build the config from ``env`` (default ``os.environ``); bad values raise early."""
    return from_env(LiveKitConfig, env)

