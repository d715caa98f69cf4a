"""Medians over rounds, ratios between kinds, and fixed-width tables of them."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any


def spread(rounds: Sequence[object], metrics: Sequence[str]) -> dict[str, Any]:
    """Median of each metric over the rounds, and ``min`` / ``max`` for whiskers."""
    return {
        "rounds": len(rounds),
        **{m: statistics.median(getattr(r, m) for r in rounds) for m in metrics},
        "min": {m: min(getattr(r, m) for r in rounds) for m in metrics},
        "max": {m: max(getattr(r, m) for r in rounds) for m in metrics},
    }


def ratios(num: Mapping[str, Any], den: Mapping[str, Any],
           metrics: Sequence[str]) -> dict[str, float | None]:
    """``num[m] / den[m]`` per metric; None where the denominator is 0."""
    return {m: num[m] / den[m] if den[m] else None for m in metrics}


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


class Table:
    """Right-aligned columns, printed row by row."""

    def __init__(self, cols: Sequence[str], widths: Sequence[int]) -> None:
        self.cols, self.widths = cols, widths

    def _line(self, values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) for v, w in zip(values, self.widths, strict=True))

    def header(self, title: str = "") -> None:
        line = self._line(self.cols)
        print("\n" + (title + "\n" if title else "") + line + "\n" + "-" * len(line))

    def row(self, *values: str) -> None:
        print(self._line(values))
