"""Recording the stream: LiveKit Egress records the event's LiveKit room as one file.

Routes (a dj or admin bearer token of the event's organization, or the platform
``X-API-Key``; another org's event answers 404 as an unknown one):

* ``POST /api/events/{event_id}/recording`` ``{"layout"?}``: start. 503 when streaming
  is not configured, 409 when the event is not live or a recording is already running
  (with its state in ``extra``). The recording is stored as 'starting' under the event's
  row lock before LiveKit is asked, so two DJs pressing "record" together start one
  egress; if LiveKit refuses (502) or cannot be reached (503) it is 'failed'.
* ``DELETE /api/events/{event_id}/recording``: stop. 409 when nothing is running, or
  the start is still in flight; a recording already stopping answers its state.
* ``GET /api/events/{event_id}/recording``: the latest recording's state ("idle" if none).

Starts and stops are audited ('recording.start', 'recording.stop'); every change is
broadcast to ``event:<id>`` as the ``recording`` room event. LiveKit's egress webhooks
(``integrations.livekit_webhook``) move the state on; ``integrations.recording_state``
keeps it moving forward only. The file goes to ``LIVEKIT_EGRESS_FILEPATH``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from typing import Any

import asyncpg
import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException

from integrations import http_docs as docs
from integrations import livekit_egress as egress
from integrations import livekit_store as lk_store
from integrations import recording_store as store
from integrations.http import AnyRequest, Bearer, BearerDep, NodeDep, PoolDep, caller_for
from integrations.livekit import GO_LIVE, _ready, _video_failed
from integrations.livekit_config import LiveKitConfig
from integrations.livekit_grants import room_name
from integrations.livekit_rooms import RoomServiceError
from integrations.livekit_wire import RecordingRequest, RecordingState
from integrations.recording_state import advance, apply_report, room_event, state
from integrations.recording_store import RecordingRow
from persistence.audit import audit
from persistence.tenant import tenant_tx
from rooms.node import Node
from rooms.principal import Principal

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()
_request = msgspec.json.Decoder(RecordingRequest)
# A 'starting' row whose LiveKit call never came back (the hub died mid-call) stops
# blocking new recordings after this long; the call itself times out after 10 s.
STALE_START = dt.timedelta(seconds=60)
_UNKNOWN = "no such event in your organization"


async def _caller(request: AnyRequest, pool: asyncpg.Pool, bearer: Bearer,
                  event_id: uuid.UUID) -> Principal:
    org = await pool.fetchval("SELECT app_event_org($1)", event_id)
    return await caller_for(request, bearer, org, GO_LIVE, unknown=_UNKNOWN,
                            refusal="recording needs the dj or admin role")


async def _publish(node: Node, rec: RecordingRow) -> None:
    await node.publish(f"event:{rec.event_id}", _encoder.encode(room_event(rec)))


def _conflict(reason: str, current: RecordingState) -> HTTPException:
    return HTTPException(reason, status_code=409, extra=msgspec.to_builtins(current))


async def start(pool: asyncpg.Pool, node: Node, cfg: LiveKitConfig, who: Principal,
                event_id: uuid.UUID, layout: str) -> RecordingState:
    """Reserve the recording under the event lock, then ask LiveKit; store its answer."""
    tenant = who.tenant()
    gone: RecordingRow | None = None
    async with tenant_tx(pool, tenant) as conn:
        event = await lk_store.event(conn, event_id, lock=True)
        if event is None:
            raise HTTPException(_UNKNOWN, status_code=404)
        if event.status != "live":
            raise HTTPException(f"the event is {event.status}, not live: go live first",
                                status_code=409)
        current = await store.running(conn, event_id)
        if current is not None:
            if not (current.egress_id is None
                    and dt.datetime.now(dt.UTC) - current.started_at > STALE_START):
                raise _conflict("a recording is already running", state(current))
            gone = advance(current, "failed", error="the recording never started")
            await store.save(conn, gone)
        room = room_name(event_id, event.livekit_room)
        rec = await store.reserve(conn, event_id, layout, who.sub)
        await audit(conn, who.sub, "recording.start", str(event_id),
                    {"recording": str(rec.id), "room": room, "layout": layout, "sub": who.sub})
    if gone is not None:
        await _publish(node, gone)
    await _publish(node, rec)
    try:
        info = await egress.start_composite(cfg, room, layout)
    except RoomServiceError as exc:
        reason = ("the video service is unavailable" if exc.unreachable
                  else "the video service refused the recording")
        await _update(pool, node, tenant, rec.id, lambda r: advance(r, "failed", error=reason))
        raise _video_failed(exc) from None
    after = await _update(pool, node, tenant, rec.id,
                          lambda r: apply_report(r, egress.reported(info)))
    return state(after)


async def stop(pool: asyncpg.Pool, node: Node, cfg: LiveKitConfig, who: Principal,
               event_id: uuid.UUID) -> RecordingState:
    """Mark the running recording 'stopping', then ask LiveKit to stop it."""
    tenant = who.tenant()
    async with tenant_tx(pool, tenant) as conn:
        if await lk_store.event(conn, event_id, lock=True) is None:
            raise HTTPException(_UNKNOWN, status_code=404)
        rec = await store.running(conn, event_id)
        if rec is None:
            raise _conflict("no recording is running", state(await store.latest(conn, event_id)))
        if rec.status == "stopping":
            return state(rec)  # pressed twice: one StopEgress is enough
        if rec.egress_id is None:
            raise _conflict("the recording is still starting: try again in a moment",
                            state(rec))
        before = rec.status
        rec = advance(rec, "stopping")
        await store.save(conn, rec)
        await audit(conn, who.sub, "recording.stop", str(event_id),
                    {"recording": str(rec.id), "egress_id": rec.egress_id, "sub": who.sub})
    await _publish(node, rec)
    egress_id = rec.egress_id
    assert egress_id is not None
    try:
        info = await egress.stop(cfg, egress_id)
    except RoomServiceError as exc:
        # Still running as far as anyone knows: back as it was, so stop can be retried.
        await _update(pool, node, tenant, rec.id, lambda r: dataclasses.replace(
            r, status=before) if r.status == "stopping" else r)
        raise _video_failed(exc) from None
    after = await _update(pool, node, tenant, rec.id, lambda r: (
        advance(r, "stopped") if info is None else apply_report(r, egress.reported(info))))
    return state(after)


async def _update(pool: asyncpg.Pool, node: Node, tenant: Any, recording_id: uuid.UUID,
                  change: Any) -> RecordingRow | None:
    """Apply ``change`` to the locked row; broadcast when it changed anything."""
    async with tenant_tx(pool, tenant) as conn:
        rec = await store.by_id(conn, recording_id)
        if rec is None:
            return None
        after: RecordingRow = change(rec)
        if after != rec:
            await store.save(conn, after)
    if after != rec:
        await _publish(node, after)
    return after


async def _layout(request: AnyRequest) -> str:
    """The optional body's layout: 400 not JSON, 422 an unknown field or layout."""
    body = await request.body()
    if not body.strip():
        return RecordingRequest().layout
    try:
        return _request.decode(body).layout
    except msgspec.ValidationError as exc:
        # Our own words: msgspec's would echo the caller's value or field name.
        reason = str(exc)
        if "unknown field" in reason:
            reason = "unknown field: the body takes only layout"
        elif "$.layout" in reason:
            reason = f"layout must be one of {', '.join(egress.LAYOUTS)}"
        else:
            reason = 'the body must be an object like {"layout": "speaker"}'
        raise HTTPException(reason, status_code=422) from None
    except msgspec.DecodeError:
        raise HTTPException("body must be JSON", status_code=400) from None


