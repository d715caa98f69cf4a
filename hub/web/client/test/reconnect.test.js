// The hub process is killed and comes back on the same port (Redis keeps the room's
// history): the client reconnects by itself, recovers what it missed exactly once, and
// delivers the chat it queued while the hub was down exactly once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { env, flakyNetwork, hub, mint, next, record, room, sleep, until } from "./support.js";

test("kill and restart: recovered messages applied once, offline chat delivered once", async (t) => {
  const { net, WebSocket } = flakyNetwork();
  const a = hub({ token: mint({ sub: "fan-a" }), WebSocket });
  const b = hub({ token: mint({ sub: "fan-b" }) });
  t.after(() => { a.close(); b.close(); });
  const ra = a.room(room);
  const rb = b.room(room);
  const chats = record(ra, "chat");
  const aStates = record(a, "state");
  a.connect();
  b.connect();
  await Promise.all([next(ra, "subscribed"), next(rb, "subscribed")]);
  const texts = () => chats.map((c) => c.payload.text);
  await rb.chat("before");
  await until(() => texts().includes("before"), "A to see B's chat");
  const epoch = ra.position.epoch;

  // A's network stays down after the restart until B has posted: those it must recover.
  net.down = true;
  const bBack = next(rb, "subscribed", (s) => s.wasRecovering, 60000);
  const inflight = ra.chat("in flight when the hub died");  // sent, maybe never answered
  const restarted = fetch(`${env.control}/restart?down=1`, { method: "POST" });
  await next(a, "state", (s) => s.state === "disconnected", 10000);
  const offline = ra.chat("sent while down");  // queued: no socket
  assert.equal((await restarted).status, 204);
  assert.equal((await bBack).recovered, true);
  for (const i of [1, 2, 3]) await rb.chat(`missed ${i}`);

  const aBack = next(ra, "subscribed", (s) => s.wasRecovering, 60000);
  net.down = false;
  assert.deepEqual(await aBack, { recovered: true, wasRecovering: true });
  assert.equal(ra.position.epoch, epoch);
  const [flew, queued] = await Promise.all([inflight, offline]);
  assert.match(queued.message_id, /^\d+$/);
  await until(() => chats.some((c) => c.payload.message_id === queued.message_id),
    "A's own offline chat to come back from the room");
  await sleep(500);  // room for any duplicate to show up

  for (const text of ["before", "missed 1", "missed 2", "missed 3", "sent while down"]) {
    assert.equal(texts().filter((x) => x === text).length, 1, `${text}: ${JSON.stringify(texts())}`);
  }
  // Killed between its commit and its broadcast, the hub never broadcasts it (the resend
  // is answered with the stored id, not broadcast again): at most once on screen, and
  // stored exactly once (below).
  assert.ok(texts().filter((x) => x === "in flight when the hub died").length <= 1, JSON.stringify(texts()));
  assert.ok(texts().indexOf("missed 1") < texts().indexOf("missed 2"));
  assert.ok(texts().indexOf("missed 3") < texts().indexOf("sent while down"));

  // Stored once too: the resent frames carried their client_msg_id.
  const page = await rb.history({ limit: 50 });
  const stored = page.messages.map((m) => m.text);
  assert.equal(stored.filter((x) => x === "sent while down").length, 1);
  assert.equal(stored.filter((x) => x === "in flight when the hub died").length, 1);
  assert.equal(page.messages.find((m) => m.text === "in flight when the hub died").message_id, flew.message_id);

  const seq = aStates.map((s) => s.payload.state);
  assert.deepEqual(seq.slice(0, 3), ["connecting", "connected", "disconnected"]);
  assert.equal(seq.at(-1), "connected");
  const down = aStates.find((s) => s.payload.state === "disconnected").payload;
  assert.equal(typeof down.retryInMs, "number");
  assert.match(down.message, /Reconnecting/);
  assert.doesNotMatch(down.message, /1006/);
});
