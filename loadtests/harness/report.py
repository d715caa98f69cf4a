"""A run's identity and records: timestamp, log folder, versions, and the result JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from loadtests.harness import REPO


def run_stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def log_folder(bench: str, run_id: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"livehub-{bench}-{run_id}-"))


# Printed on stderr by every hub start on a machine without XDG_RUNTIME_DIR.
_NOISE = ("RuntimeDirWarning", "return Path(self.user_runtime_dir)")


def prune_logs(logdir: Path) -> None:
    """Drop logs with nothing but noise in them, and the folder once it is empty;
    otherwise say where the logs are (errors in the results name only the file)."""
    for f in logdir.iterdir():
        with contextlib.suppress(OSError):
            lines = f.read_text(errors="replace").splitlines()
            if all(not line.strip() or any(n in line for n in _NOISE) for line in lines):
                f.unlink()
    with contextlib.suppress(OSError):
        logdir.rmdir()  # only succeeds when empty
    if logdir.exists():
        print(f"logs kept in {logdir}")


def version(dist: str) -> str:
    from importlib.metadata import version as dist_version

    try:
        return dist_version(dist)
    except Exception:
        return "?"


def host(dists: Sequence[str]) -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), **{d: version(d) for d in dists}}


def git_rev(tree: Path) -> str:
    """The commit checked out in ``tree``, ``-dirty`` with uncommitted changes to tracked
    files; ``?`` outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()

    try:
        rev = git("rev-parse", "HEAD")
        return rev + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def repo_relative(path: Path) -> str:
    """``path`` relative to the repo root, so results say nothing about this machine."""
    return os.path.relpath(path.resolve(), REPO)


def shown(path: Path) -> str:
    """For the console: repo-relative inside the repo, absolute elsewhere."""
    rel = repo_relative(path)
    return str(path.resolve()) if rel.startswith("..") else rel


def settings(args: argparse.Namespace, skip: Collection[str] = ()) -> dict[str, Any]:
    return {k: repo_relative(v) if isinstance(v, Path) else v for k, v in vars(args).items()
            if k not in skip}


def write_json(out: Path, name: str, doc: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(doc, indent=1))
    return path
