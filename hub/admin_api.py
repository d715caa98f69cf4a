"""Operator API: an organization's members and their roles. The platform key, or an admin
token of that org (``hub.operator_auth``).

Role changes are written to ``audit_log`` in the same transaction as the change, with the
actor: the token's subject, or the ``actor_id`` the back office names with the key. After
the commit every node is told (``hub.memberships``), so the user's open connections lose
or gain staff powers within a second.

Owners are protected: only an owner (or the platform key) grants, changes or removes the
owner role, and nobody demotes or removes an org's last owner (409).
"""

from __future__ import annotations

import uuid

from litestar import delete, get, put
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException

from hub import operator_auth as op
from hub.memberships import subs_of
from hub.operator_wire import Member, Members, Membership, RoleChange
from integrations import http_docs as docs
from integrations.http import AnyRequest, BearerDep, PoolDep
from persistence import members
from persistence.audit import audit
from persistence.members import Conn
from persistence.tenant import Tenant, tenant_tx
from rooms.principal import Principal

_OWNER_ERRORS: docs.Errors = {
    403: "Only an owner (or the platform key) grants, changes or removes the owner role",
    409: "That would leave the organization without an owner"}


async def _guard_owners(conn: Conn, who: Principal, org: uuid.UUID, user: uuid.UUID,
                        previous: str | None, role: str | None) -> None:
    """Refuse a change of ``user`` from ``previous`` to ``role`` (None: removal) that an
    admin may not make, or that leaves ``org`` without an owner.

    Raises:
        PermissionDeniedException: a non-owner token touches the owner role (403).
        HTTPException: the last owner would go (409).
    """
    if "owner" not in (previous, role):
        return
    if not who.is_server:
        mine = await members.member_for_sub(conn, org, who.sub)
        if mine is None or mine["role"] != "owner":
            raise PermissionDeniedException("only an owner grants, changes or removes the"
                                            " owner role")
    if previous == "owner" and role != "owner" and await members.owners(conn, org) == [user]:
        raise HTTPException("the organization's last owner cannot be demoted or removed",
                            status_code=409)


def _tenant(who: Principal, actor_id: uuid.UUID | None) -> Tenant:
    """The caller's claims; with the platform key the named actor is the user claim, so the
    audit row can link to their users row (visible to its own claim under RLS)."""
    return Tenant(who.org, actor_id, "admin") if who.is_server else who.tenant()


async def _announce(request: AnyRequest, org: uuid.UUID, user: uuid.UUID,
                    external_id: str | None) -> None:
    hub = op.hub_of(request)
    if hub.memberships is not None:
        await hub.memberships.announce(org, subs_of(user, external_id))


@get("/api/orgs/{org_id:uuid}/members", security=op.KEY_OR_BEARER,
     summary="An organization's members and roles (platform key, or an admin token of the org)",
     operation_class=docs.documented(drop=[400]),  # no body, no query; ids are in the route
     responses=docs.errors(op.KEY_OR_BEARER_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS))
async def list_members(request: AnyRequest, org_id: uuid.UUID, pool: PoolDep,
                       bearer: BearerDep) -> Members:
    async with op.org_tx(request, org_id, bearer, pool) as (conn, _):
        rows = await members.roster(conn, org_id)
    return Members(org_id, [Member(**dict(row)) for row in rows])


@put("/api/orgs/{org_id:uuid}/members/{user_id:uuid}", status_code=200,
     security=op.KEY_OR_BEARER,
     summary="Set a user's role in an organization (platform key, or an admin token of the"
             " org; audited)",
     operation_class=docs.documented(docs.json_body(
         RoleChange, "The role; with the platform key, actor_id names who made the change")),
     responses=docs.errors(op.KEY_OR_BEARER_ERRORS, op.BODY_422, docs.BACKING, docs.PATH_ID_ERRORS,
                           _OWNER_ERRORS, {404: "Unknown organization or user"}))
async def set_role(request: AnyRequest, org_id: uuid.UUID, user_id: uuid.UUID,
                   pool: PoolDep, bearer: BearerDep) -> Membership:
    who = await op.org_caller(request, org_id, bearer)
    pool = op.need_db(pool)
    data = await op.decode(request, RoleChange)
    actor = data.actor_id if who.is_server else who.sub
    async with tenant_tx(pool, _tenant(who, data.actor_id)) as conn:
        found = await members.member(conn, org_id, user=user_id)
        previous = None if found is None else found["role"]
        await _guard_owners(conn, who, org_id, user_id, previous, data.role)
        await members.put(conn, org_id, user_id, data.role)  # unknown org or user: FK, 404
        if previous != data.role:
            await audit(conn, actor, "membership.role", str(user_id),
                        {"from": previous, "to": data.role})
        external_id = await conn.fetchval(_EXTERNAL_ID, user_id)
    if previous != data.role:
        await _announce(request, org_id, user_id, external_id)
    return Membership(org_id, user_id, data.role, previous)


@delete("/api/orgs/{org_id:uuid}/members/{user_id:uuid}", status_code=204,
        security=op.KEY_OR_BEARER,
        summary="Remove a user from an organization (platform key, or an admin token of the"
                " org; audited)",
        responses=docs.errors(op.KEY_OR_BEARER_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS,
                              _OWNER_ERRORS, {
            400: "actor_id is not a UUID",
            404: "The user is not a member of the organization"}))
async def remove_member(request: AnyRequest, org_id: uuid.UUID, user_id: uuid.UUID,
                        pool: PoolDep, bearer: BearerDep,
                        actor_id: uuid.UUID | None = None) -> None:
    who = await op.org_caller(request, org_id, bearer)
    pool = op.need_db(pool)
    async with tenant_tx(pool, _tenant(who, actor_id)) as conn:
        found = await members.member(conn, org_id, user=user_id)
        if found is None:
            raise NotFoundException("no such member")
        await _guard_owners(conn, who, org_id, user_id, found["role"], None)
        await members.remove(conn, org_id, user_id)
        await audit(conn, actor_id if who.is_server else who.sub, "membership.remove",
                    str(user_id), {"from": found["role"]})
    await _announce(request, org_id, user_id, found["external_id"])


_EXTERNAL_ID = "SELECT external_id FROM users WHERE id = $1"
ROUTES = [list_members, set_role, remove_member]
