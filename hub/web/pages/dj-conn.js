// The dashboard's connection to the hub: the subset of the @livehub/client contract
// (docs/client.md) the dashboard uses — LiveHub {state, roles, on, connect, close, room}
// and Room {on, call, requests, karaoke, tips, chatSettings, presence}. It stands in until
// @livehub/client lands; the dashboard then imports that package instead, unchanged.

const CLOSE_TEXT = {
  4001: "Your sign-in link is not valid. Ask the event's owner for a new dashboard link.",
  4002: "Your sign-in expired. Open a fresh dashboard link.",
  4003: "This link was replaced by a newer one.",
};
const FOR_GOOD = new Set([1000, 4001, 4003]);

export class HubError extends Error {
  constructor(code, reason, state = null) {
    super(reason || `error ${code}`);
    this.code = code; this.reason = reason; this.state = state;
    this.retryable = [4429, 4500, 4503].includes(code);
  }
}

class Emitter {
  constructor() { this.handlers = new Map(); }
  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(fn);
    return () => this.off(name, fn);
  }
  off(name, fn) { this.handlers.get(name)?.delete(fn); }
  emit(name, value) {
    for (const fn of [...(this.handlers.get(name) || [])]) {
      try { fn(value); } catch (err) { console.error(err); }
    }
  }
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : -1);

class Room extends Emitter {
  constructor(hub, name) {
    super();
    this.hub = hub; this.name = name; this.state = "unsubscribed"; this.position = null;
    this.requests = null; this.karaoke = null; this.tips = null; this.chatSettings = null;
    this.presence = { count: 0, members: [] };
  }
  call(method, params = {}) { return this.hub._request({ type: "call", room: this.name, method, params }); }
  _subscribe() {
    this.state = "subscribing";
    this.hub._send({ type: "subscribe", room: this.name, recover: this.position, presence_events: true });
  }
  _frame(f) {
    switch (f.type) {
      case "subscribed": {
        const was = this.position !== null;
        this.state = "subscribed";
        this.position = { epoch: f.epoch, offset: f.offset };
        for (const p of f.publications || []) this._message(p.offset, p.data);
        this.emit("subscribed", { recovered: !!f.recovered, wasRecovering: was });
        this.hub._send({ type: "presence", room: this.name });
        break;
      }
      case "message": this._message(f.offset, f.data); break;
      case "snapshot": this._snapshot(f.service, f.state); break;
      case "presence": this._presence(f.count, f.members); break;
      case "join": case "leave": this.hub._send({ type: "presence", room: this.name }); break;
    }
  }
  _presence(count, members) {
    this.presence = { count: num(count), members: Array.isArray(members) ? members : [] };
    this.emit("presence", this.presence);
  }
  _snapshot(service, state) {
    if (!isObj(state)) return;
    if (service === "requests" || service === "karaoke") this._apply(service, state);
    else if (service === "tips") this._tips({ ...state, queue: state.waiting || [] }, true);
    else if (service === "moderation") { this.chatSettings = state; this.emit("chat_settings", state); }
  }
  /** Keep a versioned queue only when newer (a snapshot may arrive after a newer event). */
  _apply(service, state) {
    if (!isObj(state) || (this[service] && num(state.version) <= num(this[service].version))) return;
    this[service] = state;
    this.emit(service, state);
  }
  _tips(next, replace = false) {
    if (!replace && this.tips && num(next.version) <= num(this.tips.version)) return;
    this.tips = next;
    this.emit("tips", next);
  }
  _message(offset, data) {
    if (this.position && offset > this.position.offset) this.position.offset = offset;
    if (!isObj(data)) return;
    this.emit("message", data);
    const t = this.tips || { version: 0, paid_cents: 0, goal_cents: null, showing: null, queue: [] };
    switch (data.type) {
      case "requests": case "karaoke": this._apply(data.type, data); break;
      case "tips.goal": this._tips({ ...t, version: data.version, paid_cents: data.paid_cents, goal_cents: data.goal_cents }); break;
      case "tips.alert_queued":
        this._tips({ ...t, version: data.version, queue: [...t.queue, data.alert] });
        this.emit("tips.alert_queued", data.alert);
        break;
      case "tips.alert_show":
        this._tips({ ...t, version: data.version, showing: data.alert,
          queue: t.queue.filter((a) => a?.alert_id !== data.alert?.alert_id) });
        this.emit("tips.alert_show", data.alert);
        break;
      case "tips.alert_done":
        this._tips({ ...t, version: data.version, showing: t.showing?.alert_id === data.alert_id ? null : t.showing,
          queue: t.queue.filter((a) => a?.alert_id !== data.alert_id) });
        this.emit("tips.alert_done", data);
        break;
      case "chat_settings": this.chatSettings = data; this.emit("chat_settings", data); break;
      case "chat": case "chat_removed": case "sanction": case "viewers": case "event_status": case "recording":
        this.emit(data.type, data); break;
    }
  }
}

