"""Who is acting: one type for a websocket client, an HTTP caller and the server itself."""

from __future__ import annotations

import unicodedata
import uuid

import msgspec

from persistence.tenant import Tenant
from rooms.roles import RANK, Role


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """A caller, from a verified token, or the hub itself (server API, verified webhooks).

    ``roles`` are the roles in effect; ``claimed`` the ones the token names. They differ
    once memberships have been consulted (``hub.memberships``). ``exp`` is the token's
    expiry (0 for the server); ``client_id`` names the websocket connection, if any.
    ``event`` is set for an overlay credential: the one event room it may act in
    (``rooms.access``), at the credential's ``version`` (a rotation past it revokes it).
    ``name`` is a display name from the token (guests'), already cleaned by
    ``display_name``: shown to others as text, never trusted as an identity.
    """

    sub: str
    org: uuid.UUID
    roles: frozenset[Role]
    exp: int = 0
    claimed: frozenset[Role] = frozenset()
    client_id: str = ""
    is_server: bool = False
    event: uuid.UUID | None = None
    version: int = 0
    name: str = ""

    def has(self, roles: frozenset[Role]) -> bool:
        return not self.roles.isdisjoint(roles)

    def tenant(self) -> Tenant:
        """The Postgres tenant claims (the user claim is set only for uuid subs)."""
        role = next((r for r in RANK if r in self.roles), "")
        return Tenant(self.org, user_uuid(self.sub), str(role))

    @classmethod
    def server(cls, org: uuid.UUID) -> Principal:
        return cls(sub="server", org=org, roles=frozenset({Role.ADMIN}), is_server=True)


def user_uuid(sub: str) -> uuid.UUID | None:
    """``sub`` as a ``users.id`` when it is a uuid; other subs name ``users.external_id``."""
    try:
        return uuid.UUID(sub)
    except ValueError:
        return None


MAX_NAME_CHARS = 40


def display_name(raw: object) -> str:
    """A name others may see: control and format characters dropped, whitespace folded,
    at most ``MAX_NAME_CHARS``. Markup stays text (clients render it as text)."""
    if not isinstance(raw, str):
        return ""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in raw)
    return " ".join(kept.split())[:MAX_NAME_CHARS].strip()
