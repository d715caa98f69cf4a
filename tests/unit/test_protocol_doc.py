"""docs/protocol.md is generated from the Structs and must not drift."""

from __future__ import annotations

from hub import protocol as p
from hub.protocol_doc import DOC_PATH, render


def test_committed_doc_matches_the_structs():
    """Regenerate with `python -m hub.protocol_doc` when this fails."""
    assert DOC_PATH.read_text() == render()


def test_every_code_is_documented_with_an_action():
    """Each error and close code has a meaning and a client action in the doc."""
    assert set(p.ERROR_DOCS) == set(p.ErrorCode)
    assert set(p.CLOSE_DOCS) == set(p.CloseCode)
    doc = DOC_PATH.read_text()
    for code in [*p.ErrorCode, *p.CloseCode]:
        assert f"| {int(code)} | {code.name} |" in doc
