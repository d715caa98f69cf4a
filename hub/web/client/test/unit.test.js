// Unit tests: the backoff function, the code table, version folding and the resend
// policy, with a scripted socket (fake.js). Everything else runs against a real hub.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CLOSE_CODES, ERROR_CODES, HubError, LiveHub, MESSAGES, backoffDelay, describe } from "../index.js";
import { onClose, onError } from "../codes.js";
import { fakeSockets, tick } from "./fake.js";

const ROOM = "event:00000000-0000-4000-8000-000000000001";

test("backoff: full jitter between 0 and min(max, base * 2^attempt)", () => {
  const opts = { minDelayMs: 500, maxDelayMs: 15000 };
  assert.equal(backoffDelay(0, { ...opts, random: () => 0 }), 0);
  assert.equal(backoffDelay(0, { ...opts, random: () => 0.999999 }), 499);
  assert.equal(backoffDelay(3, { ...opts, random: () => 0.5 }), 2000);
  assert.equal(backoffDelay(5, { ...opts, random: () => 0.5 }), 7500);
  assert.equal(backoffDelay(6, { ...opts, random: () => 0.5 }), 7500);  // capped at max
  assert.equal(backoffDelay(1000, { ...opts, random: () => 0.999999 }), 14999);
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(4)));
  assert.ok(spread.size > 10, "real randomness spreads clients out");
});

test("reconnect waits a jittered, growing delay and says so", async (t) => {
  const { sockets, WebSocket } = fakeSockets();
  const draws = [0.5, 0.5, 0.25];
  const hub = new LiveHub({ url: "ws://hub/ws", token: "t", WebSocket, minDelayMs: 20, maxDelayMs: 1000,
    random: () => draws.shift() ?? 0 });
  t.after(() => hub.close());
  const states = [];
  hub.on("state", (s) => states.push(s));
  hub.connect();
  sockets[0].welcome();
  sockets[0].drop(1006);
  assert.equal(hub.state, "disconnected");
  assert.equal(states.at(-1).retryInMs, 10);  // 0.5 * 20 * 2^0
  assert.equal(states.at(-1).message, "Connection lost. Reconnecting…");
  await tick(30);
  assert.equal(sockets.length, 2);
  sockets[1].drop(1006);  // never welcomed: the attempt count keeps growing
  assert.equal(states.at(-1).retryInMs, 20);  // 0.5 * 20 * 2^1
  await tick(40);
  sockets[2].welcome();
  sockets[2].drop(1011);
  assert.equal(states.at(-1).retryInMs, 5);  // welcomed: back to attempt 0 (0.25 * 20)
  assert.doesNotMatch(states.at(-1).message, /\d{4}/);
});

test("the reconnect message says why and when, in words", (t) => {
  const { sockets, WebSocket } = fakeSockets();
  const hub = new LiveHub({ url: "ws://hub/ws", token: "t", WebSocket, minDelayMs: 4000, random: () => 0.9 });
  t.after(() => hub.close());
  const states = [];
  hub.on("state", (s) => states.push(s));
  hub.connect();
  sockets[0].welcome();
  sockets[0].drop(4008);
  assert.deepEqual(states.at(-1), { state: "disconnected", previous: "connected", code: 4008, reason: "",
    retryInMs: 3600, message: "The connection fell behind. Reconnecting in 4 s…" });
});

test("every documented code has a readable message and a behaviour", () => {
  for (const code of [...Object.keys(ERROR_CODES), ...Object.keys(CLOSE_CODES)]) {
    const text = /** @type {any} */ (MESSAGES)[code];
    assert.ok(text, `no message for ${code}`);
    assert.doesNotMatch(text, /\d/, `a number in the message for ${code}`);
    assert.equal(describe(Number(code)), text);
  }
  assert.equal(describe(4003), "This overlay link was replaced. Open the new link.");
  assert.equal(describe(4001), "Your sign-in link is not valid any more.");
  assert.equal(describe(4422, "muted for 5 more minutes"), "Muted for 5 more minutes");
  for (const code of [4429, 4500, 4503]) assert.equal(onError(code), "retry");
  assert.equal(onError(4412), "stale");
  for (const code of [4400, 4401, 4402, 4403, 4404, 4405, 4406, 4409, 4410, 4413, 4422]) {
    assert.equal(onError(code), "fail", String(code));
  }
  for (const code of [1000, 4001, 4003]) assert.equal(onClose(code), "stop");
  assert.equal(onClose(4002), "refresh");
  for (const code of [1006, 1009, 1011, 1012, 4008, 4009, 4020]) assert.equal(onClose(code), "reconnect");
});

