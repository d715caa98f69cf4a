"""Egress calls through the LiveKit SDK (Twirp, signed per call with ``roomRecord``), and
what an ``EgressInfo`` means for a recording's stored state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import aiohttp
from livekit import api

from integrations.livekit_config import LiveKitConfig
from integrations.livekit_rooms import TIMEOUT, RoomServiceError
from integrations.livekit_wire import Layout

LAYOUTS: tuple[str, ...] = get_args(Layout)

_STATUS = {
    api.EgressStatus.EGRESS_STARTING: "starting",
    api.EgressStatus.EGRESS_ACTIVE: "recording",
    api.EgressStatus.EGRESS_ENDING: "stopping",
    api.EgressStatus.EGRESS_COMPLETE: "stopped",
    api.EgressStatus.EGRESS_LIMIT_REACHED: "stopped",  # a file exists, cut at the limit
    api.EgressStatus.EGRESS_FAILED: "failed",
    api.EgressStatus.EGRESS_ABORTED: "failed",
}
_ERROR_CHARS = 300  # LiveKit's reasons are short; a DJ reads this, so keep it so


@dataclass(frozen=True)
class Reported:
    """What LiveKit reports about an egress, in our terms."""

    egress_id: str
    status: str  # starting | recording | stopping | stopped | failed
    error: str | None
    file: str | None  # the stored file's location, once LiveKit knows it
    ended_at: float | None  # unix seconds


def reported(info: api.EgressInfo) -> Reported:
    """Our reading of ``info``; an unknown status counts as still starting."""
    status = _STATUS.get(info.status, "starting")
    error = info.error.strip()[:_ERROR_CHARS] or None
    if status == "failed" and error is None:
        error = ("the recording was aborted" if info.status == api.EgressStatus.EGRESS_ABORTED
                 else "the recording failed")
    if info.status == api.EgressStatus.EGRESS_LIMIT_REACHED and error is None:
        error = "the recording reached its time limit"
    files = [*info.file_results, *([info.file] if info.HasField("file") else [])]
    file = next((f.location or f.filename for f in files if f.location or f.filename), None)
    ended = info.ended_at / 1e9 if info.ended_at else None  # LiveKit counts nanoseconds
    return Reported(info.egress_id, status, error, file, ended)


def _client(cfg: LiveKitConfig) -> api.LiveKitAPI:
    return api.LiveKitAPI(cfg.url, cfg.api_key, cfg.api_secret, timeout=TIMEOUT,
                          failover=False)


async def start_composite(cfg: LiveKitConfig, room: str, layout: str) -> api.EgressInfo:
    """Record ``room`` as one composed video into ``LIVEKIT_EGRESS_FILEPATH``.

    Raises:
        livekit_rooms.RoomServiceError: LiveKit refused or could not be reached.
    """
    request = api.RoomCompositeEgressRequest(
        room_name=room, layout=layout,
        file_outputs=[api.EncodedFileOutput(file_type=api.EncodedFileType.MP4,
                                            filepath=cfg.egress_filepath)])
    try:
        async with _client(cfg) as lk:
            return await lk.egress.start_room_composite_egress(request)
    except api.ServerError as exc:
        raise RoomServiceError(f"StartRoomCompositeEgress {room}: {exc}",
                               unreachable=False) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RoomServiceError(f"StartRoomCompositeEgress {room}: {exc}",
                               unreachable=True) from exc


async def stop(cfg: LiveKitConfig, egress_id: str) -> api.EgressInfo | None:
    """Stop the egress; None when LiveKit no longer has it running (not an error).

    Raises:
        livekit_rooms.RoomServiceError: LiveKit refused or could not be reached.
    """
    try:
        async with _client(cfg) as lk:
            return await lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress_id))
    except api.ServerError as exc:
        if exc.status in (404, 412) or exc.code in (api.ServerErrorCode.NOT_FOUND,
                                                    api.ServerErrorCode.FAILED_PRECONDITION):
            return None
        raise RoomServiceError(f"StopEgress {egress_id}: {exc}", unreachable=False) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RoomServiceError(f"StopEgress {egress_id}: {exc}", unreachable=True) from exc
