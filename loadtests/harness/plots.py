"""Bar charts of medians over rounds, with min..max whiskers, written as PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only backend (imported late: it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def median_bars(ax: Any, xs: Sequence[float], entries: Sequence[Mapping[str, Any]],
                metric: str, *, width: float, color: str | Sequence[str] | None = None,
                name: str | None = None, scale: float = 1.0, capsize: int = 3,
                fontsize: int = 7) -> float:
    """One bar per entry (a ``stats.spread`` summary) at its median, whiskers to its min and
    max, the value written on top. Returns the highest whisker."""
    ys = [e[metric] * scale for e in entries]
    lo = [(e[metric] - e["min"][metric]) * scale for e in entries]
    hi = [(e["max"][metric] - e[metric]) * scale for e in entries]
    ax.bar(xs, ys, width, yerr=[lo, hi], capsize=capsize, label=name, color=color)
    for x, y in zip(xs, ys, strict=True):
        ax.annotate(label(y), (x, y), ha="center", va="bottom", fontsize=fontsize,
                    xytext=(0, 2), textcoords="offset points")
    return max((y + h for y, h in zip(ys, hi, strict=True)), default=0.0)


def loss_axis(ax: Any) -> None:
    """Loss is mostly 0: keep a visible 0..1 % scale unless there is more."""
    ax.set_ylim(0, max([1.0, *(h.get_height() * 1.2 for h in ax.patches)]))


def save(fig: Any, path: Path, title: str) -> None:
    plt = pyplot()
    fig.suptitle(title + "\nmedian of rounds; whiskers = min..max", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
