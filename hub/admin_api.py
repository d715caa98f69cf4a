"""Back-office HTTP API (server API key): organization membership and roles.

Role changes are written to ``audit_log`` in the same transaction as the change,
with the acting user (``actor_id``) the back office names. After the commit every
node is told (``hub.memberships``), so the user's open connections lose or gain staff
powers within a second.
"""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec
from litestar import Request, delete, put
from litestar.exceptions import ClientException, NotFoundException

from hub.memberships import subs_of
from hub.runtime import Hub
from integrations import http_docs as docs
from integrations.http import require_api_key
from persistence.audit import audit
from persistence.tenant import Tenant, tenant_tx

MemberRole = Literal["owner", "admin", "dj", "moderator", "performer", "viewer"]


class RoleChange(msgspec.Struct, frozen=True):
    role: MemberRole
    actor_id: uuid.UUID | None = None  # who made the change, for the audit trail


class Membership(msgspec.Struct, frozen=True):
    organization_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    previous_role: str | None


_NO_POSTGRES: docs.Errors = {503: "Memberships need Postgres"}


@put("/api/orgs/{org_id:uuid}/members/{user_id:uuid}", status_code=200,
     guards=[require_api_key],
     security=docs.API_KEY_SECURITY, summary="Set a user's role in an organization (audited)",
     responses=docs.errors(docs.API_KEY_ERRORS, docs.BODY_ERRORS, docs.BACKING, _NO_POSTGRES,
                           docs.PATH_ID_ERRORS, {
         400: "The body is not {role, actor_id?} with a known role",
         404: "Unknown organization, user or actor"}))
async def set_role(request: Request, org_id: uuid.UUID,  # type: ignore[type-arg]
                   user_id: uuid.UUID, data: RoleChange) -> Membership:
    hub: Hub = request.app.state.hub
    if hub.db is None:
        raise ClientException("memberships need Postgres", status_code=503)
    async with tenant_tx(hub.db, Tenant(org_id, data.actor_id, "admin")) as conn:
        previous = await conn.fetchval(
            "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2"
            " FOR UPDATE", org_id, user_id)
        await conn.execute(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)"
            " ON CONFLICT (organization_id, user_id) DO UPDATE SET role = $3",
            org_id, user_id, data.role)
        if previous != data.role:
            await audit(conn, data.actor_id, "membership.role", str(user_id),
                        {"from": previous, "to": data.role})
        external_id = await conn.fetchval(_EXTERNAL_ID, user_id)
    if previous != data.role and hub.memberships is not None:
        await hub.memberships.announce(org_id, subs_of(user_id, external_id))
    return Membership(org_id, user_id, data.role, previous)


@delete("/api/orgs/{org_id:uuid}/members/{user_id:uuid}", status_code=204,
        guards=[require_api_key], security=docs.API_KEY_SECURITY,
        summary="Remove a user from an organization (audited)",
        responses=docs.errors(docs.API_KEY_ERRORS, docs.BACKING, _NO_POSTGRES,
                              docs.PATH_ID_ERRORS, {
            400: "actor_id is not a UUID",
            404: "The user is not a member of the organization"}))
async def remove_member(request: Request, org_id: uuid.UUID,  # type: ignore[type-arg]
                        user_id: uuid.UUID, actor_id: uuid.UUID | None = None) -> None:
    hub: Hub = request.app.state.hub
    if hub.db is None:
        raise ClientException("memberships need Postgres", status_code=503)
    async with tenant_tx(hub.db, Tenant(org_id, actor_id, "admin")) as conn:
        external_id = await conn.fetchval(_EXTERNAL_ID, user_id)  # visible while a member
        previous = await conn.fetchval(
            "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2"
            " RETURNING role", org_id, user_id)
        if previous is None:
            raise NotFoundException("no such member")
        await audit(conn, actor_id, "membership.remove", str(user_id), {"from": previous})
    if hub.memberships is not None:
        await hub.memberships.announce(org_id, subs_of(user_id, external_id))


_EXTERNAL_ID = "SELECT external_id FROM users WHERE id = $1"
