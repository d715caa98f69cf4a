"""``make load``'s tool, small: locust in its own process against a real hub, Redis and
Postgres, started and seeded by ``python -m loadtests.load``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_locust_holds_connections_measures_delivery_and_sees_no_error(
        tmp_path: Path, server_dsn: str, redis_url: str) -> None:
    """20 users for 10 s at 5x pace: every connection held, timed deliveries, no error."""
    out = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "loadtests.load", "--users", "20", "--duration", "10s",
         "--pace", "5", "--database-url", server_dsn, "--redis-url", redis_url,
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=150)
    said = f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    docs = list(out.glob("locust-*.json"))
    assert len(docs) == 1, said
    doc = json.loads(docs[0].read_text())
    s = doc["summary"]
    assert s["hold_seconds"] >= 10, said
    assert s["connections_at_hold_start"] == s["connections_min_in_hold"] == 20, said
    assert s["connect_failures"] == 0, said
    assert s["deliveries_in_hold"] > 0 and s["latency_ms"]["count"] > 0, said
    assert 0 <= s["latency_ms"]["p50"] <= s["latency_ms"]["p99"] < 5000, said
    assert "announce" in s["latency_by_kind_ms"], said  # the DJ's, every 2 s at this pace
    probe = s["probe_latency_ms"]  # the asyncio listener beside locust heard the same room
    assert probe["listeners"] == 1 and probe["count"] > 0, said
    assert 0 <= probe["p50_ms"] <= probe["p99_ms"] < 5000, said
    assert s["errors_by_code"].keys() <= {"4412"} and s["locust_failures"] == {}, said
    assert s["hub_rss_per_connection"] and s["hub_rss_per_connection"] > 0, said
    assert doc["calls"]["WS subscribe"]["count"] >= 20, said
    assert doc["timeline"] and run.returncode == 0, said
    assert (out / f"{doc['run']}.png").stat().st_size > 0
    assert (out / f"{doc['run']}_stats.csv").read_text().count("deliver ") >= 1
