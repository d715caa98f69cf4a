// A scripted stand-in for the hub's websocket, for unit tests of what a real hub cannot
// be made to do on demand (a version gap, a 4429, a socket dropped mid-call).

export function fakeSockets() {
  /** @type {FakeSocket[]} */
  const sockets = [];
  class FakeSocket {
    /** @param {string} url */
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      /** @type {any[]} */
      this.sent = [];
      /** @type {((ev: {data: string}) => void) | null} */
      this.onmessage = null;
      /** @type {((ev: {code: number, reason: string}) => void) | null} */
      this.onclose = null;
      this.onerror = null;
      sockets.push(this);
    }
    /** @param {string} data */
    send(data) { this.sent.push(JSON.parse(data)); }
    close(code = 1000) { this.drop(code); }
    // --- the hub's side
    /** @param {Record<string, unknown>} frame */
    deliver(frame) { this.readyState = 1; this.onmessage?.({ data: JSON.stringify(frame) }); }
    welcome() { this.deliver({ type: "welcome", client: "c1", node: "n1", time: Date.now(), version: 1 }); }
    /** @param {number} code */
    drop(code) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code, reason: "" });
    }
    /** @param {string} type */
    last(type) { return [...this.sent].reverse().find((f) => f.type === type); }
    /** @param {string} type */
    all(type) { return this.sent.filter((f) => f.type === type); }
  }
  return { sockets, WebSocket: /** @type {any} */ (FakeSocket) };
}

/** Let queued timers (0 ms delays) and promise callbacks run. */
export const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