_AUTH = [*docs.API_KEY_SECURITY, *docs.BEARER_SECURITY]
_ERRORS: docs.Errors = {
    401: "Neither a valid X-API-Key nor a valid bearer token",
    403: "Recording needs the dj or admin role (confirmed by a membership)",
    404: "No such event in the caller's organization (also another organization's event)",
    503: "Streaming not configured (LIVEKIT_API_KEY, LIVEKIT_API_SECRET, LIVEKIT_URL), no"
         " Postgres, or an X-API-Key sent while HUB_API_KEY is unset"}
_VIDEO: docs.Errors = {502: "The video service refused the call (the recording is failed)",
                       503: "The video service is unavailable"}
_BODY = dataclasses.replace(docs.json_body(
    RecordingRequest, "Optional: LiveKit's room composite layout (default speaker)"),
    required=False)


@post("/api/events/{event_id:uuid}/recording", status_code=201, security=_AUTH,
      summary="Start recording the event's stream through LiveKit Egress (dj, admin)",
      operation_class=docs.documented(_BODY),
      responses=docs.errors(_ERRORS, docs.BODY_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS,
                            _VIDEO, {
          400: "The body is not JSON",
          409: "The event is not live, or a recording is already running (its state in"
               " extra)",
          422: "An unknown field, or a layout other than speaker, grid, single-speaker"}))
async def start_recording(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                          node: NodeDep, livekit_cfg: NamedDependency[LiveKitConfig],
                          bearer: BearerDep) -> RecordingState:
    ready = _ready(livekit_cfg, pool)
    who = await _caller(request, ready, bearer, event_id)
    layout = await _layout(request)
    return await start(ready, node, livekit_cfg, who, event_id, layout)


@delete("/api/events/{event_id:uuid}/recording", status_code=200, security=_AUTH,
        summary="Stop the event's running recording (dj, admin)",
        operation_class=docs.documented(drop=[400]),  # no body; a bad id matches no route
        responses=docs.errors(_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS, _VIDEO, {
            409: "No recording is running, or its start is still in flight (the state in"
                 " extra)"}))
async def stop_recording(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                         node: NodeDep, livekit_cfg: NamedDependency[LiveKitConfig],
                         bearer: BearerDep) -> RecordingState:
    ready = _ready(livekit_cfg, pool)
    who = await _caller(request, ready, bearer, event_id)
    return await stop(ready, node, livekit_cfg, who, event_id)


@get("/api/events/{event_id:uuid}/recording", security=_AUTH,
     summary="The event's latest recording: status, who started it, when, error, file",
     operation_class=docs.documented(drop=[400]),
     responses=docs.errors(_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS))
async def recording_state(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                          livekit_cfg: NamedDependency[LiveKitConfig],
                          bearer: BearerDep) -> RecordingState:
    ready = _ready(livekit_cfg, pool)
    who = await _caller(request, ready, bearer, event_id)
    async with tenant_tx(ready, who.tenant()) as conn:
        return state(await store.latest(conn, event_id))


ROUTES: list[Any] = [start_recording, stop_recording, recording_state]
