"""`hub token` refuses bad input with a one-line error instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hub.auth import verify_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-secret-0123456789-0123456789-0123456789"


def hub_token(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_SECRET": SECRET}
    env.pop("HUB_MAX_TOKEN_TTL", None)
    return subprocess.run([sys.executable, "-m", "hub", "token", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("args", "complaint"), [
    (["--org", str(uuid.uuid4()), "--sub", "u", "--role", "superhero"], "--role"),
    (["--org", "not-a-uuid", "--sub", "u", "--role", "dj"], "--org"),
    (["--org", str(uuid.uuid4()), "--sub", "u", "--role", "dj", "--ttl", "31536000"], "--ttl"),
])
def test_bad_arguments_get_one_line_error(args, complaint):
    """An unknown role, a non-uuid org or a too-long ttl: exit 2, one error line, no token."""
    result = hub_token(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line or "must" in line]
    assert len(errors) == 1 and complaint in errors[0], result.stderr


def test_good_arguments_mint_a_token_the_hub_accepts():
    """Valid arguments print a token that verifies with the same secret."""
    org = uuid.uuid4()
    result = hub_token("--org", str(org), "--sub", "dj-1", "--role", "dj", "--role", "viewer")
    assert result.returncode == 0, result.stderr
    principal = verify_token(SECRET, result.stdout.strip())
    assert principal.org == org and {r.value for r in principal.roles} == {"dj", "viewer"}
