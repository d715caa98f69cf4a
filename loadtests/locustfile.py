"""Locust users for the hub: a night of viewers, chatters, fans, tippers and a DJ per room.

Run by ``python -m loadtests.load`` (``make load``), which starts the hub, seeds tokens
with ``hub seed`` and writes the plan this file reads (``--plan``). Each user holds one
websocket (``loadtests.locust_ws``) subscribed to its org's event room:

| user | share | does |
|---|---|---|
| ``Viewer`` | the rest | listens; about one chat per 15 min |
| ``Chatter`` | 4% | a chat every 15-30 s (the room allows 5 per 10 s per user) |
| ``Fan`` | 10% | every 1-3 min requests a song (30 titles: many merge into votes) or votes |
| ``Tipper`` | 2% | every 1-2 min a Stripe checkout for a tip, then Stripe's signed webhook |
| ``Dj`` | 1 per room | every 3-6 s runs the queue (accept, play now, played, decline) |

The DJ also announces (a raw ``publish``) every ~10 s. A fan with three requests open
votes instead of requesting: the hub refuses a fourth (4422).

Chat text, request notes, tip messages and announcements carry ``lt:<ns>`` (wall clock),
so every receiver reports delivery latency (``loadtests.locust_ws``). The master prints
progress and writes the results (``loadtests.locust_report``).

locust (gevent) is imported first; nothing here imports the hub's packages, whose ssl
users (redis, openai, jwt) must not load before gevent patches ssl.
"""

from __future__ import annotations

# locust first: its gevent must patch ssl before anything else loads it.
from locust import HttpUser, User, events, task

# isort: split

import hashlib
import hmac
import itertools
import json
import os
import random
import secrets
import time
from typing import Any

import gevent
import locust.runners
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests import locust_report
from loadtests.locust_ws import TALLY, HubError, HubSocket, stamp

PLAN: dict[str, Any] = {}
ENV: list[Environment] = []
_slots = itertools.count()
_dj_slots = itertools.count()
SONGS = [(f"Song {n}", f"Artist {n % 7}") for n in range(30)]


def _options(parser: Any) -> None:
    parser.add_argument("--plan", default=os.environ.get("LIVEHUB_LOAD_PLAN", ""),
                        help="plan JSON written by python -m loadtests.load")


def _init(environment: Environment, **_: Any) -> None:
    path = getattr(environment.parsed_options, "plan", "") if environment.parsed_options else ""
    if not path:
        raise SystemExit("locustfile: --plan (from python -m loadtests.load) is required")
    with open(path) as f:
        PLAN.update(json.load(f))
    # The mix, as counts (locust dispatches fixed counts first; viewers take the rest).
    users = int(PLAN["users"])
    Dj.fixed_count = len(PLAN["orgs"])  # one per room
    for cls, share in ((Chatter, 0.04), (Fan, 0.10), (Tipper, 0.02)):
        cls.fixed_count = max(1, round(users * share))
    ENV[:] = [environment]
    # Two cores shared with the hub, Redis and Postgres: a worker can be starved for more
    # than locust's 3 s heartbeat liveness, and the master would then hand its users to
    # the others (more users than asked). Allow 30 s.
    locust.runners.HEARTBEAT_LIVENESS = 30
    locust_report.install(environment, PLAN)


events.init_command_line_parser.add_listener(_options)
events.init.add_listener(_init)


def _worker() -> tuple[int, int]:
    """(this process's index, how many processes hold users)."""
    runner = ENV[0].runner if ENV else None
    if isinstance(runner, WorkerRunner):
        return max(runner.worker_index, 0), max(int(PLAN.get("processes", 1)), 1)
    return 0, 1


def paced(low: float, high: float) -> Any:
    """A locust wait_time of ``low..high`` s divided by the plan's ``pace`` (tests speed a
    night up; the hub's per-user chat limit still holds at the pace they use)."""
    def wait(_: Any) -> float:
        return random.uniform(low, high) / float(PLAN.get("pace", 1.0))
    return wait


def _source_ip(n: int, block: int) -> str:
    """Loopback source address for connection ``n``: ``per_address`` per address, so the
    hub's per-address cap and the ephemeral ports of one address are never the limit."""
    k = n // int(PLAN.get("per_address", 200))
    return f"127.{block}.{k // 250}.{2 + k % 250}"


