"""An org's blocked-word list: its limits, and one compiled matcher per list version.

Matching: a word is blocked where it appears as a whole word, in any case, i.e. where
``(?<!\\w)word(?!\\w)`` matches with IGNORECASE. All words are compiled into one regex
whose alternatives share prefixes (a trie), so a message is scanned once however long the
list is, instead of once per word.

Compiling costs milliseconds for a full list, so it happens once per list change per
node: ``MatcherCache`` keeps the matcher per org keyed by ``chat_settings.version``
(a new value on every change). The chat path reads that version in the query it already
makes for every message, so a change takes effect on every node with the next message.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

MAX_WORDS = 1000
MAX_WORD_CHARS = 64

COMPILES = Counter("livehub_blocked_words_compiles_total",
                   "Blocked-word lists compiled into a matcher (once per change per node)")


class ListTooBig(ValueError):
    """The list breaks a limit; the message is a short reason for the caller."""


def normalize(words: Sequence[str]) -> list[str]:
    """The list to store: stripped, lower case, no duplicates, sorted.

    Raises:
        ListTooBig: over MAX_WORDS entries, a word over MAX_WORD_CHARS characters, or a
            word with control characters.
    """
    if len(words) > MAX_WORDS:
        raise ListTooBig(f"at most {MAX_WORDS} blocked words")
    out = {w.strip().lower() for w in words} - {""}
    if any(len(w) > MAX_WORD_CHARS for w in out):
        raise ListTooBig(f"a blocked word may have at most {MAX_WORD_CHARS} characters")
    if any(unicodedata.category(c) == "Cc" for w in out for c in w):
        raise ListTooBig("blocked words may not contain control characters")
    return sorted(out)


def _trie_regex(words: Sequence[str]) -> str:
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


class Matcher:
    """Finds whether a text contains any of the words (whole word, any case)."""

    def __init__(self, words: Sequence[str]) -> None:
        words = [w for w in words if w]
        self.size = len(words)
        self._pattern = (re.compile(rf"(?<!\w)(?:{_trie_regex(words)})(?!\w)", re.IGNORECASE)
                         if words else None)

    def matches(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None


class MatcherCache:
    """One compiled Matcher per org and list version, for the orgs seen most recently.

    Compiling a full list takes up to ~0.1 s of CPU, so it runs in a worker thread (the
    event loop keeps serving meanwhile) and concurrent misses for one version share it.
    """

    def __init__(self, max_orgs: int = 4096) -> None:
        self._max_orgs = max_orgs
        self._by_org: OrderedDict[uuid.UUID, tuple[int, Matcher]] = OrderedDict()
        self._building: dict[tuple[uuid.UUID, int], asyncio.Future[Matcher]] = {}
        self.compiles = 0  # this cache's share of COMPILES

    def get(self, org: uuid.UUID, version: int) -> Matcher | None:
        """The cached matcher for this version, or None: fetch the list and compile() it."""
        hit = self._by_org.get(org)
        if hit is None or hit[0] != version:
            return None
        self._by_org.move_to_end(org)
        return hit[1]

    async def compile(self, org: uuid.UUID, version: int, words: Sequence[str]) -> Matcher:
        """This org's list at version as a Matcher, compiled unless already cached."""
        hit = self.get(org, version)
        if hit is not None:
            return hit
        key = (org, version)
        building = self._building.get(key)
        if building is not None:
            return await asyncio.shield(building)
        future: asyncio.Future[Matcher] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            matcher = await asyncio.to_thread(Matcher, list(words))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._building[key]
        COMPILES.inc()
        self.compiles += 1
        future.set_result(matcher)
        current = self._by_org.get(org)
        if current is None or current[0] <= version:  # versions only grow
            self._by_org[org] = (version, matcher)
            self._by_org.move_to_end(org)
        while len(self._by_org) > self._max_orgs:
            self._by_org.popitem(last=False)
        return matcher