/** A connected hub on a fake socket with one subscribed room. */
function connected(t, opts = {}) {
  const { sockets, WebSocket } = fakeSockets();
  const hub = new LiveHub({ url: "ws://hub/ws", token: "t", WebSocket, minDelayMs: 1, maxDelayMs: 2,
    random: () => 0, ...opts });
  t.after(() => hub.close());
  const room = hub.room(ROOM);
  hub.connect();
  sockets[0].welcome();
  const sub = sockets[0].last("subscribe");
  sockets[0].deliver({ type: "subscribed", room: ROOM, epoch: "e1", offset: 10, recovered: false,
    publications: [], id: sub.id });
  return { hub, room, sockets, ws: sockets[0] };
}

const alert = (n, priority = false) => ({ alert_id: `a${n}`, tip_id: `t${n}`, amount_cents: 500 * n,
  from_name: "Ann", message: null, priority, seq: n, created_at: 1, shown_at: null, ends_at: null });

test("tips events fold in version order; a gap resubscribes for a fresh snapshot", (t) => {
  const { room, ws } = connected(t);
  const shown = [];
  room.on("tips.alert_show", (a) => shown.push(a.alert_id));
  ws.deliver({ type: "snapshot", room: ROOM, service: "tips",
    state: { version: 3, paid_cents: 500, goal_cents: 10000, showing: null, waiting: [alert(1)] } });
  // an event that overtook the snapshot read, then the first live one
  ws.deliver({ type: "message", room: ROOM, offset: 11, data: { type: "tips.goal", paid_cents: 1500, goal_cents: 10000, version: 3 } });
  ws.deliver({ type: "message", room: ROOM, offset: 12, data: { type: "tips.alert_queued", alert: alert(2, true), version: 4 } });
  assert.equal(room.tips.version, 4);
  assert.equal(room.tips.paid_cents, 500);  // the v3 event was the snapshot's own state
  assert.deepEqual(room.tips.queue.map((a) => a.alert_id), ["a2", "a1"]);  // priority first
  ws.deliver({ type: "message", room: ROOM, offset: 13, data: { type: "tips.alert_show", alert: alert(2, true), version: 5 } });
  assert.equal(room.tips.showing.alert_id, "a2");
  assert.deepEqual(shown, ["a2"]);
  assert.equal(ws.all("subscribe").length, 1);

  ws.deliver({ type: "message", room: ROOM, offset: 14, data: { type: "tips.alert_done", alert_id: "a2", outcome: "acked", version: 7 } });
  assert.equal(room.tips.version, 5, "an event past a gap is not applied");
  assert.equal(ws.last("unsubscribe").room, ROOM);
  const again = ws.last("subscribe");
  assert.equal(ws.all("subscribe").length, 2);
  assert.equal(again.recover, null, "resubscribed without recovery: snapshots follow");
  ws.deliver({ type: "subscribed", room: ROOM, epoch: "e1", offset: 14, recovered: false, publications: [], id: again.id });
  ws.deliver({ type: "snapshot", room: ROOM, service: "tips",
    state: { version: 7, paid_cents: 1500, goal_cents: 10000, showing: null, waiting: [alert(1)] } });
  assert.equal(room.tips.version, 7);
  assert.equal(room.tips.showing, null);
});

test("tips events ahead of the snapshot wait for it instead of resubscribing", (t) => {
  const { room, ws } = connected(t);
  ws.deliver({ type: "message", room: ROOM, offset: 11, data: { type: "tips.goal", paid_cents: 900, goal_cents: null, version: 9 } });
  assert.equal(room.tips, null);
  ws.deliver({ type: "snapshot", room: ROOM, service: "tips",
    state: { version: 8, paid_cents: 400, goal_cents: null, showing: null, waiting: [] } });
  assert.equal(room.tips.version, 9);
  assert.equal(room.tips.paid_cents, 900);
  assert.equal(ws.all("subscribe").length, 1);
});

