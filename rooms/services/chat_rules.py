"""The rules a fan's chat message must pass, with no query on the accepting path.

For everyone but staff (dj, moderator, admin), who are exempt from all of them:

1. A banned or muted user cannot post (``REFUSED``), effective on their very next
   message, on every node: the chat write itself skips an author with a sanction in
   force (``persistence.chat``), and ``refusal`` then names the sanction.
2. Slow mode: one message per ``slow_mode_seconds`` per user in the room (``RATE_LIMITED``).
3. Per-user rate limit: at most ``user_burst`` messages per 10 s per room
   (``RATE_LIMITED``), across all of the user's connections on this node.
4. Blocked words (whole words, any case): per org, either ``REFUSED`` or stored as
   ``held`` for a moderator to approve, as the org chooses. The list is compiled once per
   change per node (``rooms.blocked_words``).

Slow mode and the blocked-word list's version and action are cached per node
(``chat_rules_cache.RulesCache``) until a moderator changes them: the change is announced
on the broker, so every node applies it from its next message after the notice (a broker
hop, milliseconds). Users' recent message times live in memory (``RecentPosts``).

A retry (same author and ``client_msg_id``) of an accepted message gets the stored row
back and none of the rules apply: the write resolves it (ON CONFLICT), and a message
about to be refused is first looked up by its retry key, so a retry is never refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import weakref
from dataclasses import dataclass

import msgspec

from persistence.chat import Stored
from rooms.blocked_words import Matcher, MatcherCache
from rooms.codes import ErrorCode, ServiceError
from rooms.node import Node
from rooms.principal import Principal
from rooms.sanctions import IN_FORCE
from rooms.services.base import Conn, Context
from rooms.services.chat_rules_cache import NOTICES, Changed, RecentPosts, Rules, RulesCache

_RULES = """
SELECT
  (SELECT slow_mode_seconds FROM chat_room_settings
    WHERE organization_id = app_org_id() AND room = $1) AS slow_mode,
  (SELECT version FROM chat_settings WHERE organization_id = app_org_id()) AS words_version,
  (SELECT blocked_action FROM chat_settings WHERE organization_id = app_org_id()) AS action
"""
_WORDS = ("SELECT version, blocked_words FROM chat_settings"
          " WHERE organization_id = app_org_id()")
_PRIOR = """
SELECT id, status FROM chat_messages
WHERE organization_id = app_org_id() AND room = $1 AND coalesce(author, '') = $2
  AND client_msg_id = $3
"""
_SANCTION = (f"SELECT kind, until {IN_FORCE.format(sub='$1')}"
             " ORDER BY kind = 'ban' DESC, until DESC LIMIT 1")

log = logging.getLogger(__name__)

# Compiled blocked-word lists, per org and list version, shared by every call in this process.
_BLOCKED = MatcherCache()


@dataclass
class _NodeRules:
    cache: RulesCache
    recent: RecentPosts
    listening: bool = False


# One cache per node (tests run several nodes in one process), made on first use.
_BY_NODE: weakref.WeakKeyDictionary[Node, _NodeRules] = weakref.WeakKeyDictionary()


def _state(node: Node) -> _NodeRules:
    state = _BY_NODE.get(node)
    if state is None:
        state = _BY_NODE[node] = _NodeRules(RulesCache(), RecentPosts())
    return state


@dataclass(frozen=True, slots=True)
class Admitted:
    """A message that passed the rules: its status, and its place in the user's budget."""

    status: str  # "visible" or "held"
    key: tuple[uuid.UUID, str, str]  # org, room, sub
    at: float

    def refund(self, ctx: Context) -> None:
        """Give the budget back: the message was a retry, or was not stored."""
        _state(ctx.node).recent.refund(self.key, self.at)


