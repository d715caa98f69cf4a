"""Interleaved rounds (every kind once per round, in turn, so drift hits all kinds alike),
and the options that size them."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

C = TypeVar("C")
K = TypeVar("K")
S = TypeVar("S")
R = TypeVar("R")


def interleave(configs: Sequence[C], rounds: int, kinds: Sequence[K]) -> list[tuple[C, int, K]]:
    """Per configuration: round 1 of each kind, then round 2 of each kind, ..."""
    return [(c, rnd, k) for c in configs for rnd in range(1, rounds + 1) for k in kinds]


async def run_rounds(plan: Sequence[S], run: Callable[[S], Awaitable[R]],
                     failed: Callable[[S, str], R], head: Callable[[S], str],
                     line: Callable[[R], str]) -> list[R]:
    """Run the plan in order, one progress line per round. A round that raises is
    recorded with ``failed(step, error)`` and the run goes on."""
    results: list[R] = []
    for i, step in enumerate(plan, 1):
        prefix = f"[{i:>2}/{len(plan)}] {head(step)}"
        try:
            res = await run(step)
        except Exception as exc:  # one failed round is reported, not fatal
            error = f"{type(exc).__name__}: {exc}"[:2000]
            lines = error.strip().splitlines()
            print(f"{prefix}  FAILED {lines[0]}" + (f" ... {lines[-1]}" if len(lines) > 1 else ""),
                  flush=True)
            results.append(failed(step, error))
            continue
        results.append(res)
        print(f"{prefix}  {line(res)}", flush=True)
    return results


def warn_noise(other_use: Sequence[float], threshold: float) -> None:
    """Warn when other work on the machine took more than ``threshold`` of a core in a round."""
    noisy = [x for x in other_use if x > threshold]
    if noisy:
        print(f"WARNING: {len(noisy)} round(s) shared the machine with other work "
              f"(other core use > {threshold:.0%}, max {max(noisy):.0%}); "
              "rerun on a quiet machine.")


def add_round_arguments(parser: argparse.ArgumentParser, *, measured: str, rounds_of: str,
                        quick: str) -> None:
    """``--duration``, ``--rounds`` and ``--quick``; ``round_defaults`` fills them in."""
    parser.add_argument("--duration", type=float, default=None,
                        help=f"{measured} seconds per round (default 10; quick: 3)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"rounds {rounds_of} (default 3; quick: 1)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {quick}")


def round_defaults(args: argparse.Namespace) -> None:
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
