"""A recording's state only moves forward, and LiveKit's EgressInfo reads as ours."""

from __future__ import annotations

import datetime as dt
import uuid

from livekit import api

from integrations.livekit_egress import reported
from integrations.recording_state import advance, apply_report, room_event
from integrations.recording_store import RecordingRow

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def row(status: str = "starting", **kw: object) -> RecordingRow:
    fields: dict[str, object] = dict(id=uuid.uuid4(), event_id=uuid.uuid4(), egress_id=None,
                                     status=status, layout="speaker", started_by="dj",
                                     started_at=T0, ended_at=None, error=None,
                                     file_location=None)
    fields.update(kw)
    return RecordingRow(**fields)  # type: ignore[arg-type]


def test_forward_only():
    """Reports that would move it back change nothing; finished stays finished."""
    rec = advance(row(), "recording", egress_id="EG_1")
    assert (rec.status, rec.egress_id) == ("recording", "EG_1")
    assert advance(rec, "starting") == rec
    done = advance(rec, "failed", error="boom", ended_at=T0.timestamp() + 60)
    assert done.status == "failed" and done.error == "boom"
    assert done.ended_at == T0 + dt.timedelta(seconds=60)
    assert advance(done, "stopped") == done and advance(done, "recording", error="x") == done
    assert advance(rec, "stopped").ended_at is not None  # no time given: now


def test_egress_info_reads_as_ours():
    """Statuses map; a failure without LiveKit's reason gets ours; the file location is
    kept; LiveKit's nanoseconds become seconds; LiveKit's long texts are cut."""
    info = api.EgressInfo(egress_id="EG_1", status=api.EgressStatus.EGRESS_FAILED,
                          ended_at=1_800_000_000 * 10**9)
    got = reported(info)
    assert (got.status, got.error, got.ended_at) == ("failed", "the recording failed",
                                                     1_800_000_000.0)
    info = api.EgressInfo(egress_id="EG_1", status=api.EgressStatus.EGRESS_COMPLETE,
                          file_results=[api.FileInfo(filename="a.mp4", location="s3://b/a.mp4")])
    assert (reported(info).status, reported(info).file) == ("stopped", "s3://b/a.mp4")
    long = api.EgressInfo(egress_id="EG_1", status=api.EgressStatus.EGRESS_ABORTED,
                          error="x" * 5000)
    assert len(reported(long).error or "") == 300
    assert reported(api.EgressInfo(egress_id="EG_1")).status == "starting"
    rec = apply_report(row(), reported(info))
    event = room_event(rec)
    assert event.status == "stopped" and event.started_at == int(T0.timestamp() * 1000)
