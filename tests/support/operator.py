"""The operator API over HTTP, for tests: the platform key, or a bearer token."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.support.hubproc import API_KEY, HubProcess

KEY = {"X-API-Key": API_KEY}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(hub: HubProcess, method: str, path: str, *, headers: dict[str, str] | None = None,
               **kwargs: Any) -> httpx.Response:
    """One request with the platform key unless ``headers`` say otherwise."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return await asyncio.wait_for(
            http.request(method, path, headers=KEY if headers is None else headers, **kwargs),
            15)


async def new_org(hub: HubProcess, **fields: Any) -> dict[str, Any]:
    """A fresh organization (platform key); its JSON."""
    body = {"name": "Club Nova", "product_context": "djdash", **fields}
    created = await call(hub, "POST", "/api/orgs", json=body)
    assert created.status_code == 201, created.text
    org: dict[str, Any] = created.json()
    return org


async def member_token(hub: HubProcess, org: str, external_id: str, membership: str,
                       role: str) -> tuple[uuid.UUID, str]:
    """A user with ``membership`` in ``org`` and a minted ``role`` token: (user id, token)."""
    user = await call(hub, "POST", "/api/users", json={"external_id": external_id})
    assert user.status_code in (200, 201), user.text
    user_id = user.json()["id"]
    put = await call(hub, "PUT", f"/api/orgs/{org}/members/{user_id}", json={"role": membership})
    assert put.status_code == 200, put.text
    minted = await call(hub, "POST", f"/api/orgs/{org}/tokens",
                        json={"external_id": external_id, "role": role})
    assert minted.status_code == 200, minted.text
    return uuid.UUID(user_id), minted.json()["token"]
