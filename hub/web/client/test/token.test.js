// Token lifetime against a real hub: in-band refresh before exp, renewal after 4002,
// and a refused token (4001) that stops for good with a readable message.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describe } from "../index.js";
import { env, hub, mint, next, record, room, sleep } from "./support.js";

/** A WebSocket class that counts the connections it opens. */
function counting() {
  const count = { opened: 0 };
  class Counted extends globalThis.WebSocket {
    /** @param {string} url */
    constructor(url) { super(url); count.opened++; }
  }
  return { count, WebSocket: /** @type {typeof WebSocket} */ (Counted) };
}

test("refresh before exp keeps the connection past the first token's exp", async (t) => {
  let calls = 0;
  const a = hub({ token: mint({ sub: "fan-r", ttl: 4 }),
    getToken: async () => { calls++; return mint({ sub: "fan-r", ttl: 3600 }); } });
  t.after(() => a.close());
  const states = record(a, "state");
  const r = a.room(room);
  a.connect();
  await next(r, "subscribed");
  const firstExp = a.claims.exp;
  await sleep(6500);  // past the first token's exp (the hub sweeps every second)
  assert.equal(a.state, "connected");
  assert.deepEqual(states.map((s) => s.payload.state), ["connecting", "connected"]);
  assert.equal(calls, 1);
  assert.ok(a.claims.exp > firstExp + 1000);
  const sent = await r.chat("still here after exp");
  assert.equal(sent.status, "visible");
});

test("4002 (expired, not refreshed): getToken, then reconnect and recover", async (t) => {
  let calls = 0;
  const { count, WebSocket } = counting();
  const a = hub({ token: mint({ sub: "fan-e", ttl: 2 }), WebSocket, refreshBeforeExp: false,
    getToken: () => { calls++; return mint({ sub: "fan-e", ttl: 3600 }); } });
  t.after(() => a.close());
  const r = a.room(room);
  a.connect();
  await next(r, "subscribed");
  const expired = next(a, "state", (s) => s.state === "disconnected", 10000);
  const back = next(r, "subscribed", (s) => s.wasRecovering, 10000);
  const gone = await expired;
  assert.equal(gone.code, 4002);
  assert.doesNotMatch(gone.message, /\d/);
  assert.deepEqual(await back, { recovered: true, wasRecovering: true });
  assert.equal(a.state, "connected");
  assert.equal(calls, 1);
  assert.equal(count.opened, 2);
});

test("4002 without getToken stops with a readable message", async (t) => {
  const a = hub({ token: mint({ sub: "fan-x", ttl: 2 }) });
  t.after(() => a.close());
  const closed = next(a, "closed", () => true, 10000);
  a.connect();
  assert.deepEqual(await closed, { code: 4002, message: "Your sign-in expired." });
  assert.equal(a.state, "closed");
});

test("4001: closed with a readable message, no retry loop", async (t) => {
  const { count, WebSocket } = counting();
  const a = hub({ token: mint({ secret: "not-the-hub-secret-0123456789abcdef" }), WebSocket,
    getToken: () => mint() });
  t.after(() => a.close());
  const r = a.room(room);
  const closed = next(a, "closed");
  a.connect();
  const pending = r.call("requests.mine").then(() => null, (e) => e);
  const c = await closed;
  assert.equal(c.code, 4001);
  assert.equal(c.message, "Your sign-in link is not valid any more.");
  assert.equal(c.message, describe(4001));
  assert.equal((await pending).code, 4001);
  await sleep(1500);
  assert.equal(count.opened, 1);
  assert.equal(a.state, "closed");
  assert.equal(r.state, "unsubscribed");
});

test("a bad overlay secret is refused the same way", async (t) => {
  const a = hub({ overlay: "no-such-secret" });
  t.after(() => a.close());
  const closed = next(a, "closed");
  a.connect();
  assert.equal((await closed).code, 4001);
  assert.ok(env.url.startsWith("ws://"));
});
