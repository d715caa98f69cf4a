"""Typed settings from environment variables: the one loader every part uses.

A part declares a frozen ``msgspec.Struct`` with defaults and a class-level ``ENV`` map
(field -> variable). :func:`from_env` reads the variables that are set and non-empty,
converts them to the field types and checks their constraints. Two conventions:
a field ending in ``_ms`` is read from its variable in seconds (fractions allowed), and
booleans also accept ``yes``/``on``/``no``/``off``. A bad value raises
:class:`SettingsError` naming the variable, so the hub refuses to start.

The hub's composition root loads every part once at start (``hub.settings.load_parts``)
and hands each to the code that uses it; nothing reads the environment at import time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar

import msgspec

_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}
_AT_FIELD = re.compile(r"at `\$\.([a-z_]+)`")


class Configurable(Protocol):
    ENV: ClassVar[Mapping[str, str]]


T = TypeVar("T", bound=Configurable)


class SettingsError(msgspec.ValidationError):
    """A variable holds a value its setting cannot take."""


def from_env(cls: type[T], env: Mapping[str, str] | None = None) -> T:
    """Build ``cls`` from ``env`` (default ``os.environ``).

    Raises:
        SettingsError: a value of the wrong type or out of range, naming its variable.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for field, var in cls.ENV.items():
        value = env.get(var, "")
        if not value:
            continue
        if field.endswith("_ms"):
            try:
                raw[field] = round(float(value) * 1000)
            except ValueError:
                raise SettingsError(f"{var} must be a number of seconds, got {value!r}") from None
        else:
            raw[field] = _WORDS.get(value.lower(), value)
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        at = _AT_FIELD.search(str(exc))
        var = cls.ENV.get(at.group(1), "") if at else ""
        raise SettingsError(f"{var or cls.__name__}: {exc}") from None
