"""The rule-based fallback: answers SMS without a model (no ``OPENAI_API_KEY``, or the
model failed). No I/O: ``plan`` turns a message into an intent and at most one tool call,
``reply`` turns the tool's result into the SMS text.

Understood:

* requests: "can you play X by Y", "could you please play X", "play X", "request X by Y"
  (the last " by " splits title from artist);
* karaoke: "sing X", "I want to sing X", "karaoke X", optionally "... as <name>" (the
  name the host calls out);
* "where am I" / "my position" / "my request(s)": the fan's queue positions;
* prices: "price", "cost", "how much", "rates", "quote": every service's hourly rate;
* availability: "available" / "free" / "book" with a YYYY-MM-DD date;
* anything else: how to use the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Intent = Literal["song_request", "karaoke", "availability", "pricing", "booking",
                 "follow_up"]
INTENTS: tuple[Intent, ...] = ("song_request", "karaoke", "availability", "pricing",
                               "booking", "follow_up")

_REQUEST = re.compile(
    r"^\s*(?:(?:hi|hey|yo)\b[\s,!]*)?(?:(?:can|could|would|will)\s+(?:you|u)\s+"
    r"(?:please\s+)?(?:play|spin)|(?:please\s+)?(?:play|spin|request))\s+(?P<song>.+?)"
    r"[\s?.!]*(?:\bplease\b[\s?.!]*)?$", re.IGNORECASE)
_SING = re.compile(
    r"^\s*(?:(?:hi|hey|yo)\b[\s,!]*)?(?:(?:i\s+(?:want\s+to|wanna|would\s+like\s+to)"
    r"|can\s+i|let\s+me)\s+)?(?:sing|karaoke)\s+(?P<song>.+?)"
    r"(?:\s+as\s+(?P<name>\S.{0,59}?))?[\s?.!]*$", re.IGNORECASE)
_POSITION = re.compile(r"\b(where am i|position|my requests?|my song|queue)\b", re.IGNORECASE)
_PRICE = re.compile(r"\b(price|prices|pricing|cost|how much|rates?|quote)\b", re.IGNORECASE)
_AVAILABLE = re.compile(r"\b(available|availability|free|open|book|booking)\b", re.IGNORECASE)
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")

HELP = ("Text \"play <song> by <artist>\" to request a song, \"sing <song>\" to sing "
        "karaoke, \"where am I\" for your place in the queue, \"prices\" for rates, or "
        "\"available YYYY-MM-DD\" to check a date.")


@dataclass(frozen=True)
class Plan:
    intent: Intent
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # the reply when there is no tool to run


def song(raw: str) -> tuple[str, str]:
    """Split "Title by Artist" on the last " by "; strip quotes."""
    title, sep, artist = raw.rpartition(" by ")
    if not sep:
        title, artist = raw, ""
    return title.strip().strip("\"'“”"), artist.strip().strip("\"'“”")


def classify(text: str) -> Intent:
    if _SING.match(text):
        return "karaoke"
    if _REQUEST.match(text) or _POSITION.search(text):
        return "song_request"
    if _PRICE.search(text):
        return "pricing"
    if _AVAILABLE.search(text):
        return "availability"
    return "follow_up"


def plan(text: str) -> Plan:
    """What to do about one message."""
    sing = _SING.match(text)
    if sing:
        args = {"song": sing.group("song").strip().strip("\"'“”")}
        if sing.group("name"):
            args["singer"] = sing.group("name").strip()
        return Plan("karaoke", "karaoke_signup", args)
    m = _REQUEST.match(text)
    if m:
        title, artist = song(m.group("song"))
        return Plan("song_request", "create_song_request", {"title": title, "artist": artist})
    if _POSITION.search(text):
        return Plan("song_request", "queue_position")
    if _PRICE.search(text):
        return Plan("pricing", "quote_price")
    if _AVAILABLE.search(text):
        date = _DATE.search(text)
        if date is None:
            return Plan("availability", text="Which date? Text \"available YYYY-MM-DD\".")
        return Plan("availability", "check_availability", {"date": date.group(1)})
    return Plan("follow_up", text=HELP)


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}".replace(".00", "")


def reply(p: Plan, result: dict[str, Any]) -> str:
    """The SMS text for a plan's tool result."""
    if "error" in result:
        return f"Sorry, I couldn't do that: {result['error']}."
    if p.tool == "create_song_request":
        who = f" by {result['artist']}" if result["artist"] else ""
        lead = "Already requested, your vote is in!" if result["merged"] else "Got it!"
        return f"{lead} \"{result['title']}\"{who} is #{result['position']} in the queue."
    if p.tool == "karaoke_signup":
        return (f"You're signed up to sing \"{result['song']}\"! We'll text you when you're"
                " up next. Reply STOP to opt out.")
    if p.tool == "queue_position":
        mine = [r for r in result["requests"] if r["position"] is not None]
        if not mine:
            return "You have no songs in the queue right now."
        return " ".join(f"\"{r['title']}\" is #{r['position']}." if r["position"] else
                        f"\"{r['title']}\" is playing now!" for r in mine)
    if p.tool == "quote_price":
        rates = [f"{s['service']}: {_money(s['hourly_cents'])}/hour (min {s['minimum_hours']}h)"
                 for s in result["services"]]
        return "Our rates: " + "; ".join(rates) + "." if rates else HELP
    if p.tool == "check_availability":
        if result["available"]:
            return f"Good news: {result['date']} is open. Reply with your event type to book."
        return f"Sorry, {result['date']} is not available."
    return HELP
