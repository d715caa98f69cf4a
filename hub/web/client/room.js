// One room: its subscription (resubscribed with {epoch, offset} after every reconnect),
// the room's messages turned into events, and its service state kept by version.
import { Emitter } from "./emitter.js";
import { HubError } from "./errors.js";
import { Services } from "./services.js";

/** @typedef {import('./hub.js').LiveHub} LiveHub */
/** @typedef {import('./protocol').StreamPosition} StreamPosition */
/** @typedef {import('./protocol').Member} Member */

// Calls that are safe to send twice, so one in flight when the socket dropped is resent
// after reconnect: reads, and changes that end in the same state when repeated. Methods
// whose params carry `version` are resent too (wire.js VERSIONED_METHODS): if the first
// send was applied, the resend is stale and answers 4412 with the current state.
// Everything else (karaoke.signup, requests.submit, moderation.mute, event.status...) is
// rejected with a retryable HubError instead: the page decides whether to do it again.
const IDEMPOTENT = new Set([
  "requests.mine", "requests.vote", "karaoke.mine", "tips.state", "tips.ack",
  "moderation.held", "moderation.lift", "moderation.slow_mode", "moderation.delete",
  "moderation.approve", "moderation.blocked_words", "chat.history", "event.update",
]);
const SEEN_CHAT_MAX = 5000;

