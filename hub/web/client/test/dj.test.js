// DJ actions carry the queue version they saw: two DJs pressing at once, the loser's
// stale action answers 4412 with the current queue, which the client applies.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HubError } from "../index.js";
import { env, hub, mint, until } from "./support.js";

test("a stale DJ action: 4412 applies the returned state, a retry with it succeeds", async (t) => {
  const fan = hub({ token: mint({ sub: "fan-q" }) });
  const dj1 = hub({ token: mint({ sub: env.dj, roles: ["dj"] }) });
  const dj2 = hub({ token: mint({ sub: env.dj, roles: ["dj"] }) });
  t.after(() => { fan.close(); dj1.close(); dj2.close(); });
  const room = `event:${env.event}`;
  const [rf, r1, r2] = [fan.room(room), dj1.room(room), dj2.room(room)];
  for (const h of [fan, dj1, dj2]) h.connect();
  const one = await rf.call("requests.submit", { title: `First ${Date.now()}` });
  const two = await rf.call("requests.submit", { title: `Second ${Date.now()}` });
  await until(() => [r1, r2].every((r) => r.requests?.queue.length === 2), "both DJs to see both requests");
  const version = r2.requests.version;
  assert.equal(r1.requests.version, version);

  await r1.call("requests.accept", { request_id: one.request.id, version });
  const err = await r2.call("requests.accept", { request_id: two.request.id, version })
    .then(() => null, (e) => e);
  assert.ok(err instanceof HubError, String(err));
  assert.equal(err.code, 4412);
  assert.equal(err.name, "STALE_VERSION");
  assert.ok(err.state.version > version);
  assert.equal(r2.requests.version, err.state.version);
  assert.equal(r2.requests.queue.find((q) => q.id === one.request.id).status, "accepted");
  assert.doesNotMatch(err.message, /\d/);

  const retried = await r2.call("requests.accept", { request_id: two.request.id, version: r2.requests.version });
  assert.equal(retried.version, err.state.version + 1);
});
