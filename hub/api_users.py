"""Operator API: users (platform key). Create-or-look-up by external_id and/or email, read.

A user is global (one person in several organizations); which orgs they belong to, and
as what, is the memberships routes' business (``hub.admin_api``).
"""

from __future__ import annotations

import uuid

from litestar import get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Response

from hub import operator_auth as op
from hub.operator_wire import User, UserCreate
from integrations import http_docs as docs
from integrations.http import AnyRequest, PoolDep, require_api_key
from persistence import users

_NO_DB: docs.Errors = {503: "Users need Postgres"}


@post("/api/users", guards=[require_api_key], security=docs.API_KEY_SECURITY,
      summary="Create a user, or look one up by external_id and/or email (platform key)",
      description="201 with the new user; 200 with the existing one (which gets the"
                  " external_id or email it lacked). Emails are stored in lower case.",
      operation_class=docs.documented(docs.json_body(
          UserCreate, "Who: at least one of external_id (your own id for them, the `sub`"
                      " of their tokens) and email")),
      responses=docs.errors(docs.API_KEY_ERRORS, op.BODY_422, docs.BACKING, _NO_DB, {
          409: "external_id and email belong to different users, or the user found has"
               " another one stored"}) | docs.ok(User, "An existing user", status=200))
async def create_user(request: AnyRequest, pool: PoolDep) -> Response[User]:
    pool = op.need_db(pool)
    body = await op.decode(request, UserCreate)
    email = None if body.email is None else body.email.strip().lower()
    if body.external_id is None and email is None:
        raise HTTPException("give external_id or email (or both)", status_code=422)
    name = body.display_name or body.external_id or str(email)
    try:
        row, created = await users.find_or_create(pool, body.external_id, email, name)
    except users.Conflict as exc:
        raise HTTPException(str(exc), status_code=409) from None
    return Response(User(**dict(row)), status_code=201 if created else 200)


@get("/api/users/{user_id:uuid}", guards=[require_api_key], security=docs.API_KEY_SECURITY,
     summary="A user (platform key)", operation_class=docs.documented(drop=[400]),
     responses=docs.errors(docs.API_KEY_ERRORS, docs.BACKING, _NO_DB, docs.PATH_ID_ERRORS,
                           {404: "Unknown user"}))
async def read_user(user_id: uuid.UUID, pool: PoolDep) -> User:
    pool = op.need_db(pool)
    row = await users.get(pool, user_id)
    if row is None:
        raise NotFoundException("unknown user")
    return User(**dict(row))


ROUTES = [create_user, read_user]
