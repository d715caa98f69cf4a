"""rooms.access.authorize: the one role matrix and org check, without I/O."""

from __future__ import annotations

import uuid

import pytest

from rooms.access import JOIN, PUBLISH, Access, authorize, event_of
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal
from rooms.roles import STAFF, Role

ORG, OTHER = uuid.uuid4(), uuid.uuid4()
ORG_ROOM = RoomName(RoomKind.ORG, ORG)
EVENT_ROOM = RoomName(RoomKind.EVENT, uuid.uuid4())


def who(*roles: Role, org: uuid.UUID = ORG) -> Principal:
    return Principal(sub="u", org=org, roles=frozenset(roles))


def refused(fn: object, *args: object) -> ServiceError:
    with pytest.raises(ServiceError) as exc:
        fn(*args)  # type: ignore[operator]
    return exc.value


@pytest.mark.parametrize(("role", "org_room", "event_room"), [
    (Role.VIEWER, False, False), (Role.PERFORMER, False, True), (Role.DJ, True, True),
    (Role.MODERATOR, True, True), (Role.ADMIN, True, True)])
def test_publish_matrix(role: Role, org_room: bool, event_room: bool) -> None:
    """Raw publish: staff in org rooms, hosts in event rooms, never viewers."""
    for room, allowed in ((ORG_ROOM, org_room), (EVENT_ROOM, event_room)):
        if allowed:
            authorize(who(role), room, PUBLISH, ORG)
        else:
            err = refused(authorize, who(role), room, PUBLISH, ORG)
            assert (err.code, err.reason) == (
                ErrorCode.FORBIDDEN, f"your roles cannot publish to {room.kind} rooms")


def test_another_orgs_event_looks_unknown_and_org_room_is_forbidden() -> None:
    """Event ids cannot be probed (4404 as for no event); another org's org room is 4403."""
    for owner in (OTHER, None):
        err = refused(authorize, who(Role.ADMIN), EVENT_ROOM, JOIN, owner)
        assert (err.code, err.reason) == (ErrorCode.UNKNOWN_ROOM, "unknown event")
    err = refused(authorize, who(Role.ADMIN), RoomName(RoomKind.ORG, OTHER), JOIN, OTHER)
    assert err.code == ErrorCode.FORBIDDEN
    authorize(who(Role.VIEWER), EVENT_ROOM, JOIN, ORG)  # a member of the org may join


def test_server_only_actions_refuse_every_client_role() -> None:
    """A server-only action needs the server principal, whatever roles a token claims."""
    paid = Access("tips.paid", server_only=True)
    err = refused(authorize, who(*Role), EVENT_ROOM, paid, ORG)
    assert (err.code, err.reason) == (ErrorCode.FORBIDDEN,
                                      "tips.paid is called by the server only")
    authorize(Principal.server(ORG), EVENT_ROOM, paid, ORG)
    err = refused(authorize, Principal.server(OTHER), EVENT_ROOM, paid, ORG)
    assert err.code == ErrorCode.UNKNOWN_ROOM  # the server acts in one org too


def test_method_roles_name_what_is_missing() -> None:
    """A staff method refuses a viewer and says which roles it needs."""
    err = refused(authorize, who(Role.VIEWER), EVENT_ROOM, Access("requests.accept", STAFF), ORG)
    assert err.reason == "requests.accept needs one of the roles admin, dj, moderator"


def test_event_of_refuses_org_rooms() -> None:
    """Services that only run in event rooms share one guard."""
    assert event_of(EVENT_ROOM, "tips") == EVENT_ROOM.id
    err = refused(event_of, ORG_ROOM, "karaoke")
    assert (err.code, err.reason) == (ErrorCode.UNKNOWN_ROOM, "karaoke runs in event rooms only")
