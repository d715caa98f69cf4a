"""The rules a fan's chat message must pass, read in one query per message.

For everyone but staff (dj, moderator, admin), who are exempt from all of them:

1. A banned or muted user cannot post (``REFUSED``), effective on their very next
   message, on every node: the check reads Postgres (``rooms.sanctions``).
2. Slow mode: one message per ``slow_mode_seconds`` per user in the room (``RATE_LIMITED``).
3. Per-user rate limit: at most ``user_burst`` messages per 10 s per room
   (``RATE_LIMITED``), across all of the user's connections.
4. Blocked words (whole words, any case): per org, either ``REFUSED`` or stored as
   ``held`` for a moderator to approve, as the org chooses. The list is compiled once per
   change per node (``rooms.blocked_words``); each message reads only the list's version,
   so a change applies on every node from the next message on.

The same query spots a retry (same author and ``client_msg_id``): the stored row is
returned and none of the rules apply, since the message was already accepted.
"""

from __future__ import annotations

import datetime as dt

from persistence.chat import Stored
from rooms.blocked_words import MatcherCache
from rooms.codes import ErrorCode, ServiceError
from rooms.principal import Principal
from rooms.sanctions import IN_FORCE
from rooms.services.base import Context

_RULES = f"""
SELECT
  (SELECT id FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND coalesce(author, '') = $2
      AND client_msg_id = $3) AS prior_id,
  (SELECT status FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND coalesce(author, '') = $2
      AND client_msg_id = $3) AS prior_status,
  (SELECT max(until) {IN_FORCE.format(sub="$2")}) AS sanctioned_until,
  (SELECT kind {IN_FORCE.format(sub="$2")} ORDER BY kind = 'ban' DESC LIMIT 1) AS sanction,
  (SELECT slow_mode_seconds FROM chat_room_settings
    WHERE organization_id = app_org_id() AND room = $1) AS slow_mode,
  (SELECT version FROM chat_settings WHERE organization_id = app_org_id()) AS words_version,
  (SELECT blocked_action FROM chat_settings WHERE organization_id = app_org_id()) AS action,
  (SELECT max(created_at) FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND author = $2) AS last_at,
  (SELECT count(*) FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND author = $2
      AND created_at > now() - interval '10 seconds') AS recent
"""

# Compiled blocked-word lists, per org and list version, shared by every call on this node.
_BLOCKED = MatcherCache()


async def status_for(ctx: Context, who: Principal, room: str, text: str,
                     client_msg_id: str) -> str | Stored:
    """The status a new message gets ("visible" or "held"), or the stored row of a retry.

    Raises:
        ServiceError: REFUSED (sanction, blocked word) or RATE_LIMITED.
    """
    async with ctx.tx(who) as conn:
        rules = await conn.fetchrow(_RULES, room, who.sub, client_msg_id)
        assert rules is not None
        version: int | None = rules["words_version"]
        words: list[str] = []
        blocked = None if version is None else _BLOCKED.get(who.org, version)
        if version is not None and blocked is None:
            # The list changed (or this node has not seen it): fetch it, compile below.
            row = await conn.fetchrow("SELECT version, blocked_words FROM chat_settings"
                                      " WHERE organization_id = app_org_id()")
            version, words = (None, []) if row is None else (row[0], row[1])
    if rules["prior_id"] is not None:
        return Stored(rules["prior_id"], rules["prior_status"], inserted=False)
    if rules["sanction"] is not None:
        until = rules["sanctioned_until"].isoformat(timespec="seconds")
        state = "banned" if rules["sanction"] == "ban" else "muted"
        raise ServiceError(ErrorCode.REFUSED, f"you are {state} until {until}")
    now = dt.datetime.now(dt.UTC)
    slow = rules["slow_mode"] or 0
    if slow and rules["last_at"] is not None:
        wait = slow - (now - rules["last_at"]).total_seconds()
        if wait > 0:
            raise ServiceError(ErrorCode.RATE_LIMITED,
                               f"slow mode: wait {wait:.0f} s before your next message")
    if rules["recent"] >= ctx.chat.user_burst:
        raise ServiceError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
    if blocked is None and version is not None:  # off the database connection
        blocked = await _BLOCKED.compile(who.org, version, words)
    if blocked is not None and blocked.matches(text):
        if rules["action"] == "hold":
            return "held"
        raise ServiceError(ErrorCode.REFUSED, "message contains a blocked word")
    return "visible"
