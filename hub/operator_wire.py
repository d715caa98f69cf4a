"""Bodies and answers of the operator API (``hub/api_*.py``), as msgspec Structs.

Constraints live here, so the decoder refuses bad values (422 naming the field) before
any SQL runs, and the OpenAPI schema shows them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from hub.products import Product
from persistence.orgs import SLUG_PATTERN
from rooms.roles import Role

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Slug = Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN,
                                   description="lowercase a-z, 0-9 and -, 3..63 characters")]
Cents = Annotated[int, msgspec.Meta(ge=0, le=2_147_483_647)]
SmsNumber = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}\Z",
                                        description="E.164, e.g. +15551234567")]
BlockedAction = Literal["reject", "hold"]
ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\Z",
                                    max_length=254)]
MemberRole = Literal["owner", "admin", "dj", "moderator", "performer", "viewer"]


class OrgCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    product_context: Product
    slug: Slug | None = None  # default: from the name (with a suffix if taken)
    tip_priority_cents: Cents | None = None
    sms_number: SmsNumber | None = None


class OrgPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Only the fields present change; null clears tip_priority_cents or sms_number."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    slug: Slug | msgspec.UnsetType = msgspec.UNSET
    product_context: Product | msgspec.UnsetType = msgspec.UNSET
    tip_priority_cents: Cents | msgspec.UnsetType | None = msgspec.UNSET
    sms_number: SmsNumber | msgspec.UnsetType | None = msgspec.UNSET
    blocked_words: list[str] | msgspec.UnsetType = msgspec.UNSET  # replaces the list
    blocked_action: BlockedAction | msgspec.UnsetType = msgspec.UNSET


class Org(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str
    slug: str
    product_context: str
    brand: str  # the product for the request's Host (HUB_PRODUCT_HOSTS), else product_context
    tip_priority_cents: int | None
    sms_number: str | None
    blocked_words: list[str]
    blocked_action: str
    created_at: dt.datetime


class UserCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """At least one of external_id and email."""

    external_id: ExternalId | None = None
    email: Email | None = None
    display_name: Name | None = None  # default: the external_id, else the email


class User(msgspec.Struct, frozen=True):
    id: uuid.UUID
    display_name: str
    external_id: str | None
    email: str | None
    created_at: dt.datetime


class RoleChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: MemberRole
    actor_id: uuid.UUID | None = None  # platform key only: who made it, for the audit trail


class Membership(msgspec.Struct, frozen=True):
    organization_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    previous_role: str | None


class Member(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    role: str
    display_name: str
    external_id: str | None
    email: str | None
    since: dt.datetime


class Members(msgspec.Struct, frozen=True):
    organization_id: uuid.UUID
    members: list[Member]


class TokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Exactly one of user_id and external_id."""

    role: Role
    user_id: uuid.UUID | None = None
    external_id: ExternalId | None = None
    ttl: Annotated[int, msgspec.Meta(ge=1)] = 3600  # seconds; capped at HUB_MAX_TOKEN_TTL


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    sub: str  # the user's external_id if set, else their users.id
    org: uuid.UUID
    roles: list[str]
    expires_at: int  # unix seconds
