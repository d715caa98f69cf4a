"""Error codes a refused request carries, on the socket (``error`` frames) and in service
refusals (``ServiceError``), with what each means and what a client should do next.

They live here, below the hub, because room services raise them; the wire protocol
(``hub.protocol``) and its generated docs read them from this module.
"""

from __future__ import annotations

import enum
from typing import Final


class Action(enum.StrEnum):
    """What a client should do after an error or close."""

    FIX = "fix the request and retry"
    RETRY = "retry later, with backoff"
    RECONNECT = "reconnect (with backoff) and resubscribe with recovery"
    REFRESH_TOKEN = "get a fresh token, then reconnect"
    GIVE_UP = "do not retry"


class ErrorCode(enum.IntEnum):
    """Codes of ``error`` frames. The connection stays open after all of them."""

    BAD_FRAME = 4400
    UNKNOWN_FRAME = 4401
    INVALID_FIELD = 4402
    PAYLOAD_TOO_LARGE = 4413
    FORBIDDEN = 4403
    UNKNOWN_ROOM = 4404
    NOT_SUBSCRIBED = 4405
    UNKNOWN_METHOD = 4406
    ALREADY_SUBSCRIBED = 4409
    TOKEN_REFUSED = 4410
    STALE_VERSION = 4412
    REFUSED = 4422
    RATE_LIMITED = 4429
    INTERNAL = 4500
    UNAVAILABLE = 4503


ERROR_DOCS: Final[dict[ErrorCode, tuple[str, Action]]] = {
    ErrorCode.BAD_FRAME: ("frame is not a valid JSON object (or not UTF-8), is binary, or nests"
                          " arrays/objects deeper than `HUB_MAX_JSON_DEPTH`", Action.FIX),
    ErrorCode.UNKNOWN_FRAME: ("`type` is missing or not a known client frame", Action.FIX),
    ErrorCode.INVALID_FIELD: ("a field is missing, has the wrong type, is out of range"
                              " (integers are 0..2^63-1, `limit` >= 1; `id` any int64) or"
                              " holds a NUL character; `reason` names the field", Action.FIX),
    ErrorCode.PAYLOAD_TOO_LARGE: ("`data` or chat `text` exceeds its size limit", Action.FIX),
    ErrorCode.FORBIDDEN: (
        "the token's org or roles do not allow this on this room, or a raw publish used an"
        " event `type` reserved for room services",
        Action.GIVE_UP,
    ),
    ErrorCode.UNKNOWN_ROOM: ("room name is malformed or the event does not exist", Action.GIVE_UP),
    ErrorCode.NOT_SUBSCRIBED: ("the request needs a subscription to the room (one that the hub"
                               " confirmed: a refused subscribe does not count)", Action.FIX),
    ErrorCode.ALREADY_SUBSCRIBED: ("the connection is already subscribed to the room", Action.FIX),
    ErrorCode.UNKNOWN_METHOD: ("no room service method by that name", Action.FIX),
    ErrorCode.TOKEN_REFUSED: ("the `refresh` token is forged, expired, lives longer than"
                              " `HUB_MAX_TOKEN_TTL`, or names another `sub` or `org`; the old"
                              " token still applies", Action.FIX),
    ErrorCode.STALE_VERSION: ("the change was made against an old version; `state` holds the"
                              " current one", Action.FIX),
    ErrorCode.REFUSED: ("a room rule refused it (cap reached, muted, banned, held word, payments"
                        " not enabled...); `reason` says which", Action.GIVE_UP),
    ErrorCode.RATE_LIMITED: ("per-connection rate exceeded (publish/chat/call, or reads:"
                             " history/chat_history/presence); nothing was done", Action.RETRY),
    ErrorCode.INTERNAL: ("unexpected server error; nothing was published", Action.RETRY),
    ErrorCode.UNAVAILABLE: ("the broker (Redis) or Postgres is unreachable, or this node runs"
                            " without Postgres; nothing changed, unless `reason` begins"
                            " \"saved\": the change is stored but was not broadcast;"
                            " sending it again with the same id does not store it twice (a"
                            " chat is broadcast then; a service's state catches up with the"
                            " room's next change, or a subscribe). After a `subscribed` (same"
                            " `id`): the subscription stands, but Postgres did not answer for"
                            " the snapshots; unsubscribe and subscribe again for them",
                            Action.RETRY),
}


class ServiceError(Exception):
    """A refused request: ``code`` and ``reason`` go back to the caller, and nothing changed.

    ``state`` (any Struct) is sent back too, e.g. the current queue with ``STALE_VERSION``.
    """

    def __init__(self, code: ErrorCode, reason: str, state: object = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.state = state
