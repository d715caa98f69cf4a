"""LiveKit webhooks: verify, deduplicate, apply, broadcast.

LiveKit signs each delivery with a JWT (issuer = API key) in ``Authorization`` whose
``sha256`` claim is the base64 SHA-256 of the body; the SDK's ``WebhookReceiver``
checks both. Anything it refuses changes nothing and answers 401.

A verified event names a room, which ``app_livekit_room_event()`` maps to an event and
org; the rest runs in one ``tenant_tx`` of that org: record the webhook id (LiveKit
redelivers; a seen id is a no-op), lock the event row, apply, commit, then broadcast.

* participant_joined / participant_left: presence of the identity, then the viewer
  count recomputed and broadcast as ``viewers``. Hidden participants and our bots
  (``BOT_PREFIX``) are not viewers and change nothing.
* room_started / room_finished: status 'live' / 'ended', broadcast as
  ``event_status`` (finished also empties the room: ``viewers`` 0).
* egress_started / egress_updated / egress_ended: the recording's state
  (``integrations.recording_state.sync``), broadcast as ``recording`` when it changed.
  These name the room in ``egress_info.room_name``.
* Other events are recorded and otherwise ignored.
"""

from __future__ import annotations

import logging
import time
import uuid

import asyncpg
import msgspec
from google.protobuf.json_format import ParseError
from livekit.api import TokenVerifier, WebhookEvent, WebhookReceiver

from integrations import livekit_store as store
from integrations import recording_state
from integrations.livekit_config import LiveKitConfig
from integrations.livekit_grants import is_hidden
from integrations.livekit_wire import EventStatus, Viewers, WebhookResult
from persistence import webhook_events
from persistence.tenant import Tenant, tenant_tx
from rooms.node import Node

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()
_PRESENCE = {"participant_joined": True, "participant_left": False}
_EGRESS = frozenset({"egress_started", "egress_updated", "egress_ended"})


class WebhookRefused(Exception):
    """Not signed by our key, or the body is not the one that was signed."""


class WebhookMalformed(Exception):
    """Signed correctly, but not a webhook event we can read."""


def verify(cfg: LiveKitConfig, body: bytes, authorization: str) -> WebhookEvent:
    """The verified event.

    Raises:
        WebhookRefused: missing, bad or expired signature, or a tampered body.
        WebhookMalformed: a correctly signed body that is not a WebhookEvent.
    """
    token = authorization.removeprefix("Bearer ").strip()
    if not token:
        raise WebhookRefused("no Authorization header")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise WebhookRefused("body is not UTF-8") from None
    receiver = WebhookReceiver(TokenVerifier(cfg.api_key, cfg.api_secret))
    try:
        event = receiver.receive(text, token)
    # Our own reasons to the sender; the SDK's texts (which may quote the body) go to
    # the log.
    except ParseError as exc:  # raised only after the signature and hash matched
        log.info("signed LiveKit webhook unreadable: %s", exc)
        raise WebhookMalformed("not a LiveKit webhook event") from None
    except Exception as exc:  # the SDK raises bare Exception for a hash mismatch
        log.info("LiveKit webhook refused: %s", exc)
        raise WebhookRefused("bad signature, or the body is not the one signed") from None
    if not event.id or not event.event:
        raise WebhookMalformed("event without id or type")
    return event


async def apply(pool: asyncpg.Pool, node: Node, event: WebhookEvent,
                body: bytes) -> WebhookResult:
    """Apply a verified event once; broadcast what changed to the event room."""
    found = await store.room_event(pool, event.room.name or event.egress_info.room_name)
    if found is None:
        # Acknowledge: a room we do not know will not become known by redelivering.
        return WebhookResult("ignored")
    event_id, org_id = found
    at = float(event.created_at or time.time())
    out: list[msgspec.Struct] = []
    async with tenant_tx(pool, Tenant(org_id, None, "admin")) as conn:
        if not await webhook_events.claim(conn, "livekit", event.id, event.event, body.decode()):
            return WebhookResult("duplicate")
        await store.event(conn, event_id, lock=True)
        kind = event.event
        if kind in _PRESENCE:
            who = event.participant
            if not is_hidden(who.identity, who.permission.hidden):
                await store.set_presence(conn, event_id, who.identity, _PRESENCE[kind], at)
                out.append(Viewers(await store.recount(conn, event_id)))
        elif kind == "room_started":
            moved, room = await store.set_status(conn, event_id, "live")
            if moved:  # an ended or cancelled event stays so
                out.append(EventStatus("live", room))
        elif kind == "room_finished":
            moved, room = await store.set_status(conn, event_id, "ended")
            await store.clear_presence(conn, event_id, at)
            if moved:
                out.append(EventStatus("ended", room))
            out.append(Viewers(await store.recount(conn, event_id)))
        elif kind in _EGRESS:
            changed = await recording_state.sync(conn, event_id, event.egress_info,
                                                 ended=kind == "egress_ended")
            if changed is not None:
                out.append(changed)
    await _broadcast(node, event_id, out)
    return WebhookResult("applied")


async def _broadcast(node: Node, event_id: uuid.UUID, events: list[msgspec.Struct]) -> None:
    for room_event in events:
        await node.publish(f"event:{event_id}", _encoder.encode(room_event))
