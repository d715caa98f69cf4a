"""The operator API's patterns end at the end of the value: Python's ``$`` also matches
before a trailing newline, so ``"abc\\n"`` would pass a ``$`` pattern into SQL and on."""

from __future__ import annotations

import msgspec
import pytest

from hub.operator_wire import OrgCreate, UserCreate


@pytest.mark.parametrize("field, good, bad", [
    ("slug", "late-show", "late-show\n"),
    ("sms_number", "+15551234567", "+15551234567\n"),
])
def test_org_patterns_refuse_a_trailing_newline(field: str, good: str, bad: str) -> None:
    base = {"name": "Late Show", "product_context": "djdash"}
    assert getattr(msgspec.convert({**base, field: good}, OrgCreate), field) == good
    with pytest.raises(msgspec.ValidationError, match=field):
        msgspec.convert({**base, field: bad}, OrgCreate)


def test_email_refuses_a_trailing_newline() -> None:
    assert msgspec.convert({"email": "dj@example.com"}, UserCreate).email == "dj@example.com"
    with pytest.raises(msgspec.ValidationError, match="email"):
        msgspec.convert({"email": "dj@example.com\n"}, UserCreate)
