// The connection: open with a token (or an overlay secret), reconnect with jittered
// backoff, refresh the token in-band before `exp`, and carry requests across drops.
//
// States: disconnected -> connecting -> connected -> disconnected (retrying) ... and
// closed, which is final (4001, 4003, 1000, close(), a token that could not be renewed).
import { backoffDelay } from "./backoff.js";
import { describe, onClose, onError } from "./codes.js";
import { Emitter } from "./emitter.js";
import { HubError } from "./errors.js";
import { Room } from "./room.js";
import { CLOSE_CODES, VERSIONED_METHODS } from "./wire.js";

const RETRIES = 5;  // resends of a request answered 4429/4500/4503 before it rejects
const REFRESH_LEAD_MS = 60_000;
const TOKEN_TRIES = 4;
// Requests in flight at once. The hub reads up to HUB_MAX_PENDING (256) ahead and closes
// with 4020 far past that; a long offline queue is sent in windows well below it.
const MAX_IN_FLIGHT = 64;

/**
 * @typedef {object} LiveHubOptions
 * @property {string} [url] ws(s)://host/ws; default: this page's origin + /ws
 * @property {string} [token] a hub JWT
 * @property {string} [overlay] an overlay secret instead of a token (no refresh)
 * @property {() => Promise<string> | string} [getToken] a fresh token: before exp, after 4002
 * @property {boolean} [refreshBeforeExp] refresh in-band before exp (default true)
 * @property {number} [connectTimeoutMs] give up on a connection without `welcome` (10000)
 * @property {number} [heartbeatMs] after this much silence send a `ping`; no answer within
 *   connectTimeoutMs more: the connection is dead, reconnect (25000; 0: off)
 * @property {typeof WebSocket} [WebSocket] implementation (Node); default globalThis.WebSocket
 * @property {number} [minDelayMs] backoff base (500)
 * @property {number} [maxDelayMs] backoff cap (15000)
 * @property {() => number} [random] for tests: the jitter's random source
 */

/**
 * @typedef {object} RequestOptions
 * @property {boolean} [resend] resend if the socket drops before the answer
 * @property {boolean} [internal] the client's own request: dropped silently on a drop
 * @property {Room} [room]
 * @property {string} [method] a call's method (a 4412's state goes to its service)
 * @property {boolean} [needsSubscription] send only while the room is subscribed
 */

/**
 * @typedef {object} Pending
 * @property {Record<string, any>} frame
 * @property {(value: any) => void} resolve
 * @property {(err: any) => void} reject
 * @property {boolean} resend  resend if the socket drops before the answer
 * @property {boolean} internal the client's own (subscribe, presence, refresh): dropped silently
 * @property {Room | null} room
 * @property {string} [method]
 * @property {boolean} needsSubscription
 * @property {number} attempts
 * @property {number} [id]
 * @property {number} [generation] the connection it was sent on
 */

/** @param {string} token @returns {Record<string, any>} */
export function readClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const c = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return c && typeof c === "object" ? c : {};
  } catch {
    return {};
  }
}

export class LiveHub extends Emitter {
  /** @param {LiveHubOptions} opts */
  constructor(opts = {}) {
    super();
    this.url = opts.url || defaultUrl();
    this._token = opts.token || "";
    this._overlay = opts.overlay || "";
    this._getToken = opts.getToken || null;
    this._refreshAhead = opts.refreshBeforeExp ?? true;
    this._connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._connectTimer = null;
    this._heartbeatMs = opts.heartbeatMs ?? 25_000;
    /** @type {ReturnType<typeof setInterval> | null} */
    this._heartbeat = null;
    this._lastFrameAt = 0;
    this._pingSentAt = 0;
    this._renewing = false;
    this._WebSocket = opts.WebSocket || globalThis.WebSocket;
    this._backoff = { minDelayMs: opts.minDelayMs ?? 500, maxDelayMs: opts.maxDelayMs ?? 15000,
      random: opts.random || Math.random };
    /** @type {Set<string>} */
    this.versionedMethods = new Set(VERSIONED_METHODS);
    /** @type {"disconnected" | "connecting" | "connected" | "closed"} */
    this.state = "disconnected";
    /** @type {Record<string, any>} */
    this.claims = this._overlay ? {} : readClaims(this._token);
    /** @type {string[]} */
    this.roles = this._overlay ? ["overlay"]
      : Array.isArray(this.claims.roles) ? this.claims.roles.map(String) : [];
    /** @type {Map<string, Room>} */
    this.rooms = new Map();
    /** @type {WebSocket | null} */
    this._ws = null;
    this._nextId = 1;
    this._generation = 0;  // counts welcomes: which connection a request went out on
    this._attempt = 0;
    this._skewMs = 0;  // hub clock - our clock, from `welcome`
    /** @type {number} token exp, seconds since the epoch (0: none) */
    this._exp = Number(this.claims.exp) || 0;
    /** @type {Pending[]} */
    this._queue = [];
    /** @type {Map<number, Pending>} */
    this._pending = new Map();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._retryTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._refreshTimer = null;
    this._online = () => { if (this.state === "disconnected" && this._retryTimer) this._reconnectNow(); };
  }

