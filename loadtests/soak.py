"""``make soak``: what a long locust run (``loadtests.load --soak``) samples, and its verdict.

Every ``--sample-every`` seconds (10) the sampler reads, from the processes themselves:
the hub's RSS (psutil) and open file descriptors (``/proc/<pid>/fd``), Redis's
``used_memory`` (``INFO memory``), the Postgres backends on the run's database
(``pg_stat_activity``), and the hub's ``/metrics``: ``hub_connections`` (connections
held) and ``hub_messages_out_total`` (deliveries; per second over the sample's interval).

The verdict compares, per series, the median of the hold's last sixth (minutes 25-30 of
a 30-minute hold) to the median of its second sixth (minutes 5-10, after warm-up). A
resource series is flat when it grew by at most its tolerance (shrinking is fine); a
traffic series (connections, deliveries/s) when it moved by at most its tolerance
either way, since a drop is the symptom there. See ``RULES`` and loadtests/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from loadtests.harness import gc_metrics, procs, redis_keys

MIB = 1 << 20


@dataclass(frozen=True)
class Rule:
    """Flat when ``late - early`` stays within ``max(rel * early, floor)``."""

    label: str
    unit: str
    rel: float
    floor: float
    both_ways: bool  # traffic: a drop counts too; resources: only growth does

    def tolerance(self, early: float) -> float:
        return max(self.rel * abs(early), self.floor)

    def shown(self, value: float) -> str:
        """``value`` in this series' unit, bytes as MiB."""
        if self.unit == "bytes":
            return f"{value / MIB:,.2f} MiB"
        return f"{value:,.1f} {self.unit}".replace(".0 ", " ")

    def describe(self) -> str:
        bound = f"{self.rel:.0%} or {self.shown(self.floor)}" if self.rel else self.shown(
            self.floor)
        return ("within ±" if self.both_ways else "growth ≤ ") + bound


# The floors keep a small series' noise (a few fds, one pooled connection, Redis's
# allocator rounding) from reading as a leak; a leak over 20 minutes clears them.
RULES: dict[str, Rule] = {
    "hub_rss_bytes": Rule("hub RSS", "bytes", 0.10, 4 * MIB, both_ways=False),
    "hub_fds": Rule("hub open fds", "fds", 0.01, 5, both_ways=False),
    "redis_used_memory_bytes": Rule("Redis used_memory", "bytes", 0.10, 1 * MIB,
                                    both_ways=False),
    "pg_connections": Rule("Postgres connections", "connections", 0.0, 2, both_ways=False),
    "connections": Rule("connections held", "connections", 0.01, 2, both_ways=True),
    "deliveries_per_s": Rule("deliveries/s", "/s", 0.15, 5, both_ways=True),
}


