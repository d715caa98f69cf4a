"""A recording's state machine: what the hub's calls and LiveKit's reports do to a stored
recording, and how it is shown (HTTP state, ``recording`` room event). No I/O but the
row it is given, except ``sync`` (the webhook's step).

Status only moves forward: starting -> recording -> stopping -> stopped | failed. A
report that would move it back (webhooks arrive out of order, or after the hub's own
answer) changes nothing; a finished recording stays finished.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from livekit.api import EgressInfo

from integrations import recording_store as store
from integrations.livekit_egress import Reported, reported
from integrations.livekit_store import Conn
from integrations.livekit_wire import Recording, RecordingState
from integrations.recording_store import RecordingRow

_RANK = {"starting": 0, "recording": 1, "stopping": 2, "stopped": 3, "failed": 3}


def _ms(at: dt.datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def advance(rec: RecordingRow, status: str, *, egress_id: str | None = None,
            error: str | None = None, file: str | None = None,
            ended_at: float | None = None) -> RecordingRow:
    """``rec`` moved to ``status`` if that is forward; the egress id, error and file are
    filled in when known (never overwritten with nothing)."""
    finished = _RANK[rec.status] == 3
    forward = not finished and _RANK[status] > _RANK[rec.status]
    new_status = status if forward else rec.status
    ended = rec.ended_at
    if forward and _RANK[status] == 3:
        ended = (dt.datetime.fromtimestamp(ended_at, dt.UTC) if ended_at
                 else dt.datetime.now(dt.UTC))
    return dataclasses.replace(
        rec, status=new_status, egress_id=rec.egress_id or egress_id, ended_at=ended,
        error=(error if forward else None) or rec.error, file_location=file or rec.file_location)


def apply_report(rec: RecordingRow, report: Reported) -> RecordingRow:
    return advance(rec, report.status, egress_id=report.egress_id, error=report.error,
                   file=report.file, ended_at=report.ended_at)


def state(rec: RecordingRow | None) -> RecordingState:
    if rec is None:
        return RecordingState(status="idle")
    return RecordingState(status=rec.status, egress_id=rec.egress_id,  # type: ignore[arg-type]
                          layout=rec.layout, started_by=rec.started_by,
                          started_at=_ms(rec.started_at), ended_at=_ms(rec.ended_at),
                          error=rec.error, file=rec.file_location)


def room_event(rec: RecordingRow) -> Recording:
    started = _ms(rec.started_at)
    assert started is not None
    return Recording(status=rec.status,  # type: ignore[arg-type]
                     started_at=started, ended_at=_ms(rec.ended_at))


async def sync(conn: Conn, event_id: uuid.UUID, info: EgressInfo, *,
               ended: bool = False) -> Recording | None:
    """Apply an egress webhook's ``info`` to the event's recording; the room event when
    something changed. ``ended`` (egress_ended): the recording is over, failed if
    LiveKit names an error. An egress the hub did not start (none stored with its id,
    and no start in flight to adopt it) changes nothing."""
    report = reported(info)
    if not report.egress_id:
        return None
    if ended and _RANK[report.status] < 3:
        report = dataclasses.replace(report, status="stopped")
    if ended and info.error.strip() and report.status != "failed":
        report = dataclasses.replace(report, status="failed")
    rec = await store.by_egress(conn, event_id, report.egress_id)
    if rec is None:
        # LiveKit may report before the hub stored the id StartRoomCompositeEgress answered.
        rec = await store.running(conn, event_id)
        if rec is None or rec.egress_id is not None:
            return None
    after = apply_report(rec, report)
    if after == rec:
        return None
    await store.save(conn, after)
    return room_event(after)