  /** Open the connection (idempotent; after `closed` it starts over). */
  connect() {
    if (this.state === "connecting" || this.state === "connected" || this._retryTimer
      || this._renewing) return;
    globalThis.addEventListener?.("online", this._online);
    this._open();
  }

  /** Stop for good: state "closed", every queued or pending request rejects. */
  close() {
    this._finish(1000, "closed", describe(0, "closed"));
  }

  /**
   * The room object for `name` (one per room), subscribed while connected.
   * @param {string} name "event:<uuid>" or "org:<uuid>"
   * @param {{presence?: boolean}} [opts]
   * @returns {Room}
   */
  room(name, opts = {}) {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room(this, name, opts);
      this.rooms.set(name, room);
      if (this.state === "connected") room._subscribe();
    }
    return room;
  }

  // --- requests ------------------------------------------------------------------------

  /**
   * Queue a request; sent now if connected, else after the next `welcome`.
   * @param {Record<string, any>} frame
   * @param {RequestOptions} opts
   * @returns {Promise<any>}
   */
  _request(frame, opts) {
    return new Promise((resolve, reject) => this._enqueue(frame, opts, resolve, reject));
  }

  /**
   * Like _request, with callbacks called synchronously in the frame loop (the rooms use
   * this for `subscribed`, so nothing runs between it and the frames that follow).
   * @param {Record<string, any>} frame
   * @param {RequestOptions} opts
   * @param {(value: any) => void} resolve
   * @param {(err: any) => void} reject
   */
  _enqueue(frame, opts, resolve, reject) {
    if (this.state === "closed" || opts.room?._left) {  // a left room is closed too
      reject(opts.internal ? null : new HubError(0, "closed", { name: "closed" }));
      return;
    }
    this._queue.push({ frame, resolve, reject, resend: Boolean(opts.resend),
      internal: Boolean(opts.internal), room: opts.room || null, method: opts.method,
      needsSubscription: Boolean(opts.needsSubscription), attempts: 0 });
    this._flush();
  }

  /** Send what is queued and may go now (a history read waits for its room). */
  _flush() {
    if (this.state !== "connected") return;
    const waiting = [];
    for (const entry of this._queue) {
      if (this._pending.size >= MAX_IN_FLIGHT
        || (entry.needsSubscription && entry.room?.state !== "subscribed")) {
        waiting.push(entry);
        continue;
      }
      entry.id = this._nextId++;
      entry.generation = this._generation;
      this._pending.set(entry.id, entry);
      this._send({ ...entry.frame, id: entry.id });
    }
    this._queue = waiting;
  }

  /** @param {Record<string, any>} frame */
  _send(frame) {
    if (this._ws && this.state === "connected") this._ws.send(JSON.stringify(frame));
  }

  /** @param {Record<string, any>} f a reply (it carries the request's id) */
  _onReply(f) {
    const entry = this._pending.get(f.id);
    if (!entry) return false;
    this._pending.delete(f.id);
    if (this._queue.length) this._flush();  // a window slot is free
    if (f.type !== "error") {
      entry.resolve(replyValue(f));
      return true;
    }
    const code = Number(f.code);
    const what = onError(code);
    if (what === "retry" && entry.attempts < RETRIES) {
      const delay = this._delay(entry.attempts++);
      setTimeout(() => {
        if (this.state === "closed") return;
        // the client's own requests are redone by the rooms after a reconnect
        if (entry.internal && entry.generation !== this._generation) return;
        this._queue.push(entry);
        this._flush();
      }, delay);
      return true;
    }
    if (what === "stale" && entry.room && entry.method) entry.room._onStale(entry.method, f.state);
    entry.reject(new HubError(code, String(f.reason || ""),
      { state: f.state ?? null, retryable: what === "retry" }));
    return true;
  }

  /**
   * The socket dropped: requests still unanswered are resent after reconnect when that
   * is safe (entry.resend), the client's own are dropped (rooms resubscribe), the rest
   * reject with a retryable "interrupted". After 1009 none is resent: one was too big.
   * @param {number} code
   */
  _onDrop(code) {
    const inflight = [...this._pending.values()].sort((a, b) => (a.id || 0) - (b.id || 0));
    this._pending.clear();
    const again = [];
    for (const entry of inflight) {
      if (entry.internal) entry.reject(null);
      else if (code === 1009) entry.reject(new HubError(1009, "", { retryable: false }));
      else if (entry.resend) again.push(entry);
      else entry.reject(new HubError(0, "interrupted", { retryable: true, name: "interrupted" }));
    }
    this._queue = [...again, ...this._queue.filter((e) => !e.internal)];
  }

  /** @param {Room} room */
  _forget(room) {
    this.rooms.delete(room.name);
    this._failRoom(room, new HubError(0, "closed", { name: "closed" }));
  }

  /** Reject what waits on a room that will never be subscribed.
   * @param {Room} room @param {HubError} err */
  _failRoom(room, err) {
    const keep = [];
    for (const e of this._queue) (e.room === room && e.needsSubscription ? e.reject(err) : keep.push(e));
    this._queue = keep;
  }

  /** @param {number} attempt */
  _delay(attempt) {
    return backoffDelay(attempt, this._backoff);
  }

  // --- connection ----------------------------------------------------------------------

  _open() {
    this._retryTimer = null;
    if (!this._overlay && this._getToken && this._exp
      && this._exp * 1000 <= Date.now() + this._skewMs + 1000) {
      // expired while we were away (a laptop asleep): a fresh token first, not a 4002
      this._setState("disconnected", { message: "Renewing your sign-in…" });
      this._renewThenOpen();
      return;
    }
    this._openSocket();
  }

  _openSocket() {
    if (!this._WebSocket) {
      this._finish(0, "closed", "This browser cannot open a live connection.");
      return;
    }
    const auth = this._overlay ? `overlay=${encodeURIComponent(this._overlay)}`
      : `token=${encodeURIComponent(this._token)}`;
    this._setState("connecting", {});
    const ws = new this._WebSocket(`${this.url}${this.url.includes("?") ? "&" : "?"}${auth}`);
    this._ws = ws;
    ws.onmessage = (ev) => {
      if (ws !== this._ws) return;
      this._lastFrameAt = Date.now();
      let f;
      try { f = JSON.parse(String(ev.data)); } catch { return; }
      if (f && typeof f === "object") this._onFrame(f);
    };
    ws.onclose = (ev) => { if (ws === this._ws) this._onClose(ev.code, ev.reason || ""); };
    // Browsers follow an error with a close event; Node 20's WebSocket does not when the
    // connection fails (it stays CONNECTING): treat a socket that did not open as closed.
    ws.onerror = () => setTimeout(() => {
      if (ws === this._ws && ws.readyState !== 1) this._abandon(ws);
    }, 50);
    // A handshake that hangs (a half-dead proxy, a node still starting) is given up too.
    this._connectTimer = setTimeout(() => {
      if (ws === this._ws && this.state === "connecting") this._abandon(ws);
    }, this._connectTimeoutMs);
  }

  /** Give up on a socket that never got going: close it and handle it as a lost one.
   * @param {WebSocket} ws */
  _abandon(ws) {
    this._onClose(1006, "");  // first: the socket's own close event is then ignored
    try { ws.close(); } catch { /* not open yet: nothing to close */ }
  }

  /** @param {Record<string, any>} f */
  _onFrame(f) {
    if (f.type === "welcome") {
      this._clearConnectTimer();
      this._generation++;
      this._attempt = 0;
      if (typeof f.time === "number") this._skewMs = f.time - Date.now();
      this._setState("connected", {});
      this._startHeartbeat();
      this._scheduleRefresh();
      for (const room of this.rooms.values()) room._subscribe();
      this._flush();
      return;
    }
    if (f.type === "roles" && Array.isArray(f.roles)) {
      this._setRoles(f.roles);
      return;
    }
    if (f.id !== undefined && f.id !== null && this._onReply(f)) return;
    if (f.type === "error") {  // not tied to a request we know
      this.emit("error", new HubError(Number(f.code), String(f.reason || "")));
      return;
    }
    const room = typeof f.room === "string" ? this.rooms.get(f.room) : undefined;
    room?._onFrame(f);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  _onClose(code, reason) {
    this._ws = null;
    this._clearConnectTimer();
    this._stopHeartbeat();
    this._clearRefresh();
    for (const room of this.rooms.values()) room._onDisconnect();
    this._onDrop(code);
    if (this.state === "closed") return;
    const what = onClose(code);
    if (what === "stop") {
      this._finish(code, reason, describe(code));
    } else if (what === "refresh" && !this._overlay && this._getToken) {
      this._setState("disconnected", { code, reason, message: "Renewing your sign-in…" });
      this._renewThenOpen();
    } else if (what === "refresh") {
      this._finish(code, reason, describe(code));
    } else {
      // 1012: the node is draining and another will take us: no need to wait long.
      const delay = this._delay(code === 1012 ? 0 : this._attempt++);
      this._setState("disconnected", { code, reason, retryInMs: delay,
        message: reconnectMessage(code, delay) });
      this._retryTimer = setTimeout(() => this._open(), delay);
    }
  }

  /** A socket can die silently (a laptop asleep, a NAT dropping it): the hub's pings are
   * invisible to page code, so after a silence the client asks itself. */
  _startHeartbeat() {
    this._stopHeartbeat();
    if (!this._heartbeatMs) return;
    const ws = this._ws;
    this._pingSentAt = 0;
    this._heartbeat = setInterval(() => {
      if (!ws || ws !== this._ws) return;
      const now = Date.now();
      if (this._pingSentAt && this._lastFrameAt < this._pingSentAt) {
        if (now - this._pingSentAt > this._connectTimeoutMs) this._abandon(ws);
        return;
      }
      this._pingSentAt = 0;
      if (now - this._lastFrameAt >= this._heartbeatMs) {
        this._pingSentAt = now;
        this._send({ type: "ping" });
      }
    }, Math.max(50, Math.min(this._heartbeatMs, this._connectTimeoutMs) / 4));
  }

  _stopHeartbeat() {
    if (this._heartbeat) clearInterval(this._heartbeat);
    this._heartbeat = null;
  }

  _clearConnectTimer() {
    if (this._connectTimer) clearTimeout(this._connectTimer);
    this._connectTimer = null;
  }

  _reconnectNow() {
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._open();
  }

  /** After 4002: a fresh token from the page, then straight back (retrying getToken). */
  async _renewThenOpen() {
    this._renewing = true;
    const token = await this._freshToken().finally(() => { this._renewing = false; });
    if (this.state === "closed") return;
    if (!token) {
      this._finish(4002, "refresh failed", describe(0, "refresh_failed"));
      return;
    }
    this._setToken(token);
    this._openSocket();
  }

  /** @returns {Promise<string | null>} */
  async _freshToken() {
    for (let i = 0; i < TOKEN_TRIES && this.state !== "closed"; i++) {
      try {
        const token = await /** @type {() => Promise<string> | string} */ (this._getToken)();
        if (typeof token === "string" && token) return token;
      } catch (err) {
        this.emit("error", new HubError(0, "refresh_failed", { retryable: true, name: "refresh_failed" }));
      }
      await new Promise((r) => setTimeout(r, this._delay(i)));
    }
    return null;
  }

  /** @param {string} token */
  _setToken(token) {
    this._token = token;
    this.claims = readClaims(token);
    this._exp = Number(this.claims.exp) || 0;
  }

  /** Refresh in-band ahead of exp: 60 s before it, or halfway there for short tokens. */
  _scheduleRefresh() {
    this._clearRefresh();
    if (this._overlay || !this._getToken || !this._exp || !this._refreshAhead) return;
    const left = this._exp * 1000 - (Date.now() + this._skewMs);
    const delay = Math.max(0, left - Math.min(REFRESH_LEAD_MS, left / 2));
    this._refreshTimer = setTimeout(() => this._refresh(), delay);
  }

  _clearRefresh() {
    if (this._refreshTimer) clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
  }

  async _refresh() {
    this._refreshTimer = null;
    const token = await this._freshToken();
    if (!token || this.state !== "connected") {
      if (token && this.state !== "closed") this._setToken(token);  // for the next connect
      return;  // no token: 4002 at exp, which tries getToken again
    }
    try {
      const f = await this._request({ type: "refresh", token }, { internal: true });
      this._setToken(token);
      this._exp = Number(f.exp) || this._exp;
      this._setRoles(f.roles);
      this._scheduleRefresh();
    } catch (err) {
      if (!(err instanceof HubError)) return;  // dropped: the reconnect uses the old token or 4002 renews
      this.emit("error", err);  // 4410: the old token still applies; try again closer to exp
      const left = this._exp * 1000 - (Date.now() + this._skewMs);
      if (left > 2000) this._refreshTimer = setTimeout(() => this._refresh(), Math.min(10_000, left / 2));
    }
  }

  /** @param {unknown} roles */
  _setRoles(roles) {
    if (!Array.isArray(roles)) return;
    const next = roles.map(String);
    const changed = next.join(",") !== this.roles.join(",");
    this.roles = next;
    if (changed) this.emit("roles", { roles: next });
  }

  /**
   * Closed for good: reject everything, tell the page why.
   * @param {number} code
   * @param {string} reason
   * @param {string} message
   */
  _finish(code, reason, message) {
    if (this.state === "closed") return;
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._clearRefresh();
    this._clearConnectTimer();
    this._stopHeartbeat();
    globalThis.removeEventListener?.("online", this._online);
    const ws = this._ws;
    this._ws = null;
    this._setState("closed", { code, reason, message });
    if (ws && ws.readyState <= 1) ws.close(1000);
    for (const room of this.rooms.values()) room._onDisconnect();
    const err = code === 1000 && reason === "closed" ? new HubError(0, "closed", { name: "closed" })
      : new HubError(code, reason);
    for (const entry of [...this._pending.values(), ...this._queue]) entry.reject(entry.internal ? null : err);
    this._pending.clear();
    this._queue = [];
    this.emit("closed", { code, message });
  }

  /**
   * @param {"disconnected" | "connecting" | "connected" | "closed"} state
   * @param {{code?: number, reason?: string, retryInMs?: number, message?: string}} info
   */
  _setState(state, info) {
    const previous = this.state;
    this.state = state;
    const message = info.message ?? (state === "connecting" ? "Connecting…"
      : state === "connected" ? "Connected." : undefined);
    this.emit("state", { state, previous, ...info, message });
  }
}

/** What a request's promise resolves with, per reply frame.
 * @param {Record<string, any>} f */
function replyValue(f) {
  switch (f.type) {
    case "result": return f.result;
    case "chat_sent": return { message_id: f.message_id, status: f.status };
    case "chat_page": return { messages: f.messages, before: f.before };
    default: return f;
  }
}

/** "The server is restarting. Reconnecting in 3 s…": why (when the hub said), and when.
 * @param {number} code @param {number} delay */
function reconnectMessage(code, delay) {
  const why = code in CLOSE_CODES ? describe(code).replace(/ ?Reconnecting…$/, "") : "Connection lost.";
  const when = delay < 1000 ? "Reconnecting…" : `Reconnecting in ${Math.ceil(delay / 1000)} s…`;
  return `${why} ${when}`;
}

function defaultUrl() {
  const loc = globalThis.location;
  if (!loc) return "ws://127.0.0.1:8000/ws";
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}
