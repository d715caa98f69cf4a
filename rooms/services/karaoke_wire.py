"""The karaoke service's wire schema: method params, results, state and its room event."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

Name = Annotated[str, Meta(min_length=1, max_length=60)]
Song = Annotated[str, Meta(min_length=1, max_length=120)]
Id = Annotated[str, Meta(min_length=1, max_length=64)]
Version = Annotated[int, Meta(ge=0)]  # the queue version the host was looking at


# -- params -------------------------------------------------------------------------


class SignupParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``phone`` (international, e.g. +15551234567) gets a "you're up next" text; it needs
    ``sms_consent: true`` and is never shown to anyone in the room."""

    singer: Name  # the name the host calls out
    song: Song
    phone: Annotated[str, Meta(min_length=1, max_length=32)] | None = None
    sms_consent: bool = False


class NoParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class VersionRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: Version


class SettingsParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Only the fields given change."""

    version: Version
    max_active: Annotated[int, Meta(ge=1, le=20)] | None = None
    slot_seconds: Annotated[int, Meta(ge=30, le=3600)] | None = None


class MoveParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    signup_id: Id
    to_index: Annotated[int, Meta(ge=0)]  # 0-based index in the queue as last seen
    version: Version


class SignupRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    signup_id: Id
    version: Version


class SingerRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    singer_sub: Id
    version: Version


# -- state ----------------------------------------------------------------------------


class Entry(msgspec.Struct, frozen=True):
    """One song in the queue (or on stage)."""

    signup_id: str
    singer: str
    singer_sub: str
    song: str
    round: int
    held: bool
    wait_seconds: int


class Settings(msgspec.Struct, frozen=True):
    max_active: int = 1  # active (queued or on stage) signups allowed per singer
    slot_seconds: int = 240  # average length of one turn, for the wait estimate


class KaraokeState(msgspec.Struct, frozen=True):
    """The whole queue of one event: the ``karaoke`` snapshot and the STALE_VERSION state."""

    version: int
    now_singing: Entry | None
    next_up: Entry | None
    queue: list[Entry]  # singing order, held songs included in their place
    held: list[str]  # singer subs on hold
    settings: Settings


class KaraokeChanged(KaraokeState, frozen=True, tag="karaoke"):
    """The queue changed: the full new state (apply the highest ``version``) and why."""

    change: str  # signup, settings, move, next, sung, skip, hold, release


# -- results --------------------------------------------------------------------------


class Signed(msgspec.Struct, frozen=True):
    signup_id: str
    round: int
    version: int


class Mine(msgspec.Struct, frozen=True):
    """One of the caller's songs. ``place`` 1 = next up, 0 = on stage."""

    signup_id: str
    song: str
    place: int
    wait_seconds: int
    held: bool


class MineResult(msgspec.Struct, frozen=True):
    version: int
    songs: list[Mine]