/** @param {unknown} v @returns {v is Record<string, any>} */
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export class Room extends Emitter {
  /**
   * @param {LiveHub} hub
   * @param {string} name
   * @param {{presence?: boolean}} [opts]
   */
  constructor(hub, name, opts = {}) {
    super();
    this.hub = hub;
    this.name = name;
    this.presenceEvents = Boolean(opts.presence);
    /** @type {"unsubscribed" | "subscribing" | "subscribed"} */
    this.state = "unsubscribed";
    /** @type {StreamPosition | null} */
    this.position = null;
    /** @type {{count: number, members: Member[]}} */
    this.presence = { count: 0, members: [] };
    this._services = new Services();
    /** message_ids already emitted as "chat" (a recovered or resent message shows once) */
    this._seenChat = new Set();
    /** set when the hub refused the subscription (4403, 4404): not retried */
    this._refused = false;
    this._left = false;
    this._retries = 0;
    /** subscribe without recovery next time (a tips gap asks for fresh snapshots) */
    this._fresh = false;
    /** a snapshot arrived since the fresh subscribe; the next other frame ends the batch */
    this._gotSnapshot = false;
  }

  get requests() { return this._services.requests; }
  get karaoke() { return this._services.karaoke; }
  get tips() { return this._services.tips; }
  get chatSettings() { return this._services.chatSettings; }

  /**
   * Call a room service method. Queued while disconnected; see IDEMPOTENT for what is
   * resent when the socket drops with the call in flight.
   * @param {string} method
   * @param {unknown} [params]
   * @returns {Promise<any>}
   */
  call(method, params = {}) {
    const resend = IDEMPOTENT.has(method) || this.hub.versionedMethods.has(method);
    return this.hub._request({ type: "call", room: this.name, method, params },
      { resend, room: this, method });
  }

  /**
   * Post a chat message. Its client_msg_id makes a resend (after a reconnect) stored once.
   * Sent once the room is subscribed, so the poster's own message comes back to it in
   * order with everyone else's (a chat posted before the subscription is not delivered
   * to the posting connection).
   * @param {string} text
   * @returns {Promise<{message_id: string, status: string}>}
   */
  chat(text) {
    const clientMsgId = randomId();
    return this.hub._request({ type: "chat", room: this.name, text, client_msg_id: clientMsgId },
      { resend: true, room: this, needsSubscription: true });
  }

  /**
   * A page of stored chat, older than `before` (sent once the room is subscribed).
   * @param {{before?: number | null, limit?: number}} [opts]
   * @returns {Promise<{messages: import('./protocol').ChatItem[], before: number | null}>}
   */
  async history({ before = null, limit = 50 } = {}) {
    const page = await this.hub._request({ type: "chat_history", room: this.name, before, limit },
      { resend: true, room: this, needsSubscription: true });
    for (const m of page.messages) if (m && typeof m.message_id === "string") this._remember(m.message_id);
    this.emit("chat_page", page);
    return page;
  }

  /** Leave the room: unsubscribe now (if connected) and never resubscribe. */
  leave() {
    if (this._left) return;
    this._left = true;
    if (this.state !== "unsubscribed" && this.hub.state === "connected") {
      this.hub._send({ type: "unsubscribe", room: this.name });
    }
    this.state = "unsubscribed";
    this.hub._forget(this);
  }

  // --- driven by the hub -----------------------------------------------------------

  /** The connection is up: subscribe, with recovery when the room has a position. */
  _subscribe() {
    if (this._left || this._refused) return;
    this.state = "subscribing";
    const wasRecovering = Boolean(this.position) && !this._fresh;
    const recover = wasRecovering ? this.position : null;
    this._fresh = false;
    this.hub._enqueue({ type: "subscribe", room: this.name, recover,
      presence_events: this.presenceEvents }, { internal: true, room: this },
    (f) => this._onSubscribed(f, wasRecovering), (err) => this._onSubscribeError(err));
  }

  /** The socket dropped: the subscription is gone with it (the position stays). */
  _onDisconnect() {
    this.state = "unsubscribed";
  }

  /**
   * @param {import('./protocol').ServerSubscribed} f
   * @param {boolean} wasRecovering
   */
  _onSubscribed(f, wasRecovering) {
    if (this._left) return;
    this._retries = 0;
    const recovered = Boolean(f.recovered);
    if (!recovered) {
      this._services.expectSnapshots();
      this.position = { epoch: f.epoch, offset: f.offset };
    }
    this.state = "subscribed";
    this.emit("subscribed", { recovered, wasRecovering });
    for (const p of f.publications || []) this._onMessage(p.offset, p.data);
    if (this.presenceEvents) {
      this.hub._enqueue({ type: "presence", room: this.name }, { internal: true, room: this },
        (p) => this._onPresence(p), () => {});
    }
    this.hub._flush();
  }

  /** @param {unknown} err */
  _onSubscribeError(err) {
    if (!(err instanceof HubError) || this._left) return;  // dropped: resubscribed on reconnect
    this.state = "unsubscribed";
    if (err.code === 4409 && this._retries++ < 3) {  // the hub holds an old subscription: replace it
      this.hub._send({ type: "unsubscribe", room: this.name });
      this._subscribe();
      return;
    }
    if (err.retryable && this._retries < 8) {
      setTimeout(() => this.hub.state === "connected" && this._subscribe(),
        this.hub._delay(this._retries++));
      return;
    }
    this._refused = true;
    this.hub._failRoom(this, err);
    this.emit("error", err);
    this.hub.emit("error", err);
  }

  /** @param {Record<string, any>} f a server frame for this room, with no request id */
  _onFrame(f) {
    if (f.type !== "snapshot" && this._services.awaitingSnapshots && this._gotSnapshot) {
      this._gotSnapshot = false;
      this._apply(this._services.snapshotsDone());
    }
    switch (f.type) {
      case "message": this._onMessage(f.offset, f.data); break;
      case "snapshot":
        this._gotSnapshot = true;
        this._emitAll(this._services.snapshot(f.service, f.state));
        if (f.service === "tips") this._apply(this._services.drainTips());
        break;
      case "subscribed": this._onReset(f); break;  // unrequested: the room was reset
      case "presence": this._onPresence(f); break;
      case "join": this._onMember(f.member, true); break;
      case "leave": this._onMember(f.member, false); break;
    }
  }

  /**
   * The hub reset the room's history under this subscription (a Redis restart): the
   * stream goes on from the new position, and what was built before may miss messages,
   * so subscribe again without recovery for fresh snapshots.
   * @param {Record<string, any>} f
   */
  _onReset(f) {
    if (this._left || this.state !== "subscribed") return;
    this.position = { epoch: String(f.epoch), offset: Number(f.offset) };
    this._resubscribe();
  }

  /**
   * @param {number} offset
   * @param {unknown} data
   */
  _onMessage(offset, data) {
    if (this.position) {
      if (offset <= this.position.offset) return;  // already seen (recovery overlap)
      this.position = { epoch: this.position.epoch, offset };
    }
    if (!isObj(data)) { this.emit("message", data); return; }
    const folded = this._services.event(data);
    if (folded) { this._apply(folded); return; }
    const { type, ...rest } = data;
    switch (type) {
      case "chat":
        if (this._seenChat.has(data.message_id)) return;
        this._remember(data.message_id);
        this.emit("chat", rest);
        return;
      case "chat_removed": case "sanction": case "viewers": case "event_status": case "recording":
        this.emit(type, rest);
        return;
      default:
        this.emit("message", data);
    }
  }

  /** @param {{emits: import('./services.js').Emit[], gap: boolean}} folded */
  _apply(folded) {
    this._emitAll(folded.emits);
    if (folded.gap) this._resubscribe();
  }

  /** A tips version gap: subscribe again without recovery, so fresh snapshots come. */
  _resubscribe() {
    if (this.hub.state !== "connected" || this.state !== "subscribed") return;
    this.hub._send({ type: "unsubscribe", room: this.name });
    this._fresh = true;
    this._subscribe();
  }

  /**
   * A 4412 answer's state: the room shows the current queue before the call rejects.
   * @param {string} method
   * @param {unknown} state
   */
  _onStale(method, state) {
    this._emitAll(this._services.stale(method, state));
  }

  /** @param {import('./services.js').Emit[]} emits */
  _emitAll(emits) {
    for (const [name, payload] of emits) this.emit(name, payload);
  }

  /** @param {Record<string, any>} f */
  _onPresence(f) {
    const members = /** @type {Member[]} */ (Array.isArray(f.members) ? f.members.filter(isObj) : []);
    this.presence = { count: members.length, members };
    this.emit("presence", this.presence);
  }

  /**
   * @param {unknown} member
   * @param {boolean} joined
   */
  _onMember(member, joined) {
    if (!isObj(member)) return;
    const others = this.presence.members.filter((m) => m.client !== member.client);
    const members = joined ? [...others, /** @type {Member} */ (member)] : others;
    this.presence = { count: members.length, members };
    this.emit("presence", this.presence);
  }

  /** @param {string} id */
  _remember(id) {
    this._seenChat.add(id);
    if (this._seenChat.size > SEEN_CHAT_MAX) {
      this._seenChat.delete(this._seenChat.values().next().value);
    }
  }
}

/** A random id for client_msg_id (crypto.randomUUID where there is one). */
function randomId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
