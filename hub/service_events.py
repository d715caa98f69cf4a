"""Room event types that only room services may publish.

Clients (the live page, overlays) trust room messages whose ``data.type`` is a
service event (``chat``, ``requests``, ``tips.alert_show``...), so raw publishes
over the websocket or the server API must not use those types. The set is read
from the code: every tagged ``msgspec.Struct`` defined in ``rooms`` or
``integrations`` is a room event, so a new service event is reserved the moment
it exists, with no list to keep in step.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import msgspec

_EVENT_PACKAGES = ("rooms", "integrations")


class _Tag(msgspec.Struct):
    type: object = None


_tag_json = msgspec.json.Decoder(_Tag)


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


@cache
def reserved_types() -> frozenset[str]:
    """Every room event tag defined by the services (imports their modules once)."""
    for name in _EVENT_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)
    tags: set[str] = set()
    for cls in _subclasses(msgspec.Struct):
        config = cls.__struct_config__  # type: ignore[attr-defined]
        if (cls.__module__.partition(".")[0] in _EVENT_PACKAGES
                and isinstance(config.tag, str)):
            # Every room event is tagged in `type`, the field clients switch on.
            assert config.tag_field == "type", cls
            tags.add(config.tag)
    return frozenset(tags)


@cache
def _reserved_namespaces() -> frozenset[str]:
    return frozenset(tag.partition(".")[0] + "." for tag in reserved_types() if "." in tag)


def reserved_type(data: bytes) -> str | None:
    """The service event type ``data`` claims to be, if it is one; else None.

    ``data`` is valid JSON. Only a top-level object's ``type`` is looked at, decoded
    like a browser would (escapes resolved, the last of duplicate keys wins).
    """
    try:
        claimed = _tag_json.decode(data).type
    except (msgspec.DecodeError, RecursionError):  # not an object: no type to forge
        return None
    if not isinstance(claimed, str):
        return None
    if claimed in reserved_types():
        return claimed
    namespace = claimed.partition(".")[0] + "."
    if "." in claimed and namespace in _reserved_namespaces():
        return namespace + "*"
    return None