test("requests and karaoke keep the newest version; a late older snapshot is ignored", (t) => {
  const { room, ws } = connected(t);
  const seen = [];
  room.on("requests", (s) => seen.push(s.version));
  const q = (version) => ({ version, now_playing: null, queue: [] });
  ws.deliver({ type: "message", room: ROOM, offset: 11, data: { type: "requests", op: "added", request: {}, ...q(5) } });
  ws.deliver({ type: "snapshot", room: ROOM, service: "requests", state: q(4) });
  ws.deliver({ type: "message", room: ROOM, offset: 12, data: { type: "requests", op: "voted", request: {}, ...q(5) } });
  ws.deliver({ type: "message", room: ROOM, offset: 13, data: { type: "requests", op: "voted", request: {}, ...q(6) } });
  assert.deepEqual(seen, [5, 6]);
  assert.equal(room.requests.version, 6);
  assert.equal(room.requests.op, "voted");
  // a duplicate delivery (offset already seen) is dropped before it is looked at
  ws.deliver({ type: "message", room: ROOM, offset: 12, data: { type: "chat", message_id: "1", user: "u", text: "x", time: 1 } });
  assert.equal(room.position.offset, 13);
});

test("a call answered 4429 is resent after backoff and resolves", async (t) => {
  const { room, ws } = connected(t);
  const p = room.call("requests.vote", { request_id: "r1" });
  const first = ws.last("call");
  ws.deliver({ type: "error", code: 4429, reason: "rate", id: first.id });
  await tick();
  const second = ws.last("call");
  assert.notEqual(second.id, first.id);
  assert.deepEqual(second.params, { request_id: "r1" });
  ws.deliver({ type: "result", room: ROOM, method: "requests.vote", result: { counted: true }, id: second.id });
  assert.deepEqual(await p, { counted: true });
});

test("4412 applies the current state to the room, then rejects", async (t) => {
  const { room, ws } = connected(t);
  ws.deliver({ type: "snapshot", room: ROOM, service: "karaoke", state: { version: 2, now_singing: null,
    next_up: null, queue: [], held: [], settings: { max_active: 1, slot_seconds: 240 } } });
  const p = room.call("karaoke.next", { version: 2 });
  const state = { version: 3, now_singing: null, next_up: null, queue: [], held: ["x"], settings: { max_active: 1, slot_seconds: 240 } };
  ws.deliver({ type: "error", code: 4412, reason: "stale version", state, id: ws.last("call").id });
  const err = await p.then(() => null, (e) => e);
  assert.ok(err instanceof HubError);
  assert.equal(err.code, 4412);
  assert.equal(err.name, "STALE_VERSION");
  assert.deepEqual(err.state, state);
  assert.equal(room.karaoke.version, 3);
  assert.deepEqual(room.karaoke.held, ["x"]);
});

test("a drop mid-call: chat and versioned or idempotent calls are resent, others reject as retryable", async (t) => {
  const { room, sockets, ws } = connected(t);
  const chat = room.chat("hi");
  const accept = room.call("requests.accept", { request_id: "r1", version: 4 });
  const signup = room.call("karaoke.signup", { singer: "A", song: "B" });
  const chatFrame = ws.last("chat");
  ws.drop(1006);
  const err = await signup.then(() => null, (e) => e);
  assert.equal(err.code, 0);
  assert.equal(err.name, "interrupted");
  assert.equal(err.retryable, true);
  await tick(10);
  const ws2 = sockets[1];
  ws2.welcome();
  assert.equal(ws2.all("chat").length, 0, "chat waits for the room's subscription");
  const sub = ws2.last("subscribe");
  ws2.deliver({ type: "subscribed", room: ROOM, epoch: "e1", offset: 10, recovered: true, publications: [], id: sub.id });
  const resent = ws2.last("chat");
  assert.equal(resent.client_msg_id, chatFrame.client_msg_id);
  assert.equal(ws2.all("call").length, 1);
  assert.equal(ws2.last("call").method, "requests.accept");
  assert.deepEqual(sub.recover, { epoch: "e1", offset: 10 });
  ws2.deliver({ type: "chat_sent", room: ROOM, message_id: "77", status: "visible", id: resent.id });
  assert.deepEqual(await chat, { message_id: "77", status: "visible" });
  ws2.deliver({ type: "error", code: 4412, reason: "stale", id: ws2.last("call").id,
    state: { version: 5, now_playing: null, queue: [] } });
  assert.equal((await accept.then(() => null, (e) => e)).code, 4412);
});

