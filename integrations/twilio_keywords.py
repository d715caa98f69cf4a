"""SMS opt-out keywords, as Twilio's default opt-out handling defines them. No I/O.

A message is a keyword when its whole body, trimmed and in any case, is one of them
("stop" opts out; "please stop playing that" is an ordinary message). The replies are
Twilio's default confirmation texts, so a fan sees the same wording whether Twilio's
Advanced Opt-Out or the hub answers.
"""

from __future__ import annotations

import enum

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

STOP_REPLY = ("You have successfully been unsubscribed. You will not receive any more"
              " messages from this number. Reply START to resubscribe.")
START_REPLY = ("You have successfully been re-subscribed to messages from this number."
               " Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.")
HELP_REPLY = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."


class Keyword(enum.Enum):
    STOP = "stop"
    START = "start"
    HELP = "help"


def keyword(body: str) -> tuple[Keyword, str] | None:
    """The keyword this body is (and the word as sent, upper-cased), or None."""
    word = body.strip().strip(".!").strip().upper()
    if word in STOP_WORDS:
        return Keyword.STOP, word
    if word in START_WORDS:
        return Keyword.START, word
    if word in HELP_WORDS:
        return Keyword.HELP, word
    return None


REPLIES = {Keyword.STOP: STOP_REPLY, Keyword.START: START_REPLY, Keyword.HELP: HELP_REPLY}
