"""AI agents that answer a fan's SMS: a classifier routes the conversation to one agent,
and the agent calls org-scoped tools (``agents_tools``) until it has an answer.

Flow for one inbound message (the conversation's recent messages, kept in Postgres, are
the memory):

1. Classifier: one model call forced to call ``route(intent)``, intent one of
   song_request, karaoke, availability, pricing, booking, follow_up. An answer that fails
   validation falls back to the rules' classification.
2. Agent: the intent's prompt and tools. Each model turn either answers (done) or calls
   tools; every call's arguments are validated with the tool's msgspec Struct first, and a
   refusal is sent back as the tool result so the model can correct itself.
   ``AGENT_MAX_TURNS`` bounds the model calls: a model still calling tools then is stopped,
   the fan is told a person will follow up, and a follow-up task records it.
3. No ``OPENAI_API_KEY``, or the model API failing: the rule-based fallback
   (``agents_rules``) answers with the same tools.

The OpenAI client is ``AsyncOpenAI(base_url=OPENAI_BASE_URL, api_key=OPENAI_API_KEY,
max_retries=0)``: the SMS webhook has a deadline, so a failed call falls back at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import openai

from integrations import agents_rules as rules
from integrations.agents_config import AgentConfig
from integrations.agents_rules import INTENTS, Intent
from integrations.agents_tools import TOOLS, ToolContext, ToolOutcome, run_tool

log = logging.getLogger(__name__)

MEMORY = 12  # messages of the conversation sent to the model
CAPPED_REPLY = ("Sorry, I couldn't sort that out by text. Someone from the team will get "
                "back to you.")

_BASE = ("You answer text messages sent to a DJ / live-event business. Be brief: one or "
         "two SMS-length sentences. Use the tools for facts; never invent positions, dates "
         "or prices.")
PROMPTS: dict[Intent, str] = {
    "song_request": "The fan wants a song played or asks about their requests. Create the "
                    "request with create_song_request and tell them its position.",
    "karaoke": "The fan wants to sing karaoke. Sign them up with karaoke_signup (the song,"
               " and their name if they gave one) and tell them they will get a text when"
               " they are up next.",
    "availability": "The person asks whether a date is free. Check it; offer to take a "
                    "booking inquiry.",
    "pricing": "The person asks about prices. Quote with quote_price.",
    "booking": "The person wants to book. Check the date, quote, and record an inquiry.",
    "follow_up": "Anything else: if a person should answer, create a follow-up task and "
                 "say someone will get back to them.",
}
AGENT_TOOLS: dict[Intent, frozenset[str]] = {
    "song_request": frozenset({"create_song_request", "queue_position"}),
    "karaoke": frozenset({"karaoke_signup"}),
    "availability": frozenset({"check_availability", "create_booking_inquiry"}),
    "pricing": frozenset({"quote_price", "create_booking_inquiry"}),
    "booking": frozenset({"check_availability", "quote_price", "create_booking_inquiry"}),
    "follow_up": frozenset({"create_follow_up"}),
}


class Route(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Route the conversation to the agent for its latest message."""

    intent: Intent


ROUTE_TOOL = {"type": "function", "function": {
    "name": "route", "description": (Route.__doc__ or "").strip(),
    "parameters": {"type": "object", "additionalProperties": False, "required": ["intent"],
                   "properties": {"intent": {"type": "string", "enum": list(INTENTS)}}}}}


@dataclass
class Answer:
    """The reply to send, and what happened on the way (for logs and tests)."""

    text: str
    intent: Intent
    via: str  # "model", "rules", or "capped"
    tools: list[ToolOutcome] = field(default_factory=list)


async def answer(cfg: AgentConfig, ctx: ToolContext, memory: Sequence[tuple[str, str]]) -> Answer:
    """Answer the last message of ``memory`` ((direction, body) pairs, oldest first)."""
    if cfg.enabled:
        client = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=cfg.api_key, max_retries=0)
        try:
            return await _with_model(cfg, client, ctx, memory)
        except openai.OpenAIError:
            log.exception("model call failed; answering with the rules")
        finally:
            await client.close()
    return await with_rules(ctx, memory[-1][1])


async def with_rules(ctx: ToolContext, text: str) -> Answer:
    """The rule-based fallback, through the same tool validation path."""
    p = rules.plan(text)
    if p.tool is None:
        return Answer(p.text, p.intent, "rules")
    outcome = await run_tool(ctx, frozenset({p.tool}), p.tool, msgspec.json.encode(p.args))
    return Answer(rules.reply(p, outcome.result), p.intent, "rules", [outcome])


def _messages(memory: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"role": "user" if d == "in" else "assistant", "content": body}
            for d, body in memory[-MEMORY:]]


async def _classify(cfg: AgentConfig, client: openai.AsyncOpenAI,
                    memory: Sequence[tuple[str, str]]) -> Intent:
    messages: list[Any] = [{"role": "system", "content": _BASE + " Route the conversation"
                            " by its latest message."}, *_messages(memory)]
    tools: list[Any] = [ROUTE_TOOL]
    choice: Any = {"type": "function", "function": {"name": "route"}}
    resp = await client.chat.completions.create(model=cfg.model, messages=messages,
                                                tools=tools, tool_choice=choice)
    calls = resp.choices[0].message.tool_calls or []
    for call in calls:
        if call.type == "function" and call.function.name == "route":
            try:
                return msgspec.json.decode(call.function.arguments, type=Route).intent
            except (msgspec.ValidationError, msgspec.DecodeError):
                break
    return rules.classify(memory[-1][1])


async def _with_model(cfg: AgentConfig, client: openai.AsyncOpenAI, ctx: ToolContext,
                      memory: Sequence[tuple[str, str]]) -> Answer:
    intent = await _classify(cfg, client, memory)
    allowed = AGENT_TOOLS[intent]
    tools: list[Any] = [TOOLS[name].schema() for name in sorted(allowed)]
    messages: list[Any] = [{"role": "system", "content": f"{_BASE} {PROMPTS[intent]}"},
                           *_messages(memory)]
    done: list[ToolOutcome] = []
    for _ in range(cfg.max_turns):
        resp = await client.chat.completions.create(model=cfg.model, messages=messages,
                                                    tools=tools)
        msg = resp.choices[0].message
        if not msg.tool_calls:
            return Answer((msg.content or "").strip() or CAPPED_REPLY, intent, "model", done)
        messages.append(msg.model_dump(exclude_none=True))
        for call in msg.tool_calls:
            if call.type == "function":
                outcome = await run_tool(ctx, allowed, call.function.name,
                                         call.function.arguments)
            else:
                outcome = ToolOutcome(call.type, False, {"error": "only function tools"})
            done.append(outcome)
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": msgspec.json.encode(outcome.result).decode()})
    # The cap: a person takes over rather than the model looping on.
    await run_tool(ctx, frozenset({"create_follow_up"}), "create_follow_up", msgspec.json.encode(
        {"summary": f"Agent gave up after {cfg.max_turns} turns: {memory[-1][1][:300]}"}))
    return Answer(CAPPED_REPLY, intent, "capped", done)
