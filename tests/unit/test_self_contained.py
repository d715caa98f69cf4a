"""Nothing in the repository points outside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Built from parts so this file does not match itself.
OUTSIDE = ("..".join(["", "/shared"]),)


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                         check=True, timeout=30).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_refers_outside_the_repository():
    """No tracked file points at the shared folder beside the repo: it says what it needs."""
    offenders = []
    for path in _tracked():
        if not path.is_file():
            continue
        text = path.read_bytes().decode(errors="replace")
        offenders += [f"{path.relative_to(ROOT)}: {needle}" for needle in OUTSIDE
                      if needle in text]
    assert not offenders, offenders
