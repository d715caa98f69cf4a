"""What a paying fan may put on the broadcast: the same sanctions and blocked words as chat.

A tip's ``message`` and ``from_name`` go to the OBS overlay, so money must not buy a way
around moderation. A fan banned in the org cannot start a checkout (403). Text with a
blocked word (the org's list, matched as chat matches it, ``rooms.blocked_words``) is
refused (422) when the org rejects such chat; when the org holds such chat for review,
the payment goes ahead but both texts are dropped, so the alert shows "Someone" and no
message: a slur split between the name and the message must not survive either.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncpg.pool import PoolConnectionProxy
from litestar.exceptions import HTTPException

from rooms.blocked_words import MatcherCache
from rooms.principal import Principal
from rooms.sanctions import banned

BANNED = "you are banned from this organization's events, so you cannot pay here"

# Compiled lists per org and list version (shared by every checkout on this node).
_BLOCKED = MatcherCache()


@dataclass(frozen=True)
class Texts:
    message: str | None
    from_name: str | None


async def screen(conn: PoolConnectionProxy, who: Principal, texts: Texts) -> Texts:
    """The texts to store with the payment.

    Raises:
        HTTPException: 403 when the caller is banned; 422 when a text has a blocked
            word and the org rejects such text.
    """
    if await banned(conn, who.sub):
        raise HTTPException(BANNED, status_code=403)
    if not (texts.message or texts.from_name):
        return texts
    row = await conn.fetchrow("SELECT version, blocked_words, blocked_action FROM chat_settings"
                              " WHERE organization_id = app_org_id()")
    if row is None or not row["blocked_words"]:
        return texts
    matcher = (_BLOCKED.get(who.org, row["version"])
               or await _BLOCKED.compile(who.org, row["version"], row["blocked_words"]))
    bad = [name for name, text in (("message", texts.message),
                                   ("from_name", texts.from_name))
           if text and matcher.matches(text)]
    if not bad:
        return texts
    if row["blocked_action"] == "hold":
        return Texts(None, None)
    raise HTTPException(f"{' and '.join(bad)} contains a blocked word; change it and try again",
                        status_code=422)
