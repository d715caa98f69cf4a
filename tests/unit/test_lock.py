"""requirements.lock pins, with hashes, a version of everything pyproject.toml asks for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def pins(lock_text: str) -> dict[str, Version]:
    """name -> pinned version, from a `uv pip compile --generate-hashes` file."""
    found: dict[str, Version] = {}
    for line in lock_text.splitlines():
        if m := PIN.match(line):
            found[canonicalize_name(m[1])] = Version(m[3])
    return found


def requirements(pyproject_text: str) -> list[Requirement]:
    """Runtime, dev and build requirements: everything `make` installs from the lock."""
    data = tomllib.loads(pyproject_text)
    return [Requirement(r) for r in (*data["project"]["dependencies"],
                                      *data["project"]["optional-dependencies"]["dev"],
                                      *data["build-system"]["requires"])]


def disagreements(pyproject_text: str, lock_text: str) -> list[str]:
    """Every pyproject requirement the lock leaves out or pins outside its range."""
    pinned = pins(lock_text)
    problems = []
    for req in requirements(pyproject_text):
        version = pinned.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req} but the lock pins {version}")
    return problems


def test_lock_satisfies_every_pyproject_requirement():
    """Each runtime, dev and build requirement is pinned in the lock to a version it accepts."""
    problems = disagreements((ROOT / "pyproject.toml").read_text(),
                             (ROOT / "requirements.lock").read_text())
    assert not problems, "pyproject.toml and requirements.lock disagree (run `make lock`): " + \
        "; ".join(problems)


def test_every_pin_carries_a_hash():
    """pip --require-hashes refuses a lock with an unhashed pin."""
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    for i, line in enumerate(lines):
        if PIN.match(line):
            assert line.rstrip().endswith("\\") and "--hash=sha256:" in lines[i + 1], line


def test_a_changed_requirement_is_caught():
    """A pyproject range the lock's pin falls outside, or a new package, is reported."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    assert disagreements(pyproject.replace('"litestar==2.25.0"', '"litestar>=99"'), lock) == [
        "litestar>=99 but the lock pins 2.25.0"]
    assert disagreements(pyproject.replace('"pytest>=8",', '"pytest>=8", "left-pad",'), lock) == [
        "left-pad is not in the lock"]
