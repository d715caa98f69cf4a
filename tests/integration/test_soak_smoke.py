"""``make soak``'s machinery, short: ``python -m loadtests.load --soak`` against a real hub,
its own redis-server and a fresh database, sampling every second for a 20 s hold."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

from loadtests.soak import RULES
from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
USERS = 20


def test_soak_samples_every_series_from_the_processes_and_gives_a_verdict(
        tmp_path: Path, server_dsn: str) -> None:
    """20 users for 20 s: samples with every series read, a verdict per series, JSON+CSV+PNG."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server")  # the soak runs a Redis of its own
    out = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "loadtests.load", "--soak", "--users", str(USERS),
         "--duration", "20s", "--pace", "5", "--sample-every", "1",
         "--database-url", server_dsn, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=170)
    said = f"exit {run.returncode}\n{run.stdout[-4000:]}\n{run.stderr[-3000:]}"
    docs = [p for p in out.glob("soak-*.json") if not p.name.endswith("-locust.json")]
    assert len(docs) == 1, said
    doc = json.loads(docs[0].read_text())
    assert doc["locust_summary"]["connections_min_in_hold"] == USERS, said

    held = [s for s in doc["samples"] if s["hold_t"] is not None and s["hold_t"] <= 20]
    assert len(held) >= 12, said  # one a second, on a loaded machine
    for s in held:
        for key in RULES:
            if key == "deliveries_per_s" and s is doc["samples"][0]:
                continue  # a rate needs a previous reading
            assert isinstance(s[key], int | float) and math.isfinite(s[key]), (key, s, said)
        # What only the live processes could say: the hub holds the users' sockets, the
        # pool has its backends on the run's database, Redis holds the rooms' keys. One
        # room here, so one probe listener (loadtests/load_probe.py) beside the users.
        assert s["connections"] == USERS + 1, (s, said)
        assert s["hub_fds"] > USERS, (s, said)
        assert 30 << 20 < s["hub_rss_bytes"] < 2 << 30, (s, said)
        assert 1 <= s["pg_connections"] <= 50, (s, said)
        assert s["redis_used_memory_bytes"] > 100_000, (s, said)
    assert sum(s["deliveries_per_s"] for s in held) > 0, said

    v = doc["verdict"]
    assert v["early_window_s"][0] < v["early_window_s"][1] <= v["late_window_s"][0], said
    assert set(v["series"]) == set(RULES), said
    for key, e in v["series"].items():
        assert e["early_samples"] >= 2 and e["late_samples"] >= 2, (key, e, said)
        assert isinstance(e["flat"], bool), (key, e, said)
        # A 1 s sample of 20 users may see no delivery: a rate of 0 is a real reading.
        low = 0 if key == "deliveries_per_s" else 1
        assert e["early_median"] >= low and e["late_median"] >= low, (key, e, said)
    assert v["flat"] == all(e["flat"] for e in v["series"].values()), said
    # The run's exit code is the verdict (every user held, no unexpected error above).
    assert run.returncode == (0 if v["flat"] else 1), said
    assert ("verdict: FLAT" if v["flat"] else "verdict: NOT FLAT") in run.stdout, said

    with (out / f"{doc['run']}.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(doc["samples"]), said
    assert [float(r["hub_rss_bytes"]) for r in rows] == [s["hub_rss_bytes"]
                                                         for s in doc["samples"]], said
    assert (out / f"{doc['run']}.png").stat().st_size > 10_000, said
