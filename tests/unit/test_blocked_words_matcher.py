"""The compiled blocked-word matcher: same semantics as one regex per word, capped lists."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import pytest

from rooms.blocked_words import (
    MAX_WORD_CHARS,
    MAX_WORDS,
    ListTooBig,
    Matcher,
    MatcherCache,
    normalize,
)


def reference(text: str, words: list[str]) -> bool:
    """The rule as first written: any word found as a whole word, any case."""
    return any(w and re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE)
               for w in words)


def test_matches_like_one_regex_per_word_on_random_lists_and_texts() -> None:
    """Prefixes of each other, punctuation, phrases, unicode: same answer as the reference."""
    rng = random.Random(7)
    alphabet = "abcé.*+?()[]$^\\|{} -_'ß"
    for _ in range(300):
        words = normalize(["".join(rng.choices(alphabet, k=rng.randint(1, 5)))
                           for _ in range(rng.randint(1, 12))])
        matcher = Matcher(words)
        for _ in range(20):
            text = "".join(rng.choices(alphabet + "ABCÉ", k=rng.randint(0, 30)))
            assert matcher.matches(text) == reference(text, words), (text, words)


def test_existing_expectations_hold() -> None:
    """Whole words only, any case, phrases and words that are prefixes of others."""
    m = Matcher(normalize(["Crypto", "free money", "cry", "<script>"]))
    assert m.matches("buy CRYPTO now") and m.matches("FREE money!") and m.matches("I cry")
    assert m.matches("x <SCRIPT> y") and m.matches("x <SCRIPT>alert(1)") == reference(
        "x <SCRIPT>alert(1)", ["<script>"])
    assert not m.matches("cryptography talk later?") and not m.matches("crypto_fan")
    assert not Matcher([]).matches("anything")


def test_list_limits() -> None:
    """Over 1000 words, a word over 64 characters, or control characters: refused."""
    full = [f"{n:04d}".ljust(MAX_WORD_CHARS, "x") for n in range(MAX_WORDS)]
    assert len(normalize(full)) == MAX_WORDS
    assert Matcher(normalize(full)).matches(f"say {full[500].upper()}!")
    for bad in ([*full, "one more"], ["y" * (MAX_WORD_CHARS + 1)], ["nul\x00word"],
                ["bell\x07"]):
        with pytest.raises(ListTooBig):
            normalize(bad)


async def test_cache_compiles_once_per_version() -> None:
    """Lookups hit; concurrent misses share one compile; orgs beyond the bound are dropped."""
    cache = MatcherCache(max_orgs=2)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert cache.get(a, 1) is None
    first, *rest = await asyncio.wait_for(
        asyncio.gather(*(cache.compile(a, 1, ["spam"]) for _ in range(5))), 10)
    assert all(m is first for m in rest) and cache.get(a, 1) is first
    assert await asyncio.wait_for(cache.compile(a, 1, ["spam"]), 10) is first
    assert cache.compiles == 1
    assert cache.get(a, 2) is None
    assert (await asyncio.wait_for(cache.compile(a, 2, ["eggs"]), 10)).matches("EGGS")
    assert cache.compiles == 2
    await asyncio.wait_for(cache.compile(b, 5, ["x"]), 10)
    await asyncio.wait_for(cache.compile(c, 9, ["y"]), 10)
    assert cache.get(a, 2) is None and cache.get(c, 9) is not None
