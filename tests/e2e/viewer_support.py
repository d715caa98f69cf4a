"""Helpers for the viewer (``/e/<event>``) and overlay (``/overlay/<secret>``) page tests."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tests.support.hubproc import HubProcess

Page = Any


class Watched:
    """A page with its uncaught errors and dialogs recorded (both must stay empty)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self._pending: set[asyncio.Future[Any]] = set()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        # The page's CSP and Trusted Types must hold for our code and livekit-client alike.
        if message.type == "error" and any(
                word in message.text for word in ("Content Security Policy", "Trusted")):
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        task = asyncio.ensure_future(dialog.dismiss())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def assert_clean(self) -> None:
        assert self.errors == [] and self.dialogs == [], (self.errors, self.dialogs)


async def open_page(context: Any, url: str) -> Watched:
    watched = Watched(await context.new_page())
    await watched.page.goto(url)
    return watched


async def viewer(context: Any, hub: HubProcess, event: uuid.UUID,
                 tok: str | None = None) -> Watched:
    """The viewer page signed in with ``tok`` (or not), connected when a token is given."""
    watched = await open_page(context, f"{hub.url}/e/{event}" + (f"#token={tok}" if tok else ""))
    if tok:
        await connected(watched.page)
    return watched


async def connected(page: Page) -> None:
    await page.locator("#connection", has_text="Connected").wait_for(timeout=15_000)


async def join_as_guest(context: Any, hub: HubProcess, event: uuid.UUID, name: str) -> Watched:
    """Open the page without a token and join through the guest form."""
    watched = await open_page(context, f"{hub.url}/e/{event}")
    await watched.page.fill("#guest-name", name)
    await watched.page.click("#guest-form button[type=submit]")
    await connected(watched.page)
    return watched


async def send_chat(page: Page, text: str) -> None:
    await page.fill("#chat-text", text)
    await page.press("#chat-text", "Enter")


async def chat_texts(page: Page) -> list[str]:
    """The confirmed messages' texts, in order (not the ones still sending)."""
    confirmed = page.locator("#chat .chat-log li.msg:not(.pending) .what")
    texts: list[str] = await confirmed.all_inner_texts()
    return texts


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def jwt_claims(jwt: str) -> dict[str, Any]:
    """A JWT's claims, unverified (the test inspects what the page was handed)."""
    part = jwt.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims
