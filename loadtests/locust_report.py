"""The master's side of a locust run against the hub: the hold, progress, JSON and PNG.

Workers add their ``TALLY`` (``loadtests.locust_ws``) to every stats report; the master
sums the latest one of each worker. Once every user is spawned and the connections are
up (or a minute has passed), the master holds for the plan's ``duration`` and quits:
the run stops by itself. Every ``TICK`` seconds it prints one progress line and records
a point of the timeline: connections, deliveries/s, delivery latency p50/p99 over the
last tick (from locust's ``WSR deliver *`` entries), errors, and the hub's RSS (psutil,
when the plan names the hub's pid). At the end it writes ``<out>/<name>.json`` and
``.png``; locust itself writes the ``--csv`` files beside them.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import calculate_response_time_percentile

from loadtests.locust_ws import TALLY

TICK = 3.0  # workers report every 3 s
CONNECT_GRACE = 60.0  # longest wait for every connection before the hold starts anyway
EXPECTED = {"4412"}  # a DJ's stale version: the hub's designed answer, retried at once
# A fan's vote on a request the DJ declined a moment earlier (the fan's copy of the queue
# was one broadcast behind): the hub's designed refusal of that race, as in a browser.
EXPECTED_RACES = {("requests.vote", "4422")}


def install(env: Environment, plan: dict[str, Any]) -> None:
    if isinstance(env.runner, WorkerRunner):
        def _report(client_id: str, data: dict[str, Any]) -> None:
            data["livehub"] = TALLY.snapshot()
        env.events.report_to_master.add_listener(_report)
        return
    board = Board(env, plan)

    def _worker(client_id: str, data: dict[str, Any]) -> None:
        if "livehub" in data:
            board.workers[client_id] = data["livehub"]
    env.events.worker_report.add_listener(_worker)

    def _start(**_: Any) -> None:
        board.start()
    env.events.test_start.add_listener(_start)

    def _spawned(user_count: int) -> None:
        if board.hold is None:
            board.hold = gevent.spawn(board.hold_then_quit)
    env.events.spawning_complete.add_listener(_spawned)

    def _quitting(**_: Any) -> None:
        board.finish()
    env.events.quitting.add_listener(_quitting)


def _percentile(times: Counter[int], q: float) -> float | None:
    n = sum(times.values())
    return float(calculate_response_time_percentile(times, n, q)) if n else None


class Board:
    """Sums, timeline and results, on the master (or the only process)."""

    def __init__(self, env: Environment, plan: dict[str, Any]) -> None:
        self.env, self.plan = env, plan
        self.workers: dict[str, dict[str, Any]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.hold: gevent.Greenlet | None = None
        self.window: dict[str, Any] = {}
        self.done = False
        self.printed = 0.0  # when the last progress line was printed (plan's print_every)
        self.hub: psutil.Process | None = None
        with contextlib.suppress(psutil.Error, TypeError, ValueError):
            if plan.get("hub_pid"):
                self.hub = psutil.Process(int(plan["hub_pid"]))

    # -- sums ------------------------------------------------------------------------------

    def tally(self) -> dict[str, Any]:
        parts = (list(self.workers.values()) if isinstance(self.env.runner, MasterRunner)
                 else [TALLY.snapshot()])
        out: dict[str, Any] = {"open": 0, "opened": 0, "connect_failed": 0, "deliveries": 0,
                               "by_kind": Counter(), "errors": Counter()}
        for p in parts:
            for k in ("open", "opened", "connect_failed", "deliveries"):
                out[k] += int(p.get(k, 0))
            out["by_kind"].update(p.get("by_kind", {}))
            out["errors"].update(p.get("errors", {}))
        return out

    def delivery_times(self) -> tuple[Counter[int], dict[str, Counter[int]]]:
        """Locust's response-time buckets (ms) of every ``deliver *`` entry: all, and by kind."""
        total: Counter[int] = Counter()
        kinds: dict[str, Counter[int]] = {}
        for (name, method), entry in self.env.stats.entries.items():
            if method == "WSR":
                kinds[name] = Counter(entry.response_times)
                total.update(entry.response_times)
        return total, kinds

    def rss(self) -> int | None:
        with contextlib.suppress(psutil.Error, AttributeError):
            return int(self.hub.memory_info().rss) if self.hub else None
        return None

    def cpu_s(self) -> float | None:
        with contextlib.suppress(psutil.Error, AttributeError):
            if self.hub:
                t = self.hub.cpu_times()
                return float(t.user + t.system)
        return None

    def locust_cpu(self) -> float | None:
        """Sum of the workers' CPU %, as they report it to the master."""
        runner = self.env.runner
        if isinstance(runner, MasterRunner):
            return float(sum(w.cpu_usage for w in runner.clients.values()))
        return None

    def mark(self) -> dict[str, Any]:
        """Everything the window between two marks is computed from."""
        total, kinds = self.delivery_times()
        return {"t": time.monotonic() - self.t0, "tally": self.tally(), "times": total,
                "kinds": kinds, "rss": self.rss(), "hub_cpu_s": self.cpu_s(),
                "calls": {f"{m} {n}": (e.num_requests, e.num_failures)
                          for (n, m), e in self.env.stats.entries.items()}}

    # -- the run --------------------------------------------------------------------------

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.last = self.mark()
        gevent.spawn(self._ticks)

    def _ticks(self) -> None:
        while not self.done:
            gevent.sleep(TICK)
            if self.done:
                return
            now = self.mark()
            point = self._point(self.last, now)
            self.timeline.append(point)
            self.last = now
            every = float(self.plan.get("print_every") or 0)
            if not every or now["t"] - self.printed >= every - TICK / 2:
                self.printed = now["t"]
                print(self._line(point), flush=True)

    def _point(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        dt = max(b["t"] - a["t"], 1e-9)
        win = b["times"] - a["times"]
        conns = b["tally"]["open"]
        rss, before = b["rss"], self.plan.get("hub_rss_before")
        return {
            "t": round(b["t"], 1), "users": self.env.runner.user_count if self.env.runner else 0,
            "connections": conns,
            "deliveries_per_s": round(
                (b["tally"]["deliveries"] - a["tally"]["deliveries"]) / dt, 1),
            "p50_ms": _percentile(win, 0.5), "p99_ms": _percentile(win, 0.99),
            "errors": sum(b["tally"]["errors"].values()),
            "hub_rss": rss,
            "hub_cpu_pct": round(100 * (b["hub_cpu_s"] - a["hub_cpu_s"]) / dt)
            if b["hub_cpu_s"] is not None and a["hub_cpu_s"] is not None else None,
            "locust_cpu_pct": self.locust_cpu(),
            "hub_rss_per_conn": (rss - before) / conns if rss and before and conns else None,
            "holding": "start" in self.window and "end" not in self.window,
        }

    def _line(self, p: dict[str, Any]) -> str:
        lat = (f"p50 {p['p50_ms']:.0f} ms p99 {p['p99_ms']:.0f} ms"
               if p["p50_ms"] is not None else "p50 - p99 -")
        rss = (f"  hub {p['hub_rss'] / 1e6:.0f} MB" if p["hub_rss"] else "") + (
            f" ({p['hub_rss_per_conn'] / 1024:.1f} KiB/conn)" if p["hub_rss_per_conn"] else "")
        phase = "hold" if p["holding"] else ("ramp" if "start" not in self.window else "stop")
        cpu = (f"  cpu hub {p['hub_cpu_pct']}%" if p["hub_cpu_pct"] is not None else "") + (
            f" locust {p['locust_cpu_pct']:.0f}%" if p["locust_cpu_pct"] is not None else "")
        return (f"[{p['t']:5.0f}s {phase}] users {p['users']:5d}  connections "
                f"{p['connections']:5d}  deliveries {p['deliveries_per_s']:7.0f}/s  {lat}"
                f"  errors {p['errors']}{rss}{cpu}")

    def hold_then_quit(self) -> None:
        """Wait for every connection (a minute at most), hold ``duration`` s, quit."""
        target = int(self.plan["users"])
        deadline = time.monotonic() + CONNECT_GRACE
        while self.tally()["open"] < target and time.monotonic() < deadline:
            gevent.sleep(0.5)
        self.window["start"] = self.mark()
        if self.plan.get("hold_file"):  # the soak's sampler times its samples from here
            Path(self.plan["hold_file"]).write_text(repr(time.time()))
        print(f"holding {self.window['start']['tally']['open']} connections for "
              f"{self.plan['duration']:.0f} s", flush=True)
        lows = []
        end = time.monotonic() + float(self.plan["duration"])
        while time.monotonic() < end:
            gevent.sleep(min(1.0, max(end - time.monotonic(), 0)))
            lows.append(self.tally()["open"])
        self.window["end"] = self.mark()
        self.window["min_open"] = min(lows) if lows else self.window["end"]["tally"]["open"]
        if self.env.runner is not None:
            self.env.runner.quit()

    # -- results --------------------------------------------------------------------------

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        end = self.window.get("end") or self.mark()
        start = self.window.get("start") or self.last
        doc = self.results(start, end)
        out = Path(self.plan["out"])
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.plan['name']}.json"
        path.write_text(json.dumps(doc, indent=1))
        with contextlib.suppress(Exception):
            self.plot(out / f"{self.plan['name']}.png")
        print(f"results: {path}", flush=True)

    def results(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        span = max(b["t"] - a["t"], 1e-9)
        win = b["times"] - a["times"]
        tally = b["tally"]
        errors = dict(sorted(tally["errors"].items()))
        conns_at_end = tally["open"]
        rss, before = b["rss"], self.plan.get("hub_rss_before")
        kinds = {}
        for name, times in b["kinds"].items():
            w = times - a["kinds"].get(name, Counter())
            kinds[name.removeprefix("deliver ")] = {
                "count": sum(w.values()), "p50_ms": _percentile(w, 0.5),
                "p99_ms": _percentile(w, 0.99), "max_ms": max(w) if w else None}
        calls = {}
        for (name, method), e in sorted(self.env.stats.entries.items()):
            if method == "WSR":
                continue
            n0, f0 = a["calls"].get(f"{method} {name}", (0, 0))
            calls[f"{method} {name}"] = {
                "count": e.num_requests, "failures": e.num_failures,
                "count_in_hold": e.num_requests - n0, "failures_in_hold": e.num_failures - f0,
                "per_s_in_hold": round((e.num_requests - n0) / span, 2),
                "p50_ms": e.get_response_time_percentile(0.5),
                "p99_ms": e.get_response_time_percentile(0.99)}
        return {
            "bench": "locust", "run": self.plan["name"], "settings": self.plan["settings"],
            "summary": {
                "users": int(self.plan["users"]),
                "hold_seconds": round(span, 1),
                "connections_at_hold_start": a["tally"]["open"],
                "connections_min_in_hold": self.window.get("min_open", conns_at_end),
                "connections_at_end": conns_at_end,
                "connections_opened": tally["opened"],
                "connect_failures": tally["connect_failed"],
                "deliveries_in_hold": tally["deliveries"] - a["tally"]["deliveries"],
                "deliveries_per_s": round((tally["deliveries"] - a["tally"]["deliveries"]) / span,
                                          1),
                "delivered_by_kind": dict(sorted(tally["by_kind"].items())),
                "latency_ms": {"count": sum(win.values()), "p50": _percentile(win, 0.5),
                               "p99": _percentile(win, 0.99), "max": max(win) if win else None},
                "latency_by_kind_ms": kinds,
                "chats_per_s": calls.get("WS chat", {}).get("per_s_in_hold", 0.0),
                "errors_by_code": errors,
                "unexpected_errors": sum(v for k, v in errors.items() if k not in EXPECTED)
                - sum(e.occurrences for e in self.env.stats.errors.values()
                      if any(e.name == name and f"'{code} " in str(e.error)
                             for name, code in EXPECTED_RACES)),
                "locust_failures": {f"{e.method} {e.name}: {e.error}": e.occurrences
                                    for e in self.env.stats.errors.values()},
                "hub_rss_before": before, "hub_rss_at_end": rss,
                "hub_rss_per_connection": round((rss - before) / conns_at_end)
                if rss and before and conns_at_end else None,
            },
            "calls": calls,
            "timeline": self.timeline,
        }

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        tl = self.timeline
        t = [p["t"] for p in tl]
        fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
        axes[0].plot(t, [p["connections"] for p in tl])
        axes[0].set_ylabel("connections")
        axes[1].plot(t, [p["deliveries_per_s"] for p in tl])
        axes[1].set_ylabel("deliveries/s")
        for q in ("p50_ms", "p99_ms"):
            axes[2].plot(t, [p[q] if p[q] is not None else float("nan") for p in tl],
                         label=q.removesuffix("_ms"))
        axes[2].set_ylabel("delivery latency (ms)")
        axes[2].set_xlabel("seconds since start")
        axes[2].legend()
        if "start" in self.window:
            for ax in axes:
                ax.axvspan(self.window["start"]["t"],
                           self.window.get("end", self.window["start"])["t"], alpha=0.1)
        fig.suptitle(f"{self.plan['name']}: {self.plan['users']} users (shaded: the hold)")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

