"""Per-message CPU of the blocked-word check: one regex per word vs the compiled matcher.

A benchmark, not a test: prints numbers and asserts nothing about time. In-process,
no network. With ``--dsn`` (an owner DSN of a migrated database) it also measures what
the rules query cost per message to fetch and decode the whole list (as before) versus
its version number only (as now).

    python -m loadtests.blocked_words_cpu [--words 1000] [--messages 300] [--dsn URL]

CPU time (``time.process_time``), not wall time, so a busy machine skews it little;
the figures also go to ``loadtests/results/blocked-words-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import string
import time
import uuid
from pathlib import Path

import asyncpg

from rooms.blocked_words import MAX_WORD_CHARS, Matcher

TEXT = ("hey everyone, this is a perfectly normal chat message about the show tonight and"
        " the set list, love it!!")


def per_word(text: str, words: list[str]) -> str | None:
    """The check as it was: one (cache-thrashing) re.search per word per message."""
    for word in words:
        if word and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE):
            return word
    return None


def cpu_ms(fn: object, n: int) -> float:
    assert callable(fn)
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1000


async def fetch_cost(dsn: str, words: list[str], n: int) -> tuple[float, float]:
    conn = await asyncpg.connect(dsn)
    org = uuid.uuid4()
    try:
        await conn.execute("INSERT INTO organizations (id, name, slug, product_context)"
                           " VALUES ($1, 'bench', $2, 'tipjar')", org, f"bench-{org.hex}")
        await conn.execute("INSERT INTO chat_settings (organization_id, blocked_words)"
                           " VALUES ($1, $2)", org, words)
        results = []
        for column in ("blocked_words", "version"):
            query = f"SELECT {column} FROM chat_settings WHERE organization_id = $1"
            start = time.process_time()
            for _ in range(n):
                await conn.fetchval(query, org)
            results.append((time.process_time() - start) / n * 1000)
        await conn.execute("DELETE FROM chat_settings WHERE organization_id = $1", org)
        await conn.execute("DELETE FROM organizations WHERE id = $1", org)
    finally:
        await conn.close()
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--dsn", help="owner DSN of a migrated database (optional)")
    args = parser.parse_args()
    rng = random.Random(1)
    # Not normalize(): lists stored before the cap may be longer than it allows.
    words = sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12)))
                    for _ in range(args.words)})
    start = time.process_time()
    matcher = Matcher(words)
    compile_ms = (time.process_time() - start) * 1000
    n = args.messages
    before = cpu_ms(lambda: per_word(TEXT, words), n)
    after = cpu_ms(lambda: matcher.matches(TEXT), n * 20)
    print(f"{len(words)} words, message of {len(TEXT)} chars, {n} messages")
    print(f"  before: one regex per word   {before:8.3f} ms CPU per message")
    print(f"  after:  compiled matcher     {after:8.3f} ms CPU per message (compile once per"
          f" change: {compile_ms:.1f} ms); {before / after:,.0f}x less")
    worst = [f"{i:04d}".ljust(MAX_WORD_CHARS, "q") for i in range(1000)]
    start = time.process_time()
    big = Matcher(worst)
    worst_compile = (time.process_time() - start) * 1000
    worst_match = cpu_ms(lambda: big.matches(TEXT + ' ' + worst[-1]), n * 20)
    print(f"  1000 x {MAX_WORD_CHARS}-char words: compile {worst_compile:.1f} ms, match"
          f" {worst_match:.3f} ms")
    figures = {"words": len(words), "messages": n, "before_ms": before, "after_ms": after,
               "ratio": before / after, "compile_ms": compile_ms,
               "worst_compile_ms": worst_compile, "worst_match_ms": worst_match}
    if args.dsn:
        whole, version = asyncio.run(fetch_cost(args.dsn, words, n))
        print(f"  rules query, client CPU: whole list {whole:.3f} ms, version only"
              f" {version:.3f} ms per message")
        figures.update(fetch_whole_ms=whole, fetch_version_ms=version)
    out = (Path(__file__).parent / "results"
           / f"blocked-words-{time.strftime('%Y%m%d-%H%M%S')}.json")
    out.write_text(json.dumps(figures, indent=2))
    print(f"wrote {out.name}")


if __name__ == "__main__":
    main()
