// Song requests and karaoke for fans: the live queue (with votes), your own place and
// wait (requests.mine / karaoke.mine), and a declined request's reason shown to its
// requester. Every fan gets every queue event (each vote is one), so a page asks the hub
// for "mine" only when the event touches its own songs, after a random 0-2 s (a crowd's
// pages don't all query at once); the rest it reads from the broadcast queue.
import { el, wait, announce } from "./ui.js";
import { reasonOf } from "./viewer-chat.js";

const song = (r) => (r.artist ? `${r.title} — ${r.artist}` : r.title);

/**
 * `fn` once after a burst: `now()` soon (my own action), `later()` after 0.3-2.3 s of
 * jitter (someone else's change that touched my songs). A pending run is not pushed back.
 */
function coalesce(fn) {
  let timer = null;
  const run = (ms) => { if (timer) return; timer = setTimeout(() => { timer = null; fn(); }, ms); };
  return { now: () => { clearTimeout(timer); timer = null; run(300); }, later: () => run(300 + Math.random() * 2000) };
}

/** What a queue state says about my songs (`pick` lists them), to tell if it changed. */
const signature = (items) => JSON.stringify(items);

function field(id, label, attrs = {}) {
  return el("div", { className: "field" }, el("label", { for: id }, label),
    el("input", { id, name: id, autocomplete: "off", ...attrs }));
}

/** A form whose submit button and note reflect whether it can work now. */
class Gate {
  constructor(button, note) { this.button = button; this.note = note; this.reasons = new Map(); }
  set(key, reason) {
    if (reason) this.reasons.set(key, reason); else this.reasons.delete(key);
    const first = [...this.reasons.values()][0];
    this.button.disabled = Boolean(first);
    if (first) this.note.textContent = first;
    else if (this.note.dataset.blocked) this.note.textContent = "";
    this.note.dataset.blocked = first ? "1" : "";
  }
}

