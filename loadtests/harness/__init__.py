"""What the load tests share: child processes, CPU accounting, rounds, summaries, results.

Nothing here knows about fan-out or chat; ``loadtests/fanout_load.py`` holds
the fan-out workload that ``fanout.py`` and ``persist.py`` both put on a hub.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "loadtests" / "results"
