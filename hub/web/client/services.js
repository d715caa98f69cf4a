// Room service state kept by version (docs/protocol.md, "Room services").
//
// requests and karaoke events carry the full state: the newest version wins, older ones
// are ignored. tips events are increments: each is applied only at held version + 1, in
// order; a gap means an event was never seen and the room resubscribes for a snapshot.
// A snapshot (sent after a fresh subscribe) replaces the state unless the room already
// holds a newer version (a live event can overtake the snapshot read).

/** @typedef {import('./protocol').Alert} Alert */
/** @typedef {import('./protocol').QueueState & {op?: string, request?: import('./protocol').RequestItem}} RequestsState */
/** @typedef {import('./protocol').KaraokeState & {change?: string}} KaraokeViewState */
/**
 * @typedef {{version: number, paid_cents: number, goal_cents: number | null,
 *   showing: Alert | null, queue: Alert[]}} TipsView
 */
/** @typedef {[string, unknown]} Emit  an event name and its payload, for the room to emit */

const TIPS_EVENTS = new Set(["tips.goal", "tips.alert_queued", "tips.alert_show", "tips.alert_done"]);

/** @param {unknown} v @returns {v is Record<string, any>} */
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
/** @param {unknown} v @returns {v is number} */
const isInt = (v) => Number.isSafeInteger(v) && /** @type {number} */ (v) >= 0;

/** @param {Alert[]} queue */
const ordered = (queue) => queue.slice().sort(
  (a, b) => Number(b.priority) - Number(a.priority) || a.seq - b.seq);

export class Services {
  constructor() {
    /** @type {RequestsState | null} */
    this.requests = null;
    /** @type {KaraokeViewState | null} */
    this.karaoke = null;
    /** @type {TipsView | null} */
    this.tips = null;
    /** @type {{slow_mode_seconds: number} | null} */
    this.chatSettings = null;
    /** tips events that arrived ahead of their base (waiting for the snapshot) */
    /** @type {Record<string, any>[]} */
    this._tipsAhead = [];
    /** true between a fresh `subscribed` and the end of its snapshots */
    this.awaitingSnapshots = false;
  }

  /** A fresh subscription began: snapshots follow; hold back tips events until they do. */
  expectSnapshots() {
    this.awaitingSnapshots = true;
  }

  /**
   * The snapshots are in (the first room frame after them arrived): apply the tips
   * events that waited. Returns what to emit and whether a gap remains.
   * @returns {{emits: Emit[], gap: boolean}}
   */
  snapshotsDone() {
    this.awaitingSnapshots = false;
    return this.drainTips();
  }

  /**
   * @param {string} service
   * @param {unknown} state
   * @returns {Emit[]}
   */
  snapshot(service, state) {
    if (!isObj(state)) return [];
    switch (service) {
      case "requests": return this._full("requests", state, true);
      case "karaoke": return this._full("karaoke", state, true);
      case "moderation":
        this.chatSettings = { slow_mode_seconds: Number(state.slow_mode_seconds) || 0 };
        return [["chat_settings", this.chatSettings]];
      case "tips": {
        if (!isInt(state.version) || (this.tips && this.tips.version > state.version)) return [];
        this.tips = {
          version: state.version,
          paid_cents: Number(state.paid_cents) || 0,
          goal_cents: isInt(state.goal_cents) ? state.goal_cents : null,
          showing: isObj(state.showing) ? /** @type {Alert} */ (state.showing) : null,
          queue: ordered(Array.isArray(state.waiting) ? /** @type {Alert[]} */ (state.waiting.filter(isObj)) : []),
        };
        return [["tips", this.tips]];
      }
      default: return [["snapshot", { service, state }]];
    }
  }

  /**
   * A room event (a message's data). Returns null when it is no service event.
   * @param {Record<string, any>} data
   * @returns {{emits: Emit[], gap: boolean} | null}
   */
  event(data) {
    switch (data.type) {
      case "requests": return { emits: this._full("requests", data, false), gap: false };
      case "karaoke": return { emits: this._full("karaoke", data, false), gap: false };
      case "chat_settings":
        this.chatSettings = { slow_mode_seconds: Number(data.slow_mode_seconds) || 0 };
        return { emits: [["chat_settings", this.chatSettings]], gap: false };
    }
    if (!TIPS_EVENTS.has(data.type) || !isInt(data.version)) return null;
    this._tipsAhead.push(data);
    return this.drainTips();
  }

  /**
   * The state a 4412 carried, for the service that owns `method`.
   * @param {string} method
   * @param {unknown} state
   * @returns {Emit[]}
   */
  stale(method, state) {
    const service = method.split(".")[0];
    if (!isObj(state)) return [];
    if (service === "requests" || service === "karaoke") return this._full(service, state, false);
    if (service === "tips") return this.snapshot("tips", state);
    return [];
  }

  /**
   * @param {"requests" | "karaoke"} service
   * @param {Record<string, any>} state
   * @param {boolean} sameOk a snapshot may repeat the held version (it is the same state)
   * @returns {Emit[]}
   */
  _full(service, state, sameOk) {
    if (!isInt(state.version)) return [];
    const held = this[service];
    if (held && (state.version < held.version || (state.version === held.version && !sameOk))) {
      return [];
    }
    const { type: _type, ...rest } = state;
    this[service] = /** @type {any} */ (rest);
    return [[service, rest]];
  }

  /** @returns {{emits: Emit[], gap: boolean}} */
  drainTips() {
    /** @type {Emit[]} */
    const emits = [];
    this._tipsAhead.sort((a, b) => a.version - b.version);
    for (;;) {
      const next = this._tipsAhead[0];
      if (!next) break;
      const held = this.tips ? this.tips.version : 0;
      if (next.version <= held) { this._tipsAhead.shift(); continue; }  // seen already
      if (next.version !== held + 1) break;  // ahead: a snapshot or the missing event may come
      this._tipsAhead.shift();
      emits.push(...this._foldTip(next));
    }
    // A gap that no snapshot will fill: the room must resubscribe.
    const gap = !this.awaitingSnapshots && this._tipsAhead.length > 0;
    if (gap) this._tipsAhead = [];
    return { emits, gap };
  }

  /**
   * @param {Record<string, any>} e
   * @returns {Emit[]}
   */
  _foldTip(e) {
    const t = this.tips || { version: 0, paid_cents: 0, goal_cents: null, showing: null, queue: [] };
    /** @type {TipsView} */
    const next = { ...t, version: e.version };
    /** @type {Emit[]} */
    const emits = [];
    switch (e.type) {
      case "tips.goal":
        next.paid_cents = Number(e.paid_cents) || 0;
        next.goal_cents = isInt(e.goal_cents) ? e.goal_cents : null;
        break;
      case "tips.alert_queued":
        if (isObj(e.alert)) {
          next.queue = ordered([...t.queue.filter((a) => a.alert_id !== e.alert.alert_id),
            /** @type {Alert} */ (e.alert)]);
        }
        break;
      case "tips.alert_show":
        if (isObj(e.alert)) {
          next.showing = /** @type {Alert} */ (e.alert);
          next.queue = t.queue.filter((a) => a.alert_id !== e.alert.alert_id);
          emits.push(["tips.alert_show", e.alert]);
        }
        break;
      case "tips.alert_done":
        if (t.showing && t.showing.alert_id === e.alert_id) next.showing = null;
        next.queue = t.queue.filter((a) => a.alert_id !== e.alert_id);
        emits.push(["tips.alert_done", { alert_id: e.alert_id, outcome: e.outcome }]);
        break;
    }
    this.tips = next;
    return [["tips", next], ...emits];
  }
}