def windows(hold_s: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(early, late) as seconds into the hold: its second sixth and its last sixth."""
    sixth = hold_s / 6
    return (sixth, 2 * sixth), (hold_s - sixth, hold_s)


def verdict(samples: list[dict[str, Any]], hold_s: float) -> dict[str, Any]:
    """Per series: the two medians, the change, the tolerance and ``flat``; plus ``flat``
    for all of them. A series with no sample in a window is not flat (``flat: None``)."""
    (e0, e1), (l0, l1) = windows(hold_s)
    held = [s for s in samples if s.get("hold_t") is not None]
    out: dict[str, Any] = {"early_window_s": [round(e0, 1), round(e1, 1)],
                           "late_window_s": [round(l0, 1), round(l1, 1)], "series": {}}
    for key, rule in RULES.items():
        early = [s[key] for s in held if e0 <= s["hold_t"] < e1 and s[key] is not None]
        late = [s[key] for s in held if l0 <= s["hold_t"] <= l1 and s[key] is not None]
        entry: dict[str, Any] = {"label": rule.label, "rule": rule.describe(),
                                 "early_samples": len(early), "late_samples": len(late)}
        if early and late:
            a, b = statistics.median(early), statistics.median(late)
            change, tol = b - a, rule.tolerance(a)
            flat = abs(change) <= tol if rule.both_ways else change <= tol
            entry |= {"early_median": a, "late_median": b, "change": change,
                      "change_pct": round(100 * change / a, 2) if a else None,
                      "tolerance": tol, "flat": flat}
        else:
            entry["flat"] = None
        out["series"][key] = entry
    out["flat"] = all(e["flat"] is True for e in out["series"].values())
    return out


# -- reading the processes ----------------------------------------------------------------


async def own_redis(log: Path) -> tuple[procs.ServerProcess, str]:
    """A redis-server of the soak's own on a free port, no persistence: its
    ``used_memory`` is then this hub's alone, not other users' of a shared server."""
    port = procs.free_port()
    server = procs.ServerProcess(
        "redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", str(log.parent)],
        port=port, env=os.environ, log=log, core=None)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while True:
        try:
            await redis_keys.ping(url)
            return server, url
        except Exception:
            if server.proc.poll() is not None or time.monotonic() > deadline:
                await server.stop()
                raise RuntimeError(f"redis-server did not start:\n{server.tail()}") from None
            await asyncio.sleep(0.1)




def fds(pid: int) -> int:
    """Open file descriptors of ``pid``, counted in ``/proc/<pid>/fd``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def hub_counters(text: str) -> tuple[float, float]:
    """(``hub_connections``, ``hub_messages_out_total``) from ``/metrics``."""
    conns = out = float("nan")
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "hub_connections":
                conns = s.value
            elif s.name == "hub_messages_out_total":
                out = s.value
    return conns, out


class Sampler:
    """Reads every series of one hub, its Redis and its database, ``every`` seconds."""

    def __init__(self, *, pid: int, port: int, redis_url: str, pg_dsn: str, database: str,
                 every: float, hold_file: Path) -> None:
        self.pid, self.port, self.every = pid, port, every
        self.redis_url, self.pg_dsn, self.database = redis_url, pg_dsn, database
        self.hold_file = hold_file
        self.samples: list[dict[str, Any]] = []
        self.hold_start: float | None = None  # wall clock, written by the locust master
        self.t0 = time.monotonic()
        self._prev: tuple[float, float] | None = None  # (monotonic, messages out)

    async def run(self) -> None:
        """Sample until cancelled; a failed read is a missing value, not the end."""
        proc = psutil.Process(self.pid)
        redis = aioredis.Redis.from_url(self.redis_url) if self.redis_url else None
        pg = None
        try:
            if self.pg_dsn:
                pg = await asyncio.wait_for(asyncpg.connect(self.pg_dsn), 10)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            # The series stays empty, so the verdict says so; the run goes on.
            print(f"soak: no Postgres connection for sampling: {exc!r}", flush=True)
        try:
            next_at = time.monotonic()
            while True:
                sample = await self.read(proc, redis, pg)
                self.samples.append(sample)
                print(line(sample), flush=True)
                next_at += self.every
                await asyncio.sleep(max(next_at - time.monotonic(), 0.0))
        finally:
            if redis is not None:
                await redis.aclose()
            if pg is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pg.close(), 5)

    async def read(self, proc: psutil.Process, redis: aioredis.Redis | None,
                   pg: asyncpg.Connection | None) -> dict[str, Any]:
        now = time.monotonic()
        if self.hold_start is None:
            with contextlib.suppress(OSError, ValueError):
                self.hold_start = float(self.hold_file.read_text())
        s: dict[str, Any] = {"t": round(now - self.t0, 1),
                             "hold_t": round(time.time() - self.hold_start, 1)
                             if self.hold_start is not None else None,
                             **{key: None for key in RULES}}
        with contextlib.suppress(psutil.Error):
            s["hub_rss_bytes"] = int(proc.memory_info().rss)
        with contextlib.suppress(OSError):
            s["hub_fds"] = fds(self.pid)
        if redis is not None:
            with contextlib.suppress(Exception):
                info = await asyncio.wait_for(redis.info("memory"), 5)
                s["redis_used_memory_bytes"] = int(info["used_memory"])
        if pg is not None:
            with contextlib.suppress(Exception):
                s["pg_connections"] = int(await pg.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.database, timeout=5))
        with contextlib.suppress(Exception):
            conns, out = hub_counters(await gc_metrics.http_get(self.port, "/metrics"))
            s["connections"] = int(conns)
            if self._prev is not None:
                s["deliveries_per_s"] = round((out - self._prev[1]) / (now - self._prev[0]), 1)
            self._prev = (now, out)
        return s


