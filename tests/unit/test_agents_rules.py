"""The rule-based fallback and the tools' argument checks, without I/O."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from integrations import agents_rules as rules
from integrations.agents_tools import TOOLS, ToolContext, run_tool


@pytest.mark.parametrize(("sms", "title", "artist"), [
    ("can you play Mr. Brightside by The Killers", "Mr. Brightside", "The Killers"),
    ("Could you please play \"Stand By Me\" by Ben E. King?", "Stand By Me", "Ben E. King"),
    ("hey, play Valerie please!", "Valerie", ""),
    ("PLAY dancing queen by abba", "dancing queen", "abba"),
    ("request Africa by Toto", "Africa", "Toto"),
])
def test_requests_are_understood(sms, title, artist):
    """Common ways of asking for a song become create_song_request with title and artist."""
    p = rules.plan(sms)
    assert (p.intent, p.tool, p.args) == ("song_request", "create_song_request",
                                          {"title": title, "artist": artist})


@pytest.mark.parametrize(("sms", "intent", "tool", "args"), [
    ("where am I?", "song_request", "queue_position", {}),
    ("How much for a wedding?", "pricing", "quote_price", {}),
    ("are you available 2031-02-14", "availability", "check_availability",
     {"date": "2031-02-14"}),
    ("are you free that weekend", "availability", None, {}),
    ("thanks!", "follow_up", None, {}),
])
def test_questions_are_routed(sms, intent, tool, args):
    """Position, price and availability questions get their tool; the rest get help text."""
    p = rules.plan(sms)
    assert (p.intent, p.tool, p.args) == (intent, tool, args)
    assert rules.classify(sms) == intent
    if tool is None:
        assert p.text


def test_replies_carry_the_tool_results():
    """Replies state the queue position, rates, availability, or the tool's refusal."""
    req = rules.plan("play Valerie by Amy Winehouse")
    assert rules.reply(req, {"title": "Valerie", "artist": "Amy Winehouse", "position": 3,
                             "merged": False}) == \
        'Got it! "Valerie" by Amy Winehouse is #3 in the queue.'
    assert rules.reply(req, {"title": "Valerie", "artist": "", "position": 1,
                             "merged": True}).startswith("Already requested")
    assert rules.reply(req, {"error": "no live event"}) == \
        "Sorry, I couldn't do that: no live event."
    price = rules.plan("prices?")
    assert rules.reply(price, {"services": [{"service": "Club", "hourly_cents": 12550,
                                             "minimum_hours": 2}]}) == \
        "Our rates: Club: $125.50/hour (min 2h)."
    free = rules.plan("available 2031-02-14?")
    assert "is open" in rules.reply(free, {"date": "2031-02-14", "available": True})


def test_tool_schemas_are_strict_json_schema_objects():
    """Each tool offers the model an object schema that forbids unknown fields."""
    for tool in TOOLS.values():
        fn = tool.schema()["function"]
        assert fn["name"] == tool.name and fn["description"]
        assert fn["parameters"]["type"] == "object"
        assert fn["parameters"]["additionalProperties"] is False
    song = TOOLS["create_song_request"].schema()["function"]["parameters"]
    assert song["required"] == ["title"] and song["properties"]["title"]["minLength"] == 1


@pytest.mark.parametrize(("name", "args", "needle"), [
    ("create_song_request", {"title": ""}, "length >= 1"),
    ("create_song_request", {"title": "x", "dj": True}, "unknown field `dj`"),
    ("check_availability", {"date": "next friday"}, "Invalid RFC3339 encoded date"),
    ("quote_price", {"hours": 99}, "<= 24"),
    ("create_follow_up", {"summary": "x" * 501}, "length <= 500"),
    ("delete_everything", {}, "no tool"),
])
async def test_invalid_arguments_are_refused_before_running(name, args, needle):
    """Arguments failing the Struct come back as an error and the tool never runs (the
    context has no hub, so running would crash)."""
    ctx = ToolContext(pool=None, services=None, org=uuid.uuid4(), phone="+15550000000",  # type: ignore[arg-type]
                      event_id=None)
    out = await run_tool(ctx, frozenset(TOOLS), name, msgspec.json.encode(args))
    assert out.ran is False and needle in out.result["error"]


async def test_a_tool_not_given_to_the_agent_is_refused():
    """An agent may only call its own tools, even ones that exist."""
    ctx = ToolContext(pool=None, services=None, org=uuid.uuid4(), phone="+15550000000",  # type: ignore[arg-type]
                      event_id=None)
    out = await run_tool(ctx, frozenset({"quote_price"}), "create_song_request",
                         b'{"title": "x"}')
    assert out.ran is False and "quote_price" in out.result["error"]


@pytest.mark.parametrize(("sms", "args"), [
    ("sing Valerie", {"song": "Valerie"}),
    ("I want to sing Valerie by Amy Winehouse as Ann!", {"song": "Valerie by Amy Winehouse",
                                                         "singer": "Ann"}),
    ("karaoke \"Dancing Queen\"", {"song": "Dancing Queen"}),
    ("hey, can i sing As It Was?", {"song": "As It Was"}),
    ("SING <script>alert(1)</script>", {"song": "<script>alert(1)</script>"}),
])
def test_sing_becomes_a_karaoke_signup(sms, args):
    """"sing <song> [as <name>]" plans karaoke_signup; the script is just a song title."""
    p = rules.plan(sms)
    assert (p.intent, p.tool, p.args) == ("karaoke", "karaoke_signup", args)
    assert rules.classify(sms) == "karaoke"
    assert "text you when you're up next" in rules.reply(p, {"song": args["song"]})


async def test_karaoke_signup_refuses_bad_arguments_before_running():
    """A blank song, an over-long name or an unknown field never reaches the service."""
    ctx = ToolContext(None, None, uuid.uuid4(), "+15550100", None)  # type: ignore[arg-type]
    allowed = frozenset({"karaoke_signup"})
    for args in ({"song": ""}, {"song": "Creep", "singer": "x" * 61},
                 {"song": "Creep", "phone": "+15550199"}):
        out = await run_tool(ctx, allowed, "karaoke_signup", msgspec.json.encode(args))
        assert not out.ran and out.result["error"].startswith("invalid arguments:"), args
    assert TOOLS["karaoke_signup"].schema()["function"]["parameters"]["required"] == ["song"]