async def admit(ctx: Context, who: Principal, room: str, text: str,
                client_msg_id: str) -> Admitted | Stored:
    """Admit a fan's message (visible or held), or return the stored row of a retry.

    Raises:
        ServiceError: REFUSED (blocked word) or RATE_LIMITED.
    """
    state = _state(ctx.node)
    rules = state.cache.get(who.org, room)
    blocked: Matcher | None = None
    if rules is None or (rules.words_version is not None
                         and _BLOCKED.get(who.org, rules.words_version) is None):
        if not state.listening:  # listen before reading, so no change slips between
            state.listening = True
            await ctx.node.listen(NOTICES, state.cache.on_notice)
        rules, blocked = await _load(ctx, who, room, state.cache)
    elif rules.words_version is not None:
        blocked = _BLOCKED.get(who.org, rules.words_version)
    key = (who.org, room, who.sub)
    taken = state.recent.take(key, burst=ctx.chat.user_burst, slow=rules.slow_mode)
    if isinstance(taken, tuple):
        reason, wait = taken
        message = (f"slow mode: wait {wait:.0f} s before your next message" if reason == "slow"
                   else "too many messages; slow down")
        return await _refuse(ctx, who, room, client_msg_id,
                             ServiceError(ErrorCode.RATE_LIMITED, message))
    status = "visible"
    if blocked is not None and blocked.matches(text):
        if rules.action != "hold":
            state.recent.refund(key, taken)
            return await _refuse(ctx, who, room, client_msg_id, ServiceError(
                ErrorCode.REFUSED, "message contains a blocked word"))
        status = "held"
    return Admitted(status, key, taken)


async def _load(ctx: Context, who: Principal, room: str,
                cache: RulesCache) -> tuple[Rules, Matcher | None]:
    epoch = cache.epoch(who.org)
    words: list[str] = []
    async with ctx.tx(who) as conn:
        row = await conn.fetchrow(_RULES, room)
        assert row is not None
        rules = Rules(row["slow_mode"] or 0, row["words_version"], row["action"] or "reject")
        version = rules.words_version
        if version is not None and _BLOCKED.get(who.org, version) is None:
            listed = await conn.fetchrow(_WORDS)
            version, words = (None, []) if listed is None else (listed[0], listed[1])
    cache.put(who.org, room, rules, epoch)
    if version is None:
        return rules, None
    return rules, await _BLOCKED.compile(who.org, version, words)  # off the connection


async def _prior(conn: Conn, who: Principal, room: str, client_msg_id: str) -> Stored | None:
    row = await conn.fetchrow(_PRIOR, room, who.sub, client_msg_id)
    return None if row is None else Stored(row["id"], row["status"], inserted=False)


async def _refuse(ctx: Context, who: Principal, room: str, client_msg_id: str,
                  error: ServiceError) -> Stored:
    """The stored row if this is a retry of an accepted message; else raise ``error``."""
    async with ctx.tx(who) as conn:
        prior = await _prior(conn, who, room, client_msg_id)
    if prior is None:
        raise error
    return prior


async def refusal(ctx: Context, who: Principal, room: str, client_msg_id: str) -> Stored:
    """After the write skipped a sanctioned author: the row of a retry, or raise REFUSED."""
    async with ctx.tx(who) as conn:
        prior = await _prior(conn, who, room, client_msg_id)
        row = None if prior is not None else await conn.fetchrow(_SANCTION, who.sub)
    if prior is not None:
        return prior
    if row is None:  # the sanction ended between the write and this read
        raise ServiceError(ErrorCode.REFUSED, "you may not post right now; try again")
    until: dt.datetime = row["until"]
    state = "banned" if row["kind"] == "ban" else "muted"
    raise ServiceError(ErrorCode.REFUSED,
                       f"you are {state} until {until.isoformat(timespec='seconds')}")


async def changed(ctx: Context, org: uuid.UUID, room: str | None = None) -> None:
    """After a commit that changed slow mode (room) or blocked words (org): tell every node.

    This node forgets at once; the others when the broker's notice reaches them
    (milliseconds later).
    """
    change = Changed(org, room)
    _state(ctx.node).cache.forget(change)
    try:
        await ctx.node.broker.publish(NOTICES, msgspec.json.encode(change), history=False)
    except Exception:  # the others' entries expire within RulesCache's ttl
        log.exception("could not announce a chat rules change in org %s", org)
