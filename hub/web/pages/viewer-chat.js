// The viewer's chat: history, live messages (each once, by message_id), messages typed
// offline shown as "sending…" until the hub confirms them, and a reason whenever the
// input is off (muted, banned, event ended).
import { el, announce, text } from "./ui.js";

const HISTORY = 50;

export class Chat {
  constructor(room, me, { onRefused } = {}) {
    this.room = room;
    this.me = me;
    this.onRefused = onRefused || (() => {});
    this.shown = new Map();  // message_id -> <li>
    // My lines still "sending…", oldest first: the room's copy of one can beat the hub's
    // reply to me, and must replace it rather than show the message twice.
    this.pending = [];
    this.log = el("ol", { className: "plain chat-list" });
    this.scroller = el("div", { className: "chat-log", role: "log", "aria-live": "polite",
      "aria-label": "Chat messages", tabindex: "0" }, this.log);
    this.empty = el("p", { className: "muted chat-empty" }, "No messages yet. Say hello!");
    this.input = el("input", { id: "chat-text", name: "text", autocomplete: "off", maxlength: "500",
      enterkeyhint: "send", "aria-describedby": "chat-note" });
    this.send = el("button", { type: "submit" }, "Send");
    this.note = el("p", { id: "chat-note", className: "note muted", role: "status" });
    this.form = el("form", { className: "chat-form", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      el("label", { for: "chat-text", className: "visually-hidden" }, "Message"),
      el("div", { className: "row" }, el("div", { className: "grow" }, this.input), this.send));
    this.node = el("section", { className: "card chat", id: "chat", "aria-labelledby": "chat-h" },
      el("h2", { id: "chat-h" }, "Chat"), this.empty, this.scroller, this.form, this.note);
    this.blocked = null;
    this.offlineNote = "";
    room.on("chat", (m) => this.add(m));
    room.on("chat_removed", ({ message_id }) => this.remove(message_id));
    room.on("subscribed", ({ recovered }) => { if (!recovered) this.reload(); });
  }

  /** Load the newest page of history again (first subscribe, or a reset after a gap). */
  async reload() {
    try {
      const page = await this.room.history({ limit: HISTORY });
      for (const [id, li] of this.shown) if (!page.messages.some((m) => m.message_id === id)) {
        li.remove();
        this.shown.delete(id);
      }
      for (const m of page.messages) this.add(m, false);
      this.scroll();
    } catch { /* the live messages still arrive; history comes with the next reset */ }
  }

  add(m, scroll = true) {
    if (!m || typeof m.message_id !== "string" || this.shown.has(m.message_id)) return;
    const mine = m.user === this.me.sub;
    if (mine) this.settle(m.text);
    const li = el("li", { className: mine ? "msg mine" : "msg", dataset: { id: m.message_id } },
      el("span", { className: "who" }, text(m.name) || (mine ? this.me.name || "You" : m.staff === true ? "Host" : "Fan")), " ",
      // `staff` comes from the hub (the poster's roles): a fan naming themselves "DJ" gets no badge.
      m.staff === true && text(m.name) ? el("span", { className: "badge host" }, "Host") : null,
      m.staff === true && text(m.name) ? " " : null,
      el("span", { className: "what" }, String(m.text ?? "")));
    li.dataset.time = String(m.time || 0);
    let before = null;  // keep time order: history may arrive after live messages
    for (const other of [...this.log.children].reverse()) {
      if (other.classList.contains("pending") || Number(other.dataset.time) > (m.time || 0)) before = other;
      else break;
    }
    this.log.insertBefore(li, before);
    this.shown.set(m.message_id, li);
    this.empty.hidden = true;
    if (scroll) this.scroll();
  }

  /** Take the oldest "sending…" line showing `value` off (it has been delivered). */
  settle(value) {
    const i = this.pending.findIndex((p) => p.text === value);
    if (i < 0) return;
    this.pending[i].li.remove();
    this.pending.splice(i, 1);
  }

  remove(id) {
    this.shown.get(id)?.remove();
    this.shown.delete(id);
  }

  scroll() { this.scroller.scrollTop = this.scroller.scrollHeight; }

  submit() {
    const value = this.input.value.trim();
    if (!value || this.blocked) return;
    this.input.value = "";
    const state = el("span", { className: "state" }, "sending…");
    const li = el("li", { className: "msg mine pending" },
      el("span", { className: "who" }, this.me.name || "You"), " ", el("span", { className: "what" }, value), " ", state);
    li.dataset.time = String(Number.MAX_SAFE_INTEGER);
    this.log.append(li);
    const entry = { li, text: value };
    this.pending.push(entry);
    const done = () => {
      const i = this.pending.indexOf(entry);
      if (i >= 0) this.pending.splice(i, 1);
    };
    this.empty.hidden = true;
    this.scroll();
    this.room.chat(value).then((res) => {
      done();
      li.remove();
      if (res?.status === "held") {
        announce("Your message is waiting for a moderator to approve it.");
        return;
      }
      this.add({ message_id: res.message_id, user: this.me.sub, name: this.me.name, text: value, time: Date.now() });
    }, (err) => {
      done();
      li.classList.replace("pending", "failed");
      state.textContent = `not sent: ${reasonOf(err)}`;
      if (err?.code === 4422 || err?.code === 4403) this.onRefused(err);
    });
  }

  /** Turn the input off with `reason` shown (null: on again). */
  block(reason) {
    this.blocked = reason;
    this.input.disabled = this.send.disabled = Boolean(reason);
    this.note.textContent = reason || this.offlineNote;
    this.note.classList.toggle("warn", Boolean(reason));
  }

  /** Offline: the input stays on, and says messages go out on reconnect. */
  offline(isOffline) {
    this.offlineNote = isOffline ? "You're offline. Messages you send now go out when you're back." : "";
    if (!this.blocked) this.note.textContent = this.offlineNote;
  }
}

/** A fan-readable reason for a failed call. */
export function reasonOf(err) {
  // HubError.message is already a sentence for people (the hub's own reason for a 4422);
  // .reason is for logs.
  const text = String(err?.message || "");
  return text && text.length < 240 ? text : "Please try again.";
}