export class LiveHub extends Emitter {
  constructor({ url, token, getToken, minDelayMs = 500, maxDelayMs = 15000 } = {}) {
    super();
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = url || `${proto}//${location.host}/ws`;
    this.token = token; this.getToken = getToken;
    this.minDelayMs = minDelayMs; this.maxDelayMs = maxDelayMs;
    this.state = "disconnected"; this.rooms = new Map(); this.pending = new Map();
    this.outbox = []; this.nextId = 1; this.attempt = 0; this.ws = null; this.timer = null;
    this.roles = []; this.claims = {};
    this._setClaims(token);
  }
  _setClaims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      this.claims = JSON.parse(atob(part)) || {};
    } catch { this.claims = {}; }
    this.roles = Array.isArray(this.claims.roles) ? this.claims.roles : [];
  }
  _state(state, extra = {}) {
    const previous = this.state;
    this.state = state;
    this.emit("state", { state, previous, ...extra });
  }
  room(name) {
    if (!this.rooms.has(name)) {
      const room = new Room(this, name);
      this.rooms.set(name, room);
      if (this.state === "connected") room._subscribe();
    }
    return this.rooms.get(name);
  }
  connect() {
    if (this.ws || this.state === "closed") return;
    this._state("connecting");
    const ws = (this.ws = new WebSocket(`${this.url}?token=${encodeURIComponent(this.token)}`));
    ws.onmessage = (e) => { let f; try { f = JSON.parse(e.data); } catch { return; } this._frame(f); };
    ws.onclose = (e) => this._closed(e.code);
  }
  close() {
    clearTimeout(this.timer); clearTimeout(this.refreshTimer);
    const ws = this.ws; this.ws = null;
    ws?.close(1000);
    this._stop(1000, "closed");
  }
  _stop(code, message) {
    this._state("closed", { code, message });
    for (const p of this.pending.values()) p.reject(new HubError(0, "closed"));
    this.pending.clear();
    this.emit("closed", { code, message });
  }
  async _closed(code) {
    this.ws = null;
    clearTimeout(this.refreshTimer);
    for (const r of this.rooms.values()) r.state = "unsubscribed";
    if (this.state === "closed") return;
    if (FOR_GOOD.has(code)) { this._stop(code, CLOSE_TEXT[code] || "Disconnected."); return; }
    if (code === 4002 && this.getToken) {
      try { this.token = await this.getToken(); this._setClaims(this.token); }
      catch { this._stop(code, CLOSE_TEXT[4002]); return; }
    }
    const cap = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt++);
    const retryInMs = Math.round(Math.random() * cap);
    this._state("disconnected", { code, retryInMs,
      message: `Connection lost. Reconnecting in ${Math.max(1, Math.round(retryInMs / 1000))} s…` });
    this.timer = setTimeout(() => this.connect(), retryInMs);
  }
  _scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    if (!this.getToken || !this.claims.exp) return;
    const inMs = Math.max(5000, this.claims.exp * 1000 - Date.now() - 60000);
    this.refreshTimer = setTimeout(async () => {
      try {
        const fresh = await this.getToken();
        this.token = fresh; this._setClaims(fresh);
        this._send({ type: "refresh", token: fresh });
      } catch { /* the hub closes with 4002 at exp; _closed tries once more */ }
    }, inMs);
  }
  _send(frame) {
    if (this.state === "connected" && this.ws?.readyState === 1) { this.ws.send(JSON.stringify(frame)); return true; }
    return false;
  }
  _request(frame) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const full = { ...frame, id };
      if (!this._send(full)) this.outbox.push(full);  // queued while offline, sent on reconnect
    });
  }
  _frame(f) {
    switch (f.type) {
      case "welcome":
        this.attempt = 0;
        this._state("connected");
        this._scheduleRefresh();
        for (const room of this.rooms.values()) room._subscribe();
        for (const frame of this.outbox.splice(0)) this._send(frame);
        return;
      case "refreshed": case "roles":
        if (Array.isArray(f.roles)) { this.roles = f.roles; this.emit("roles", { roles: f.roles }); }
        if (f.type === "refreshed") this._scheduleRefresh();
        return;
      case "result": case "error": {
        const p = this.pending.get(f.id);
        if (f.type === "error" && f.code === 4412 && isObj(f.state)) {
          // The current state rides along: apply it, so the queue shown is the hub's.
          const room = this.rooms.get(f.room) || [...this.rooms.values()][0];
          if (room) room._apply("now_singing" in f.state ? "karaoke" : "requests", f.state);
        }
        if (p) {
          this.pending.delete(f.id);
          if (f.type === "result") p.resolve(f.result);
          else p.reject(new HubError(f.code, f.reason, f.state));
        } else if (f.type === "error") this.emit("error", new HubError(f.code, f.reason, f.state));
        return;
      }
    }
    const room = f.room && this.rooms.get(f.room);
    if (room) room._frame(f);
  }
}
