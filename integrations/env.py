"""Reading an integration's settings from environment variables into a msgspec Struct."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import msgspec

T = TypeVar("T")


def from_env(cls: type[T], names: Mapping[str, str], env: Mapping[str, str] | None = None) -> T:
    """Build ``cls`` from the variables in ``names`` (field -> VAR) that are set and
    non-empty; strings are converted to the field types, and bad values raise early."""
    env = os.environ if env is None else env
    raw = {field: env[var] for field, var in names.items() if env.get(var)}
    return msgspec.convert(raw, cls, strict=False)
