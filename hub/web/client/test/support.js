// Shared by the real-hub tests: settings from the pytest driver
// (tests/integration/test_js_client.py), token minting and small waiting helpers.
import { createHmac } from "node:crypto";
import { LiveHub } from "../index.js";

export const env = {
  url: need("HUB_URL"),          // ws://127.0.0.1:PORT/ws
  secret: need("HUB_SECRET"),    // the test hub's HS256 secret
  org: need("HUB_ORG"),
  event: need("HUB_EVENT"),      // a live event of that org
  dj: need("HUB_DJ_SUB"),        // a sub with a dj membership
  control: need("HUB_CONTROL"),  // http://127.0.0.1:PORT: /restart kills and restarts the hub
};
export const room = `event:${env.event}`;

/** @param {string} name */
function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through pytest (tests/integration/test_js_client.py)`);
  return v;
}

const b64 = (/** @type {string | Buffer} */ s) => Buffer.from(s).toString("base64url");

/**
 * An HS256 hub token, as `hub token` mints them.
 * @param {{sub?: string, roles?: string[], ttl?: number, secret?: string}} [o]
 */
export function mint({ sub = "fan-1", roles = ["viewer"], ttl = 3600, secret = env.secret } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify({ sub, org: env.org, roles, iat: now, exp: now + ttl }));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/**
 * A hub for the test, closed by the caller (t.after).
 * @param {import('../hub.js').LiveHubOptions} opts
 */
export function hub(opts) {
  return new LiveHub({ url: env.url, minDelayMs: 100, maxDelayMs: 1000, ...opts });
}

/**
 * Resolve with the first payload of `name` for which `pred` holds.
 * @param {{on: (name: string, fn: (p: any) => void) => () => void}} emitter
 * @param {string} name
 * @param {(p: any) => boolean} [pred]
 * @param {number} [ms]
 * @returns {Promise<any>}
 */
export function next(emitter, name, pred = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no "${name}" within ${ms} ms`)); }, ms);
    const off = emitter.on(name, (p) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Records every payload of some events, in order. */
export function record(emitter, ...names) {
  /** @type {{name: string, payload: any}[]} */
  const log = [];
  for (const name of names) emitter.on(name, (payload) => log.push({ name, payload }));
  return log;
}

/**
 * A WebSocket class whose connections can be cut off, as if the network went away:
 * while `net.down`, new sockets go to a closed port and fail at once.
 */
export function flakyNetwork() {
  const net = { down: false };
  const Real = globalThis.WebSocket;
  class Flaky extends Real {
    /** @param {string} url */
    constructor(url) {
      super(net.down ? "ws://127.0.0.1:9/ws" : url);
    }
  }
  return { net, WebSocket: /** @type {typeof WebSocket} */ (Flaky) };
}

/**
 * Poll until `check()` is truthy (for things that may already have happened).
 * @param {() => unknown} check
 * @param {string} what
 * @param {number} [ms]
 */
export async function until(check, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
