"""A local stand-in for a LiveKit server's RoomService and Egress service (Twirp over
HTTP, protobuf bodies), plus webhook signing exactly as LiveKit does it.

It checks what it receives, like LiveKit would: the bearer must be a JWT signed with the
configured key pair (issuer = key, unexpired) carrying the grant the method needs, and
the body must parse as the method's request message. Refused calls answer as LiveKit
does (Twirp JSON error) and are kept in ``refused`` so tests can assert there were none.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from livekit import api

from tests.support.fake_http import serve

KEY = "APIfakeKey"
SECRET = "fake-livekit-secret-0123456789abcdef0123456789"


@dataclass
class Call:
    method: str
    claims: dict[str, Any]  # the verified JWT claims of the Authorization header
    body: dict[str, Any]  # the request message as a dict (proto field names)


@dataclass
class FakeLiveKit:
    key: str = KEY
    secret: str = SECRET
    calls: list[Call] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    participants: dict[str, set[str]] = field(default_factory=dict)  # room -> identities
    egresses: dict[str, api.EgressInfo] = field(default_factory=dict)  # egress id -> info
    # Egress behaviour tests can set: answer this Twirp error (status, code, msg) instead,
    # and take this long to answer (so concurrent callers overlap).
    egress_error: tuple[int, str, str] | None = None
    egress_delay: float = 0.0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeLiveKit:
        app = web.Application()
        app.router.add_post("/twirp/livekit.RoomService/CreateRoom", self._create_room)
        app.router.add_post("/twirp/livekit.RoomService/RemoveParticipant", self._remove)
        app.router.add_post("/twirp/livekit.Egress/StartRoomCompositeEgress",
                            self._start_composite)
        app.router.add_post("/twirp/livekit.Egress/StopEgress", self._stop_egress)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def env(self, **extra: str) -> dict[str, str]:
        """Hub environment pointing at this fake."""
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.key,
                "LIVEKIT_API_SECRET": self.secret, **extra}

    def sign_webhook(self, body: str) -> str:
        """The Authorization header LiveKit sends: a JWT whose sha256 claim is the body's."""
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        return (api.AccessToken(self.key, self.secret).with_sha256(digest)
                .with_ttl(datetime.timedelta(minutes=5)).to_jwt())

    # -- Twirp handlers -------------------------------------------------------------

    def _refuse(self, status: int, code: str, msg: str) -> web.Response:
        self.refused.append(f"{code}: {msg}")
        return web.json_response({"code": code, "msg": msg}, status=status)

    def _claims(self, request: web.Request) -> dict[str, Any] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.secret, algorithms=["HS256"], issuer=self.key,
                options={"require": ["exp", "iss"]})
        except jwt.PyJWTError:
            return None
        return claims

    async def _parse(self, request: web.Request, message: Any) -> Any:
        if request.content_type != "application/protobuf":
            return None
        return message.FromString(await request.read())

    async def _create_room(self, request: web.Request) -> web.Response:
        claims = self._claims(request)
        if claims is None:
            return self._refuse(401, "unauthenticated", "invalid token")
        if claims.get("video", {}).get("roomCreate") is not True:
            return self._refuse(403, "permission_denied", "roomCreate grant required")
        req = await self._parse(request, api.CreateRoomRequest)
        if req is None or not req.name:
            return self._refuse(400, "malformed", "CreateRoomRequest with a name required")
        self.calls.append(Call("CreateRoom", claims, MessageToDict(
            req, preserving_proto_field_name=True)))
        self.participants.setdefault(req.name, set())
        room = api.Room(sid=f"RM_{uuid.uuid4().hex[:12]}", name=req.name)
        return web.Response(body=room.SerializeToString(), content_type="application/protobuf")

    async def _remove(self, request: web.Request) -> web.Response:
        claims = self._claims(request)
        if claims is None:
            return self._refuse(401, "unauthenticated", "invalid token")
        req = await self._parse(request, api.RoomParticipantIdentity)
        if req is None or not req.room or not req.identity:
            return self._refuse(400, "malformed", "room and identity required")
        video = claims.get("video", {})
        if video.get("roomAdmin") is not True or video.get("room") != req.room:
            return self._refuse(403, "permission_denied", "roomAdmin grant for the room")
        self.calls.append(Call("RemoveParticipant", claims, MessageToDict(
            req, preserving_proto_field_name=True)))
        present = self.participants.get(req.room, set())
        if req.identity not in present:  # what LiveKit answers; the hub must shrug
            return web.json_response({"code": "not_found", "msg": "participant not found"},
                                     status=404)
        present.discard(req.identity)
        return web.Response(body=api.RemoveParticipantResponse().SerializeToString(),
                            content_type="application/protobuf")

    def _recorder(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        """The claims of an Egress call (roomRecord grant), or the refusal to answer."""
        claims = self._claims(request)
        if claims is None:
            return None, self._refuse(401, "unauthenticated", "invalid token")
        if claims.get("video", {}).get("roomRecord") is not True:
            return None, self._refuse(403, "permission_denied", "roomRecord grant required")
        return claims, None

    async def _egress_answer(self) -> web.Response | None:
        await asyncio.sleep(self.egress_delay)
        if self.egress_error is not None:
            status, code, msg = self.egress_error
            return web.json_response({"code": code, "msg": msg}, status=status)
        return None

    async def _start_composite(self, request: web.Request) -> web.Response:
        claims, refused = self._recorder(request)
        if refused is not None:
            return refused
        assert claims is not None
        req = await self._parse(request, api.RoomCompositeEgressRequest)
        if (req is None or not req.room_name or len(req.file_outputs) != 1
                or not req.file_outputs[0].filepath):
            return self._refuse(400, "malformed", "room_name and one file output required")
        self.calls.append(Call("StartRoomCompositeEgress", claims, MessageToDict(
            req, preserving_proto_field_name=True)))
        failed = await self._egress_answer()
        if failed is not None:
            return failed
        info = api.EgressInfo(egress_id=f"EG_{uuid.uuid4().hex[:12]}", room_name=req.room_name,
                              status=api.EgressStatus.EGRESS_STARTING,
                              started_at=time.time_ns(), room_composite=req)
        self.egresses[info.egress_id] = info
        return web.Response(body=info.SerializeToString(), content_type="application/protobuf")

    async def _stop_egress(self, request: web.Request) -> web.Response:
        claims, refused = self._recorder(request)
        if refused is not None:
            return refused
        assert claims is not None
        req = await self._parse(request, api.StopEgressRequest)
        if req is None or not req.egress_id:
            return self._refuse(400, "malformed", "egress_id required")
        self.calls.append(Call("StopEgress", claims, MessageToDict(
            req, preserving_proto_field_name=True)))
        failed = await self._egress_answer()
        if failed is not None:
            return failed
        info = self.egresses.get(req.egress_id)
        if info is None:
            return web.json_response({"code": "not_found", "msg": "egress not found"},
                                     status=404)
        info.status = api.EgressStatus.EGRESS_ENDING
        return web.Response(body=info.SerializeToString(), content_type="application/protobuf")

    def egress_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]