class HubUser(User):
    """One websocket subscribed to an event room, reconnecting when it drops."""

    abstract = True
    parses = False  # keeps the request queue (fans, the DJ): parses queue events
    sock: HubSocket | None = None

    def on_start(self) -> None:
        index, procs = _worker()
        self.slot = next(_slots) * procs + index  # unique over all worker processes
        orgs = PLAN["orgs"]
        self.org = orgs[self.slot % len(orgs)]
        fans = self.org["fan_tokens"]
        self.token = fans[(self.slot // len(orgs)) % len(fans)]
        self.source_ip = _source_ip(self.slot, 0)
        self.setup()

    def setup(self) -> None:
        self.room = self.org["rooms"][0]
        self.event_id = self.org["events"][0]
        self.queue: list[dict[str, Any]] = []
        self.now_playing: dict[str, Any] | None = None
        self.version = 0
        self.connect()
        # A first action at a random point of the user's own pace, not all at once on arrival.
        gevent.sleep(random.uniform(0, self.wait_time()))

    def connect(self) -> bool:
        """Connect and subscribe; False (and a pause) when the hub refused or failed."""
        if self.sock is not None:
            self.sock.close()
        self.sock = HubSocket(self.environment, PLAN["ws_url"], self.token, self.source_ip,
                              self.on_frame if self.parses else None)
        try:
            self.sock.connect()
            self.sock.call("subscribe", {"type": "subscribe", "room": self.room})
            self.backoff = 1.0
            return True
        except Exception:
            self.sock.close()
            # Back off as a browser would (jittered, doubling to 30 s), so a struggling
            # hub is not hit by a reconnect storm of our own making.
            self.backoff = min(getattr(self, "backoff", 1.0) * 2, 30.0)
            gevent.sleep(random.uniform(0.5, 1.0) * self.backoff)
            return False

    def live(self) -> HubSocket | None:
        """The socket, reconnecting first when it dropped; None while it cannot."""
        if (self.sock is None or not self.sock.connected) and not self.connect():
            return None
        return self.sock

    def on_stop(self) -> None:
        if self.sock is not None:
            self.sock.close()

    def call(self, name: str, frame: dict[str, Any]) -> dict[str, Any] | None:
        sock = self.live()
        if sock is None:
            return None
        try:
            return sock.call(name, frame)
        except (HubError, ConnectionError):
            return None  # reported by the socket

    def chat(self) -> None:
        self.call("chat", {"type": "chat", "room": self.room,
                           "text": f"so good tonight {stamp()}",
                           "client_msg_id": secrets.token_hex(8)})

    # -- the request queue, for users that keep it ------------------------------------

    def on_frame(self, data: bytes) -> None:
        if b'"requests"' not in data[:200]:
            return
        frame = json.loads(data)
        state = frame.get("data") if frame["type"] == "message" else frame.get("state")
        if frame["type"] == "snapshot" and frame.get("service") != "requests":
            return
        if isinstance(state, dict):
            self.take(state)

    def take(self, state: dict[str, Any]) -> None:
        if "version" in state and int(state["version"]) >= self.version:
            self.version = int(state.get("version", 0))
            self.queue = list(state.get("queue") or [])
            self.now_playing = state.get("now_playing")


class Viewer(HubUser):
    """Mostly listens; chats about once per 15 minutes."""

    weight = 1
    wait_time = paced(10, 30)

    @task(44)
    def listen(self) -> None:
        self.live()

    @task(1)
    def say(self) -> None:
        self.chat()


class Chatter(HubUser):
    fixed_count = 1  # set from the plan at init, as for the others below
    wait_time = paced(15, 30)

    @task
    def say(self) -> None:
        self.chat()


class Fan(HubUser):
    """Requests songs and votes for others' requests."""

    fixed_count = 1
    wait_time = paced(60, 180)
    parses = True
    MAX_OPEN = 3  # the hub's default max_open_per_fan: a fourth open request is refused

    def setup(self) -> None:
        self.mine: set[str] = set()  # ids of the requests this fan opened
        super().setup()

    def open_requests(self) -> int:
        """This fan's requests still pending or accepted, as the queue last showed them."""
        live = {r["id"] for r in self.queue if r.get("status") in ("pending", "accepted")}
        self.mine &= live  # played or declined ones are no longer open
        return len(self.mine)

    @task(1)
    def request_song(self) -> None:
        if self.open_requests() >= self.MAX_OPEN:
            # As the page does: with three songs waiting, a fan votes instead of asking
            # for a fourth (the hub would refuse it, 4422). Over a long run every fan
            # gets there, since the DJ plays a song per 15 s at most.
            songs = [r for r in self.queue if r.get("status") in ("pending", "accepted")
                     and r["id"] not in self.mine]
            if songs:
                self.call("requests.vote", {"type": "call", "room": self.room,
                                            "method": "requests.vote",
                                            "params": {"request_id": random.choice(songs)["id"]}})
            return
        title, artist = random.choice(SONGS)
        reply = self.call("requests.submit", {
            "type": "call", "room": self.room, "method": "requests.submit",
            "params": {"title": title, "artist": artist, "note": f"please! {stamp()}"}})
        result = (reply or {}).get("result")
        if isinstance(result, dict) and not result.get("merged"):
            self.mine.add(str(result["request"]["id"]))

    @task(2)
    def vote(self) -> None:
        pending = [r for r in self.queue if r.get("status") == "pending"]
        if not pending:
            return self.request_song()
        pick = random.choice(pending)
        self.call("requests.vote", {"type": "call", "room": self.room,
                                    "method": "requests.vote",
                                    "params": {"request_id": pick["id"]}})


class Dj(HubUser):
    """The room's DJ: runs the queue and announces. One per room (``fixed_count``)."""

    fixed_count = 1  # set to the number of rooms at init
    wait_time = paced(3, 6)
    parses = True

    def on_start(self) -> None:
        orgs = PLAN["orgs"]
        n = next(_dj_slots)
        self.org = orgs[self._claim(len(orgs), n)]
        self.token = self.org["dj_token"]
        self.source_ip = _source_ip(n, 1)
        self.playing_since = 0.0
        self.announced = 0.0
        self.setup()

    @staticmethod
    def _claim(rooms: int, n: int) -> int:
        """The first room no other DJ process took (exclusive create in the plan's folder)."""
        for room in range(rooms):
            try:
                os.close(os.open(os.path.join(PLAN["claims_dir"], f"dj-{room}"),
                                 os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return room
            except FileExistsError:
                continue
        return n % rooms

    def act(self, name: str, request_id: str, **params: Any) -> None:
        """A DJ action at the version seen; on 4412 take the hub's state and retry once."""
        for _ in range(2):
            sock = self.live()
            if sock is None:
                return
            try:
                reply = sock.call(name, {
                    "type": "call", "room": self.room, "method": name,
                    "params": {"request_id": request_id, "version": self.version, **params}})
            except HubError as exc:
                if exc.code == 4412 and isinstance(exc.state, dict):
                    self.take(exc.state)
                    continue
                return
            except ConnectionError:
                return
            if isinstance(reply.get("result"), dict):
                self.take(reply["result"])
            return

    @task
    def run_queue(self) -> None:
        now = time.monotonic()
        if now - self.announced > 10 / float(PLAN.get("pace", 1.0)):
            self.announced = now
            self.call("announce", {"type": "publish", "room": self.room, "data": {
                "type": "announce", "text": f"next up soon {stamp()}"}})
        playing = self.now_playing
        lined_up = [r for r in self.queue if r.get("lined_up")]
        pending = [r for r in self.queue if r.get("status") == "pending"]
        if playing and now - self.playing_since > 15 / float(PLAN.get("pace", 1.0)):
            self.act("requests.played", playing["id"])
        elif lined_up and not playing:
            self.playing_since = now
            self.act("requests.play_now", lined_up[0]["id"])
        elif pending and random.random() < 0.1:
            self.act("requests.decline", pending[-1]["id"], reason="not tonight")
        elif pending:
            self.act("requests.accept", pending[0]["id"])


class Tipper(HubUser, HttpUser):
    """Watches, and tips: a checkout through the hub, then Stripe's signed webhook for it."""

    fixed_count = 1
    wait_time = paced(60, 120)

    @task
    def tip(self) -> None:
        self.live()
        if not PLAN.get("stripe"):
            return  # a --host hub whose Stripe webhook secret we were not given
        amount = random.choice((300, 500, 1000, 2000))
        with self.client.post(f"/api/events/{self.event_id}/checkout", name="checkout",
                              headers={"Authorization": f"Bearer {self.token}"},
                              json={"kind": "tip", "amount_cents": amount,
                                    "message": f"great set {stamp()}", "from_name": "fan"},
                              catch_response=True) as res:
            if res.status_code != 200:
                res.failure(f"checkout {res.status_code}: {res.text[:120]}")
                TALLY.errors[f"http {res.status_code}"] += 1
                return
            started = res.json()
        body = json.dumps(self._completed(started, amount))
        with self.client.post("/webhooks/stripe", name="stripe webhook", data=body,
                              headers={"Stripe-Signature": sign(body, PLAN["stripe"]["secret"]),
                                       "Content-Type": "application/json"},
                              catch_response=True) as res:
            status = res.json().get("status") if res.status_code == 200 else None
            if status != "applied":
                res.failure(f"webhook {res.status_code}: {res.text[:120]}")
                TALLY.errors[f"webhook {res.status_code} {status}"] += 1

    def _completed(self, started: dict[str, Any], amount: int) -> dict[str, Any]:
        """checkout.session.completed as Stripe sends it for this session, paid."""
        meta = {"org_id": self.org["org"], "event_id": self.event_id, "kind": "tip",
                "checkout_id": started["checkout_id"], "tip_id": started["tip_id"],
                "user": "fan"}
        session_id = started["session_id"]
        return {"id": f"evt_{secrets.token_hex(12)}", "object": "event",
                "api_version": "2026-10-28.endive", "created": int(time.time()),
                "livemode": False, "pending_webhooks": 1, "type": "checkout.session.completed",
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": {
                    "id": session_id, "object": "checkout.session", "mode": "payment",
                    "status": "complete", "payment_status": "paid",
                    "payment_intent": f"pi_{session_id[3:]}", "amount_total": amount,
                    "currency": "usd", "metadata": meta, "livemode": False}}}


def sign(payload: str, secret: str) -> str:
    """``Stripe-Signature`` exactly as Stripe builds it:
    ``t=<ts>,v1=<hex hmac_sha256(secret, f"{t}.{payload}")>``."""
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"
