"""Who gets which LiveKit grants, and minting the access token. No I/O.

Roles come from the hub connection token (``rooms.roles.Role``):

* ``publisher`` (performer, dj, admin): publish and subscribe.
* ``viewer`` (anyone in the org): subscribe only. ``can_publish=False`` is set
  explicitly, and so is ``can_publish_data=False``: the SDK defaults it to True, but chat,
  requests and tips go through the hub (moderated, persisted, audited), so a data
  channel would be a side door around moderation. The same holds for every kind.
* ``bot`` (dj, admin): a hidden overlay or recorder: ``hidden`` and ``recorder``,
  subscribe only. Its identity starts with ``BOT_PREFIX`` so webhooks can leave it out
  of the viewer count; no other kind may take an identity with that prefix.

A pay-per-view event asks viewers to have paid; hosts (performer, dj, moderator,
admin) watch their own event free (``needs_payment``).
"""

from __future__ import annotations

import datetime
import secrets
import unicodedata
import uuid
from typing import Literal

import jwt
from livekit.api import AccessToken, VideoGrants

from integrations.livekit_config import LiveKitConfig
from rooms.roles import Role

Kind = Literal["publisher", "viewer", "bot"]
BOT_PREFIX = "bot-"
ROOM_PREFIX = "event-"

PUBLISHERS: frozenset[Role] = frozenset({Role.PERFORMER, Role.DJ, Role.ADMIN})
BOTS: frozenset[Role] = frozenset({Role.DJ, Role.ADMIN})
PPV_EXEMPT: frozenset[Role] = frozenset({Role.PERFORMER, Role.DJ, Role.MODERATOR, Role.ADMIN})
ALLOWED: dict[str, frozenset[Role]] = {
    "publisher": PUBLISHERS, "viewer": frozenset(Role), "bot": BOTS}


MAX_IDENTITY = 128  # characters; a hub sub is an id, not prose


class GrantRefused(Exception):
    """The caller's roles do not allow this kind of token."""


class BadIdentity(Exception):
    """The token's ``sub`` cannot name a LiveKit participant (blank, too long, control
    characters)."""


def room_name(event_id: uuid.UUID, stored: str | None) -> str:
    """The event's LiveKit room: the stored one, or ``event-<uuid>`` before go-live."""
    return stored or f"{ROOM_PREFIX}{event_id}"


def participant_identity(sub: str) -> str:
    """One LiveKit identity per person: a uuid ``sub`` in its canonical form (the way
    ``users.id`` and ``ppv_access.user_id`` print), any other ``sub`` as it is.

    Minting and revoking both go through this, so a revoke kicks the identity that the
    token carried, however the token spelled the uuid (upper case, braces, no hyphens).
    """
    try:
        return str(uuid.UUID(sub))
    except ValueError:
        return sub


def identity_for(kind: Kind, sub: str) -> str:
    """The participant identity: the canonical hub ``sub``, or a unique bot identity.

    Raises:
        BadIdentity: a blank or unusable ``sub``.
        GrantRefused: a non-bot ``sub`` that would pass as a hidden bot.
    """
    if (not sub.strip() or len(sub) > MAX_IDENTITY
            or any(unicodedata.category(ch) == "Cc" for ch in sub)):
        raise BadIdentity("the token's sub is empty or not usable as a video identity")
    if kind == "bot":
        # Several bots (overlay, recorder) per person: LiveKit kicks duplicate identities.
        return f"{BOT_PREFIX}{sub}-{secrets.token_hex(4)}"
    if sub.startswith(BOT_PREFIX):
        raise GrantRefused(f"identities starting with {BOT_PREFIX!r} are reserved for bots")
    return participant_identity(sub)


def grants_for(kind: Kind, roles: frozenset[Role], room: str) -> VideoGrants:
    """The video grants for ``kind`` in ``room``.

    Raises:
        GrantRefused: the roles may not have this kind of token.
    """
    if roles.isdisjoint(ALLOWED[kind]):
        raise GrantRefused(f"a {kind} token needs one of the roles "
                           + ", ".join(sorted(ALLOWED[kind])))
    if kind == "publisher":
        return VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True,
                           can_publish_data=False)
    if kind == "viewer":
        return VideoGrants(room_join=True, room=room, can_publish=False, can_subscribe=True,
                           can_publish_data=False)
    return VideoGrants(room_join=True, room=room, can_publish=False, can_subscribe=True,
                       can_publish_data=False, hidden=True, recorder=True)


def needs_payment(kind: Kind, roles: frozenset[Role], ppv_price_cents: int | None) -> bool:
    """Viewer tokens for a pay-per-view event need a purchase, except for hosts."""
    return (kind == "viewer" and (ppv_price_cents or 0) > 0
            and roles.isdisjoint(PPV_EXEMPT))


def mint(cfg: LiveKitConfig, identity: str, grants: VideoGrants) -> tuple[str, int]:
    """Sign a token for ``identity``; return it and its expiry in ms since the epoch."""
    token = (AccessToken(cfg.api_key, cfg.api_secret).with_identity(identity)
             .with_grants(grants).with_ttl(datetime.timedelta(seconds=cfg.token_ttl))
             .to_jwt())
    # Read exp back rather than recompute it: the SDK rounds "now" to whole seconds.
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    return token, int(exp) * 1000


def is_hidden(identity: str, hidden: bool) -> bool:
    """Not a viewer: LiveKit says the participant is hidden, or it is one of our bots."""
    return hidden or identity.startswith(BOT_PREFIX)
