"""The JS client's generated types and code tables must not drift from hub/protocol.py."""

from __future__ import annotations

import re

from hub import protocol as p
from hub.client_types import DTS_PATH, WIRE_PATH, render_dts, render_wire


def test_committed_types_match_the_structs():
    """Regenerate with `python -m hub.client_types` when this fails."""
    assert DTS_PATH.read_text() == render_dts()
    assert WIRE_PATH.read_text() == render_wire()


def test_every_frame_and_code_is_declared():
    dts, wire = DTS_PATH.read_text(), WIRE_PATH.read_text()
    for union in (p.ClientFrame, p.ServerFrame):
        for cls in union.__args__:
            assert f'type: "{cls.__struct_config__.tag}";' in dts
    for code, (_, action) in [*p.ERROR_DOCS.items(), *p.CLOSE_DOCS.items()]:
        row = rf'^  {int(code)}: {{ name: "{code.name}", action: "{action.name.lower()}"'
        assert re.search(row, wire, re.M)
    assert '"requests.accept"' in wire and '"karaoke.next"' in wire  # versioned DJ actions
    assert '"requests.submit"' not in wire.split("VERSIONED_METHODS")[1]