test("after 1009 the calls in flight reject (one was too big) and the client reconnects", async (t) => {
  const { room, sockets, ws } = connected(t);
  const p = room.chat("x".repeat(10));
  ws.drop(1009);
  const err = await p.then(() => null, (e) => e);
  assert.equal(err.code, 1009);
  assert.equal(err.retryable, false);
  await tick(10);
  assert.equal(sockets.length, 2);
  sockets[1].welcome();
  sockets[1].deliver({ type: "subscribed", room: ROOM, epoch: "e1", offset: 10, recovered: true,
    publications: [], id: sockets[1].last("subscribe").id });
  assert.equal(sockets[1].all("chat").length, 0);
});

test("4001 and 4003 stop for good with a readable message; queued calls reject", async (t) => {
  for (const code of [4001, 4003]) {
    const { sockets, WebSocket } = fakeSockets();
    const hub = new LiveHub({ url: "ws://hub/ws", overlay: "s3cret", WebSocket, minDelayMs: 1, random: () => 0 });
    t.after(() => hub.close());
    const closed = [];
    hub.on("closed", (c) => closed.push(c));
    const room = hub.room(ROOM);
    hub.connect();
    assert.equal(sockets[0].url, "ws://hub/ws?overlay=s3cret");
    assert.deepEqual(hub.roles, ["overlay"]);
    const p = room.call("tips.state").then(() => null, (e) => e);
    sockets[0].drop(code);
    await tick(20);
    assert.equal(hub.state, "closed");
    assert.equal(sockets.length, 1, "no retry");
    assert.deepEqual(closed, [{ code, message: describe(code) }]);
    const err = await p;
    assert.equal(err.code, code);
    assert.equal(err.message, describe(code));
  }
});

test("close() rejects queued calls with code 0 'closed'", async () => {
  const { WebSocket } = fakeSockets();
  const hub = new LiveHub({ url: "ws://hub/ws", token: "t", WebSocket });
  const p = hub.room(ROOM).call("requests.mine");
  hub.close();
  const err = await p.then(() => null, (e) => e);
  assert.equal(err.code, 0);
  assert.equal(err.name, "closed");
  assert.equal(hub.state, "closed");
});

test("history waits for the subscription; presence follows join and leave", (t) => {
  const { sockets, WebSocket } = fakeSockets();
  const hub = new LiveHub({ url: "ws://hub/ws", token: "t", WebSocket });
  t.after(() => hub.close());
  const room = hub.room(ROOM, { presence: true });
  room.history({ limit: 5 }).catch(() => {});  // rejected "closed" when the test ends
  hub.connect();
  const ws = sockets[0];
  ws.welcome();
  assert.equal(ws.all("chat_history").length, 0);
  const sub = ws.last("subscribe");
  assert.equal(sub.presence_events, true);
  ws.deliver({ type: "subscribed", room: ROOM, epoch: "e", offset: 0, recovered: false, publications: [], id: sub.id });
  assert.equal(ws.all("chat_history").length, 1);
  const m = (client) => ({ client, user: client, roles: ["viewer"], name: "" });
  ws.deliver({ type: "presence", room: ROOM, count: 1, members: [m("a")], id: ws.last("presence").id });
  ws.deliver({ type: "join", room: ROOM, member: m("b") });
  ws.deliver({ type: "leave", room: ROOM, member: m("a") });
  assert.deepEqual(room.presence, { count: 1, members: [m("b")] });
});

test("a long offline queue goes out in windows, so the hub never sees a flood (4020)", async (t) => {
  const { room, ws } = connected(t);
  ws.drop(1006);
  const calls = Array.from({ length: 100 }, (_, i) => room.call("requests.vote", { request_id: `r${i}` }));
  calls.forEach((c) => c.catch(() => {}));  // the unanswered ones reject "closed" at the end
  await tick(10);
  const ws2 = /** @type {any} */ (room.hub)._ws;
  assert.notEqual(ws2, ws);
  ws2.welcome();
  assert.equal(ws2.all("call").length, 64);
  const first = ws2.all("call")[0];
  ws2.deliver({ type: "result", room: ROOM, method: "requests.vote", result: { ok: 0 }, id: first.id });
  assert.equal(ws2.all("call").length, 65);
  assert.deepEqual(await calls[0], { ok: 0 });
  assert.deepEqual(ws2.all("call").map((c) => c.params.request_id).slice(0, 3), ["r0", "r1", "r2"]);
});