export class Requests {
  constructor(room, me) {
    this.room = room;
    this.me = me;
    this.statuses = new Map();  // my request id -> status (to announce a change)
    this.nowPlaying = el("p", { className: "now" });
    this.mine = el("ol", { className: "plain mine-list", "aria-label": "Your requests" });
    this.queue = el("ol", { className: "plain queue", "aria-label": "Request queue" });
    this.note = el("p", { className: "note", role: "status" });
    const button = el("button", { type: "submit" }, "Request");
    this.form = el("form", { className: "stack", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      field("request-title", "Song", { required: true, maxlength: "200" }),
      field("request-artist", "Artist (optional)", { maxlength: "200" }), button);
    this.gate = new Gate(button, this.note);
    this.node = el("section", { className: "card requests", id: "requests", "aria-labelledby": "requests-h" },
      el("h2", { id: "requests-h" }, "Song requests"), this.nowPlaying, this.form, this.note,
      el("h3", {}, "Your requests"), this.mine, el("h3", {}, "Up next"), this.queue);
    this.refresh = coalesce(() => this.loadMine());
    this.seen = "";  // my requests as the last broadcast showed them
    room.on("requests", (state) => {
      this.render(state);
      this.noticeDecline(state);
      const now = this.minePart(state);
      if (state?.request?.requester === this.me.sub || this.statuses.has(state?.request?.id)) this.refresh.later();
      else if (now !== this.seen && !this.reposition(state)) this.refresh.later();
      this.seen = now;
    });
    room.on("subscribed", () => {
      if (room.requests) { this.render(room.requests); this.seen = this.minePart(room.requests); }
      this.refresh.now();
    });
    this.render(null);
  }

  /**
   * Someone else's change moved my queued requests: new places (and waits, at the pace the
   * hub last gave) straight from the broadcast. False when it can't tell (a request of
   * mine it hasn't seen, or one that left): then requests.mine answers.
   */
  reposition(state) {
    const all = new Map([state?.now_playing, ...(state?.queue || [])].filter(Boolean).map((r) => [r.id, r]));
    const items = this.items || [];
    const open = items.filter(({ request: r }) => r.status === "pending" || r.status === "accepted" || r.status === "playing");
    const ours = [...all.values()].filter((r) => r.requester === this.me.sub);
    if (ours.some((r) => !this.statuses.has(r.id)) || open.some(({ request: r }) => !all.has(r.id))) return false;
    const pace = items.map(({ request: r, eta_seconds: eta }) => (r.position > 0 && eta > 0 ? eta / r.position : 0))
      .find((x) => x > 0) || 210;
    this.show(items.map(({ request: r, eta_seconds: eta }) => {
      const now = all.get(r.id);
      return now ? { request: now, eta_seconds: now.position > 0 ? now.position * pace : 0 } : { request: r, eta_seconds: eta };
    }));
    return true;
  }

  /** My requests (by requester, or known from requests.mine) in `state`: id, place, status. */
  minePart(state) {
    const all = [state?.now_playing, ...(state?.queue || [])].filter(Boolean);
    return signature(all.filter((r) => r.requester === this.me.sub || this.statuses.has(r.id))
      .map((r) => [r.id, r.position, r.status]));
  }

  render(state) {
    const playing = state?.now_playing;
    this.nowPlaying.replaceChildren(...(playing ? [el("span", { className: "pill live-pill" }, "Now playing"), " ", song(playing)] : []));
    const queue = state?.queue || [];
    this.queue.replaceChildren(...(queue.length ? queue.map((r) => this.row(r))
      : [el("li", { className: "muted" }, "Nothing queued yet. Request a song!")]));
  }

  row(r) {
    const mine = r.requester === this.me.sub;
    const who = r.requester_name ? `by ${r.requester_name}` : "";
    return el("li", { className: "qrow" },
      el("span", { className: "pos", "aria-hidden": "true" }, r.position ? `${r.position}.` : ""),
      el("span", { className: "grow" }, el("span", { className: "title" }, song(r)),
        who ? el("span", { className: "muted small" }, ` ${who}`) : null),
      el("button", { type: "button", className: "secondary vote", disabled: mine || undefined,
        onclick: (e) => this.vote(r, e.currentTarget) },
      el("span", { "aria-hidden": "true" }, "▲ "), `${r.votes}`,
      el("span", { className: "visually-hidden" }, ` votes. ${mine ? "Your request" : "Vote for this song"}`)));
  }

  async vote(r, button) {
    button.disabled = true;
    try {
      const out = await this.room.call("requests.vote", { request_id: r.id });
      announce(out?.counted === false ? "You already voted for that one." : `Voted for ${song(r)}.`);
    } catch (err) {
      announce(`Couldn't vote: ${reasonOf(err)}`, { error: true });
      button.disabled = false;
    }
  }

  async submit() {
    const title = this.form.elements["request-title"].value.trim();
    const artist = this.form.elements["request-artist"].value.trim();
    if (!title) return;
    this.gate.set("busy", "Sending your request…");
    try {
      await this.room.call("requests.submit", { title, artist });
      this.form.reset();
      this.note.textContent = "";
      announce(`Requested ${artist ? `${title} — ${artist}` : title}.`);
      this.refresh.now();
    } catch (err) {
      this.gate.set("busy", null);
      this.note.textContent = `Couldn't request it: ${reasonOf(err)}`;
      return;
    }
    this.gate.set("busy", null);
  }

  noticeDecline(state) {
    const r = state?.request;
    if (state?.op === "declined" && r && r.requester === this.me.sub) {
      announce(`The DJ declined ${song(r)}${r.decline_reason ? `: ${r.decline_reason}` : "."}`);
    }
  }

  async loadMine() {
    let out;
    try { out = await this.room.call("requests.mine", {}); } catch { return; }
    this.show(out?.requests || []);
  }

  show(items) {
    this.items = items;
    this.mine.replaceChildren(...(items.length ? items.map(({ request: r, eta_seconds: eta }) => {
      this.statuses.set(r.id, r.status);
      return el("li", { className: `mine-row status-${r.status}` }, el("span", { className: "title" }, song(r)),
        el("span", { className: "detail" }, this.describe(r, eta)));
    }) : [el("li", { className: "muted" }, "You haven't requested anything yet.")]));
  }

  describe(r, eta) {
    switch (r.status) {
      case "playing": return "Playing now!";
      case "played": return "Played";
      case "declined": return r.decline_reason ? `Declined: ${r.decline_reason}` : "Declined by the DJ";
      default: return r.position ? `#${r.position} in line · ${wait(eta ?? NaN) || "soon"}` : "Waiting";
    }
  }
}

export class Karaoke {
  constructor(room, me) {
    this.room = room;
    this.me = me;
    this.stage = el("p", { className: "now" });
    this.mine = el("ol", { className: "plain mine-list", "aria-label": "Your karaoke songs" });
    this.note = el("p", { className: "note", role: "status" });
    const button = el("button", { type: "submit" }, "Sign up to sing");
    this.form = el("form", { className: "stack", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      field("karaoke-singer", "Your name", { required: true, maxlength: "60", value: me.name || "" }),
      field("karaoke-song", "Song", { required: true, maxlength: "200" }), button);
    this.gate = new Gate(button, this.note);
    this.node = el("section", { className: "card karaoke", id: "karaoke", "aria-labelledby": "karaoke-h" },
      el("h2", { id: "karaoke-h" }, "Karaoke"), this.stage, this.form, this.note,
      el("h3", {}, "Your songs"), this.mine);
    this.refresh = coalesce(() => this.loadMine());
    this.seen = "";  // my songs as the last broadcast showed them
    room.on("karaoke", (state) => {
      this.render(state);
      const now = this.minePart(state);
      if (now !== this.seen) this.refresh.later();
      this.seen = now;
    });
    room.on("subscribed", () => {
      if (room.karaoke) { this.render(room.karaoke); this.seen = this.minePart(room.karaoke); }
      this.refresh.now();
    });
    this.render(null);
  }

  /** My songs in `state`: where each is (on stage, next, its index), its wait and hold. */
  minePart(state) {
    const on = state?.now_singing;
    return signature([
      ...(on && on.singer_sub === this.me.sub ? [[on.signup_id, "stage"]] : []),
      ...(state?.queue || []).map((s, i) => [s, i]).filter(([s]) => s.singer_sub === this.me.sub)
        .map(([s, i]) => [s.signup_id, i, s.wait_seconds, s.held, state.next_up?.signup_id === s.signup_id]),
    ]);
  }

  render(state) {
    const on = state?.now_singing, next = state?.next_up;
    this.stage.replaceChildren(
      ...(on ? [el("span", { className: "pill live-pill" }, "On stage"), " ", `${on.singer} — ${on.song}`] : ["Nobody on stage right now."]),
      ...(next ? [el("br"), el("span", { className: "muted" }, `Next up: ${next.singer}`)] : []));
  }

  async submit() {
    const singer = this.form.elements["karaoke-singer"].value.trim();
    const song_ = this.form.elements["karaoke-song"].value.trim();
    if (!singer || !song_) return;
    this.gate.set("busy", "Signing you up…");
    try {
      await this.room.call("karaoke.signup", { singer, song: song_ });
      this.form.elements["karaoke-song"].value = "";
      this.note.textContent = "";
      announce(`You're signed up to sing ${song_}.`);
      this.refresh.now();
    } catch (err) {
      this.note.textContent = `Couldn't sign you up: ${reasonOf(err)}`;
    }
    this.gate.set("busy", null);
  }

  async loadMine() {
    let out;
    try { out = await this.room.call("karaoke.mine", {}); } catch { return; }
    const songs = out?.songs || [];
    this.mine.replaceChildren(...(songs.length ? songs.map((s) => el("li", { className: "mine-row" },
      el("span", { className: "title" }, s.song),
      el("span", { className: "detail" }, s.place === 0 ? "You're on stage!"
        : s.place === 1 ? "You're next!" : `#${s.place} in line · ${wait(s.wait_seconds) || "soon"}`,
        s.held ? " (on hold)" : "")))
      : [el("li", { className: "muted" }, "You're not signed up yet.")]));
  }
}

export { Gate };