def egress_webhook_body(event: str, room: str, egress_id: str, status: str, *,
                        error: str = "", location: str = "",
                        created_at: int = 1_800_000_000) -> str:
    """An egress_* webhook body as LiveKit sends it: the room is in egressInfo.roomName."""
    info: dict[str, Any] = {"egressId": egress_id, "roomName": room, "status": status}
    if error:
        info["error"] = error
    if location:
        info["fileResults"] = [{"filename": location.rsplit("/", 1)[-1], "location": location}]
    return json.dumps({"event": event, "id": f"EV_{uuid.uuid4().hex[:12]}",
                       "createdAt": str(created_at), "egressInfo": info})


def webhook_body(event: str, room: str, *, event_id: str | None = None,
                 identity: str | None = None, created_at: int = 1_800_000_000,
                 hidden: bool = False) -> str:
    """A webhook body in LiveKit's JSON (protojson, camelCase) form."""
    body: dict[str, Any] = {"event": event, "room": {"sid": "RM_test", "name": room},
                            "id": event_id or f"EV_{uuid.uuid4().hex[:12]}",
                            "createdAt": str(created_at)}
    if identity is not None:
        body["participant"] = {"sid": f"PA_{uuid.uuid4().hex[:8]}", "identity": identity,
                               "state": "ACTIVE", "permission": {"hidden": hidden}}
    return json.dumps(body)