def line(s: dict[str, Any]) -> str:
    def f(key: str, fmt: str, scale: float = 1.0) -> str:
        v = s.get(key)
        return "-" if v is None else format(v / scale if scale != 1 else v, fmt)

    phase = f"hold {s['hold_t']:5.0f}s" if s["hold_t"] is not None else "ramp      "
    return (f"soak [{s['t']:5.0f}s {phase}] hub rss {f('hub_rss_bytes', '.1f', MIB)} MiB"
            f"  fds {f('hub_fds', 'd')}  redis {f('redis_used_memory_bytes', '.2f', MIB)} MiB"
            f"  pg conns {f('pg_connections', 'd')}  connections {f('connections', 'd')}"
            f"  deliveries {f('deliveries_per_s', '.0f')}/s")


# -- the record ---------------------------------------------------------------------------


def write_csv(path: Path, samples: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["t", "hold_t", *RULES])
        w.writeheader()
        w.writerows(samples)


def verdict_lines(v: dict[str, Any]) -> list[str]:
    out = [f"verdict: {'FLAT' if v['flat'] else 'NOT FLAT'} (late median, hold"
           f" {v['late_window_s'][0]:.0f}-{v['late_window_s'][1]:.0f} s, against early,"
           f" {v['early_window_s'][0]:.0f}-{v['early_window_s'][1]:.0f} s)"]
    for key, e in v["series"].items():
        rule = RULES[key]
        if e["flat"] is None:
            out.append(f"  {e['label']:22s} no samples in a window"
                       f" ({e['early_samples']} early, {e['late_samples']} late): not flat")
            continue
        pct = f" ({e['change_pct']:+.1f}%)" if e["change_pct"] is not None else ""
        out.append(f"  {e['label']:21s} {rule.shown(e['early_median']):>16s} ->"
                   f" {rule.shown(e['late_median']):>16s}{pct:>10s}  [{e['rule']}]"
                   f"  {'flat' if e['flat'] else 'NOT FLAT'}")
    return out


def plot(path: Path, samples: list[dict[str, Any]], v: dict[str, Any], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = v["late_window_s"][1]  # after it, locust is stopping its users
    held = [s for s in samples if s["hold_t"] is not None and s["hold_t"] <= end]
    t = [s["hold_t"] / 60 for s in held]
    fig, axes = plt.subplots(3, 2, figsize=(11, 8), sharex=True)
    scale = {"hub_rss_bytes": MIB, "redis_used_memory_bytes": MIB}
    for ax, (key, rule) in zip(axes.flat, RULES.items(), strict=True):
        div = scale.get(key, 1)
        ax.plot(t, [s[key] / div if s[key] is not None else float("nan") for s in held],
                lw=1)
        e = v["series"][key]
        ax.set_title(f"{rule.label}: {'flat' if e['flat'] else 'NOT FLAT'}", fontsize=10)
        ax.set_ylabel("MiB" if key in scale else rule.unit)
        for (lo, hi), med in ((v["early_window_s"], e.get("early_median")),
                              (v["late_window_s"], e.get("late_median"))):
            ax.axvspan(lo / 60, hi / 60, alpha=0.12)
            if med is not None:
                ax.hlines(med / div, lo / 60, hi / 60, colors="k", lw=1.5)
        values = [s[key] / div for s in held if s[key] is not None]
        ax.set_ylim(0, max(values, default=1) * 1.15 or 1)  # the line clear of the top
    for ax in axes[-1]:
        ax.set_xlabel("minutes into the hold")
    fig.suptitle(f"{title} (shaded: the compared windows; black: their medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
