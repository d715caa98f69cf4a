// Connect, subscribe, chat and call against a real hub.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HubError } from "../index.js";
import { env, hub, mint, next, record, room } from "./support.js";

test("connect, subscribe and a chat round trip", async (t) => {
  const a = hub({ token: mint({ sub: "fan-a" }) });
  const b = hub({ token: mint({ sub: "fan-b" }) });
  t.after(() => { a.close(); b.close(); });
  const states = record(a, "state");
  const ra = a.room(room, { presence: true });
  const rb = b.room(room);
  const subscribed = next(ra, "subscribed");
  const bSubscribed = next(rb, "subscribed");
  a.connect();
  b.connect();
  assert.deepEqual(await subscribed, { recovered: false, wasRecovering: false });
  assert.equal(a.state, "connected");
  assert.deepEqual(states.map((s) => s.payload.state), ["connecting", "connected"]);
  assert.equal(states[0].payload.previous, "disconnected");
  assert.equal(ra.state, "subscribed");
  assert.ok(ra.position && typeof ra.position.epoch === "string");
  await next(ra, "presence", (p) => p.members.some((m) => m.user === "fan-a"));

  await bSubscribed;
  const seenByA = next(ra, "chat", (m) => m.text === "hello from b");
  const sent = await rb.chat("hello from b");
  assert.equal(sent.status, "visible");
  assert.match(sent.message_id, /^\d+$/);
  const msg = await seenByA;
  assert.equal(msg.message_id, sent.message_id);
  assert.equal(msg.user, "fan-b");
  assert.equal(ra.position.offset > 0, true);

  const page = await ra.history({ limit: 10 });
  assert.ok(page.messages.some((m) => m.message_id === sent.message_id));
});

test("a call resolves with its result; a refused one rejects with a HubError a person can read", async (t) => {
  const fan = hub({ token: mint({ sub: "fan-c" }) });
  t.after(() => fan.close());
  const r = fan.room(room);
  fan.connect();  // calls made before the connection is up are queued
  const submitted = await r.call("requests.submit", { title: `Song ${Date.now()}` });
  assert.equal(submitted.merged, false);
  const mine = await r.call("requests.mine");
  assert.ok(Array.isArray(mine.requests ?? mine));

  const err = await r.call("requests.accept", { request_id: submitted.request.id, version: 0 })
    .then(() => null, (e) => e);
  assert.ok(err instanceof HubError);
  assert.equal(err.code, 4403);
  assert.equal(err.name, "FORBIDDEN");
  assert.equal(err.retryable, false);
  assert.doesNotMatch(err.message, /\d{4}/);
  assert.equal(err.message, "You are not allowed to do that here.");

  const unknown = await r.call("nope.nothing").then(() => null, (e) => e);
  assert.equal(unknown.code, 4406);
});

test("service state arrives as snapshots and newer events", async (t) => {
  const dj = hub({ token: mint({ sub: env.dj, roles: ["dj"] }) });
  t.after(() => dj.close());
  const r = dj.room(room);
  // Snapshots come one frame per service; wait for all three, not the first.
  const snaps = Promise.all([next(r, "requests"), next(r, "karaoke"), next(r, "chat_settings")]);
  dj.connect();
  const [first] = await snaps;
  assert.equal(typeof first.version, "number");
  assert.deepEqual(r.requests, first);
  assert.ok(r.karaoke && typeof r.karaoke.version === "number");
  assert.ok(r.chatSettings && typeof r.chatSettings.slow_mode_seconds === "number");
  const bumped = next(r, "requests", (s) => s.version > first.version);
  await r.call("requests.submit", { title: `Another ${Date.now()}` });
  const after = await bumped;
  assert.equal(after.op, "added");
  assert.equal(r.requests.version, after.version);
});
