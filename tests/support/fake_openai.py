"""A local stand-in for OpenAI's Chat Completions API that answers from a script.

Each request takes the next step of ``script``: a function of the request body that
returns the assistant message (see ``tool_call`` and ``text``), so a step can read the
tool results the hub sent back. It checks each request like the API would: bearer key,
model, a non-empty ``messages`` list with known roles, function tools with a name and a
JSON-schema object, and every assistant tool call answered by a ``tool`` message. Refused
or unscripted requests answer an API error and are kept in ``refused``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.fake_http import serve

API_KEY = "sk-test-fake-openai"
MODEL = "gpt-test"
ROLES = {"system", "developer", "user", "assistant", "tool"}

Message = dict[str, Any]
Step = Callable[[dict[str, Any]], Message]


def tool_call(name: str, arguments: dict[str, Any] | str) -> Step:
    """A step answering with one call of ``name`` (arguments as JSON text)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return lambda body: {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{uuid.uuid4().hex[:10]}", "type": "function",
         "function": {"name": name, "arguments": args}}]}


def text(content: str | Callable[[dict[str, Any]], str]) -> Step:
    """A step answering with text (or text made from the request)."""
    return lambda body: {"role": "assistant", "content": (
        content(body) if callable(content) else content)}


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The decoded contents of the ``tool`` messages in a request."""
    return [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]


@dataclass
class FakeOpenAI:
    script: list[Step] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer (a slow model)
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner, base = await serve(app)
        self.url = f"{base}/v1"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def env(self, **extra: str) -> dict[str, str]:
        return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": self.url,
                "OPENAI_MODEL": MODEL, **extra}

    def _refuse(self, status: int, msg: str) -> web.Response:
        self.refused.append(msg)
        return web.json_response({"error": {"message": msg, "type": "invalid_request_error",
                                            "code": None, "param": None}}, status=status)

    def _problem(self, body: dict[str, Any]) -> str | None:
        if body.get("model") != MODEL:
            return f"model {body.get('model')!r}"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages must be a non-empty list"
        pending: set[str] = set()
        for m in messages:
            if m.get("role") not in ROLES:
                return f"unknown role {m.get('role')!r}"
            if m["role"] == "tool":
                pending.discard(m.get("tool_call_id", ""))
            elif pending:
                return f"tool calls {sorted(pending)} were not answered"
            for call in m.get("tool_calls") or []:
                pending.add(call["id"])
        if pending:
            return f"tool calls {sorted(pending)} were not answered"
        for tool in body.get("tools", []):
            fn = tool.get("function", {})
            if tool.get("type") != "function" or not fn.get("name") \
                    or fn.get("parameters", {}).get("type") != "object":
                return f"bad tool {tool}"
        return None

    async def _complete(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._refuse(401, "Incorrect API key provided")
        body = await request.json()
        problem = self._problem(body)
        if problem is not None:
            return self._refuse(400, problem)
        self.requests.append(body)
        if not self.script:
            return self._refuse(500, "the script has no step left")
        message = self.script.pop(0)(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": MODEL,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if message.get("tool_calls")
                         else "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def tool_names(self, index: int) -> set[str]:
        """The tool names offered in request ``index``."""
        return {t["function"]["name"] for t in self.requests[index].get("tools", [])}