test("a token that expired while away is renewed before connecting, not after a 4002", async (t) => {
  const { sockets, WebSocket } = fakeSockets();
  const claims = (exp) => Buffer.from(JSON.stringify({ sub: "u", roles: ["viewer"], exp })).toString("base64url");
  const old = `h.${claims(Math.floor(Date.now() / 1000) - 60)}.s`;
  const fresh = `h.${claims(Math.floor(Date.now() / 1000) + 3600)}.s`;
  let calls = 0;
  const hub = new LiveHub({ url: "ws://hub/ws", token: old, WebSocket, getToken: async () => { calls++; return fresh; } });
  t.after(() => hub.close());
  hub.connect();
  await tick(10);
  assert.equal(calls, 1);
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url, `ws://hub/ws?token=${encodeURIComponent(fresh)}`);
});

test("a silent connection is pinged, and given up when nothing answers", async (t) => {
  const { sockets, WebSocket } = fakeSockets();
  const hub = new LiveHub({ url: "ws://hub/ws", token: "t", WebSocket, heartbeatMs: 50,
    connectTimeoutMs: 200, minDelayMs: 1000, random: () => 0.5 });
  t.after(() => hub.close());
  hub.connect();
  sockets[0].welcome();
  await tick(80);
  assert.equal(sockets[0].all("ping").length, 1);
  sockets[0].deliver({ type: "pong", id: null });  // alive
  await tick(100);
  assert.equal(hub.state, "connected");
  const pings = sockets[0].all("ping").length;
  assert.equal(pings, 2);
  await tick(300);  // no answer now: dead
  assert.equal(hub.state, "disconnected");
  assert.equal(sockets[0].all("ping").length, pings, "one ping per silence, not a stream");
});

test("hostile or malformed room data is passed on raw or ignored, never breaks the room", (t) => {
  const { room, ws } = connected(t);
  const raw = [];
  const chats = [];
  room.on("message", (d) => raw.push(d));
  room.on("chat", (m) => chats.push(m));
  const send = (offset, data) => ws.deliver({ type: "message", room: ROOM, offset, data });
  send(11, "just a string");
  send(12, [1, 2, 3]);
  send(13, { type: "requests", version: "99", queue: "nope" });  // version not an integer
  send(14, { type: "karaoke", version: 1.5 });
  send(15, { type: "tips.goal", paid_cents: 1, goal_cents: 2, version: Number.MAX_VALUE });
  send(16, { type: "whatever", __proto__: { polluted: true } });
  send(17, { type: "chat", message_id: "9", user: "u", text: "<img src=x onerror=alert(1)>", time: 1 });
  send(18, { type: "chat", message_id: "9", user: "u", text: "again", time: 1 });
  ws.deliver({ type: "snapshot", room: ROOM, service: "requests", state: null });
  ws.deliver({ type: "presence", room: ROOM, count: 5, members: "x", id: null });
  ws.deliver({ type: "message", room: "event:someone-else", offset: 99, data: { type: "chat" } });
  ws.onmessage?.({ data: "{not json" });
  assert.deepEqual(raw.slice(0, 2), ["just a string", [1, 2, 3]]);
  assert.equal(room.requests, null);
  assert.equal(room.karaoke, null);
  assert.equal(room.tips, null);
  assert.equal(/** @type {any} */ ({}).polluted, undefined);
  assert.deepEqual(chats.map((c) => c.text), ["<img src=x onerror=alert(1)>"]);  // text, once
  assert.deepEqual(room.presence, { count: 0, members: [] });
  assert.equal(room.position.offset, 18);
  assert.equal(room.state, "subscribed");
});

test("an unrequested subscribed (room reset) moves the position and resubscribes fresh", (t) => {
  const { room, ws } = connected(t);
  const got = [];
  room.on("message", (m) => got.push(m.n));
  ws.deliver({ type: "message", room: ROOM, offset: 11, data: { n: 11 } });
  ws.deliver({ type: "subscribed", room: ROOM, epoch: "e2", offset: 0, recovered: false, publications: [], id: null });
  assert.deepEqual(room.position, { epoch: "e2", offset: 0 });
  // the new epoch's messages count from 1 again: none is taken for one already seen
  ws.deliver({ type: "message", room: ROOM, offset: 1, data: { n: 1 } });
  ws.deliver({ type: "message", room: ROOM, offset: 2, data: { n: 2 } });
  assert.deepEqual(got, [11, 1, 2]);
  assert.equal(ws.last("unsubscribe").room, ROOM);
  const again = ws.last("subscribe");
  assert.equal(ws.all("subscribe").length, 2);
  assert.equal(again.recover, null, "resubscribed without recovery: snapshots follow");
});
