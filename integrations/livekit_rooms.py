"""RoomService calls through the LiveKit SDK (Twirp over HTTP, signed per call)."""

from __future__ import annotations

import aiohttp
from livekit import api

from integrations.livekit_config import LiveKitConfig

TIMEOUT = aiohttp.ClientTimeout(total=10)


class RoomServiceError(Exception):
    """LiveKit refused a call or could not be reached. The text is for the log only (it
    names hosts and ports); ``unreachable`` tells a client-facing 503 from a 502."""

    def __init__(self, detail: str, *, unreachable: bool) -> None:
        super().__init__(detail)
        self.unreachable = unreachable


def _client(cfg: LiveKitConfig) -> api.LiveKitAPI:
    # One client per call: going live and revoking are rare, and a per-call session
    # cannot outlive the event loop that made it. No failover: it is for LiveKit Cloud.
    return api.LiveKitAPI(cfg.url, cfg.api_key, cfg.api_secret, timeout=TIMEOUT,
                          failover=False)


async def create_room(cfg: LiveKitConfig, name: str) -> None:
    """Create the room (LiveKit returns the existing one if it is already there)."""
    try:
        async with _client(cfg) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=name))
    except api.ServerError as exc:
        raise RoomServiceError(f"CreateRoom {name}: {exc}", unreachable=False) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RoomServiceError(f"CreateRoom {name}: {exc}", unreachable=True) from exc


async def remove_participant(cfg: LiveKitConfig, room: str, identity: str) -> bool:
    """Kick ``identity`` out of ``room``; False when it was not there (not an error)."""
    try:
        async with _client(cfg) as lk:
            await lk.room.remove_participant(
                api.RoomParticipantIdentity(room=room, identity=identity))
    except api.ServerError as exc:
        if exc.status == 404 or exc.code == api.ServerErrorCode.NOT_FOUND:
            return False
        raise RoomServiceError(f"RemoveParticipant {room}/{identity}: {exc}",
                               unreachable=False) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RoomServiceError(f"RemoveParticipant {room}/{identity}: {exc}",
                               unreachable=True) from exc
    return True
