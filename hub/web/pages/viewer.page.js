// The fans' page /e/<event>: sign in (link token or guest name), the stream, chat, tips,
// song requests and karaoke — all live over one @livehub/client connection.
import "./base.css";
import "./viewer.css";
import { LiveHub } from "@livehub/client";
import { pageConfig, takeFragment, claimsOf, el, money, announce, remember, recall, completeConfig } from "./ui.js";
import * as api from "./viewer-api.js";
import { Player } from "./viewer-player.js";
import { Chat } from "./viewer-chat.js";
import { Requests, Karaoke } from "./viewer-queues.js";
import { Tip } from "./viewer-tip.js";

const config = pageConfig();
const event = config.event;
const CLOSED = new Set(["ended", "cancelled"]);
const RETURN_KEY = `livehub:return:${event}`;
const SCOPE = `e:${event}`;  // this tab's remembered sign-in (ui.js remember/recall)
const app = document.getElementById("app");

// -- header ------------------------------------------------------------------------------
const statusPill = el("span", { className: "pill status-pill", id: "event-status" });
const countPill = el("span", { className: "pill", id: "viewers", hidden: true });
const connDot = el("span", { className: "dot", "aria-hidden": "true" });
const connText = el("span", {}, "Not connected");
const connPill = el("span", { className: "pill", id: "connection", role: "status", hidden: true }, connDot, connText);
const header = el("header", { className: "topbar" },
  el("span", { className: "brandmark" }, config.brand_name || "Live"),
  el("h1", { className: "title grow" }, config.title || "Live event"),
  statusPill, countPill, connPill);
const banner = el("div", { className: "banner", id: "banner", role: "status", hidden: true });

const player = new Player(() => {});
const stage = el("section", { className: "stage", "aria-label": "Stream" }, player.frame);
const side = el("div", { className: "side" });
const extras = el("div", { className: "extras" });
app.append(header, el("div", { className: "layout" }, banner, stage, side, extras));

let status = config.status || "scheduled";
function showStatus() {
  const [label, cls] = status === "live" ? ["Live", "live"] : CLOSED.has(status) ? ["Ended", "ended"] : ["Starts soon", "soon"];
  statusPill.textContent = label;
  statusPill.className = `pill status-pill ${cls}`;
}
showStatus();

function say(text, kind = "") {
  banner.hidden = !text;
  banner.className = `banner ${kind}`;
  banner.replaceChildren(...(Array.isArray(text) ? text : [text || ""]));
}

const placeholder = () => (status === "live" ? (config.livekit ? "Connecting to the stream…" : "We're live! There's no video on this page, but the chat is open.")
  : CLOSED.has(status) ? "This event has ended. Thanks for watching!" : "The stream starts soon. Stay here — it will start by itself.");

// -- returning from Stripe Checkout ------------------------------------------------------
// The stash (written just before leaving for Checkout) is what proves this tab went there:
// it is used whenever present, also when the fan came back with the browser's Back button
// (no ?paid/?cancelled), and "thank you" shows only with it (a crafted ?paid=tip link
// thanks nobody).
const fragment = takeFragment();  // first: stripping the query below drops the fragment too
const query = new URLSearchParams(location.search);
let returned = { paid: query.get("paid"), cancelled: query.get("cancelled") };
if (returned.paid || returned.cancelled) {
  history.replaceState(null, "", location.pathname);
}
function takeStash() {
  try {
    const raw = sessionStorage.getItem(RETURN_KEY);
    sessionStorage.removeItem(RETURN_KEY);
    const saved = raw ? JSON.parse(raw) : null;
    return saved && typeof saved.token === "string" ? saved : null;
  } catch { return null; }
}
const here = () => `${location.origin}${location.pathname}`;

// -- sign-in -----------------------------------------------------------------------------
// The link's token wins; else the one stashed for Checkout; else the one this tab
// remembered (a reload, or a phone that discarded the tab).
const stashed = takeStash();
if (!stashed) returned = { paid: null, cancelled: null };
const linked = fragment.get("token");
const first = linked || stashed?.token || (event ? recall(SCOPE) : "");
player.message(placeholder());
if (!event) {
  player.message("This event could not be found. Check the link you were given.");
} else if (first) {
  start(first, stashed && !linked ? stashed.guestName : null);
} else {
  signIn();
}

function signIn() {
  if (CLOSED.has(status)) {
    side.append(el("section", { className: "card" }, el("h2", {}, "This event has ended"),
      el("p", {}, "Thanks for stopping by. Follow the host to catch the next one.")));
    return;
  }
  if (config.ppv_price_cents) {
    side.append(el("section", { className: "card", id: "ppv-info" }, el("h2", {}, "Get your ticket"),
      el("p", {}, `This is a pay-per-view event (${money(config.ppv_price_cents)}).`),
      el("p", {}, "Open the ticket link the host sent you: it signs you in, then you can buy access right here.")));
    return;
  }
  if (config.visibility !== "public") {
    side.append(el("section", { className: "card" }, el("h2", {}, "Invitation needed"),
      el("p", {}, "This event is private. Open the invitation link the host sent you to join.")));
    return;
  }
  const input = el("input", { id: "guest-name", name: "display_name", required: true, maxlength: "60",
    autocomplete: "nickname", "aria-describedby": "guest-note" });
  const button = el("button", { type: "submit" }, "Join");
  const note = el("p", { id: "guest-note", className: "note muted", role: "status" },
    "Others in the chat will see this name.");
  const form = el("form", { className: "card stack", id: "guest-form", "aria-labelledby": "guest-h",
    onsubmit: async (e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (!name) { note.textContent = "Please enter a name."; input.focus(); return; }
      button.disabled = input.disabled = true;
      note.textContent = "Joining…";
      try {
        const guest = await api.joinAsGuest(event, name);
        form.remove();
        start(guest.token, guest.name || name);
      } catch (err) {
        button.disabled = input.disabled = false;
        note.textContent = err.message;
        input.focus();
      }
    } },
  el("h2", { id: "guest-h" }, "Join the chat"),
  el("label", { for: "guest-name" }, "Your name"),
  el("div", { className: "row" }, el("div", { className: "grow" }, input), button), note);
  side.append(form);
}

// -- signed in ---------------------------------------------------------------------------
// A private event's facts (title, features, price) come once the fan is signed in.
async function start(initial, guestName) {
  await completeConfig(config, initial);
  if (config.title) header.querySelector("h1").textContent = config.title;
  signedIn(initial, guestName);
}

function signedIn(initial, guestName) {
  let token = initial;
  remember(SCOPE, token);
  connPill.hidden = false;
  const claims = claimsOf(token);
  const me = { sub: claims.sub, name: claims.name || guestName || "" };
  guestName = guestName || (String(claims.sub || "").startsWith("guest:") ? me.name : null);
  const hub = new LiveHub({
    token,
    getToken: async () => { token = await api.refreshToken(token); remember(SCOPE, token); return token; },
  });
  const room = hub.room(`event:${event}`, { presence: true });

  const chat = new Chat(room, me, { onRefused: (err) => refused(err) });
  side.append(chat.node);
  const requests = config.requests ? new Requests(room, me) : null;
  const karaoke = config.karaoke ? new Karaoke(room, me) : null;
  const pay = async (body) => {
    const out = await api.checkout(event, token, { ...body,
      success_url: `${here()}?paid=${body.kind}`, cancel_url: `${here()}?cancelled=${body.kind}` });
    const url = api.safeUrl(out.checkout_url, ["https:"]);
    if (!url) throw new Error("The payment page could not be opened. Please try again later.");
    try { sessionStorage.setItem(RETURN_KEY, JSON.stringify({ token, guestName })); } catch { /* private mode */ }
    location.assign(url);
  };
  const tip = config.tips ? new Tip(me, config.tip_goal_cents, pay) : null;
  extras.append(...[tip, requests, karaoke].filter(Boolean).map((p) => p.node));
  const gates = [requests?.gate, karaoke?.gate, tip?.gate].filter(Boolean);

  // Why inputs are off, most important first: a sanction, then the event, then offline.
  let sanction = null, sanctionTimer = null;
  function gatesUpdate() {
    const ended = CLOSED.has(status) ? "This event has ended." : null;
    const banned = sanction?.kind === "ban" ? sanction.text : null;
    chat.block(sanction?.text || ended);
    for (const g of gates) { g.set("ban", banned); g.set("ended", ended); }
  }
  function applySanction(kind, until) {
    clearTimeout(sanctionTimer);
    if (!until || until <= Date.now()) { if (sanction) announce("You can post again."); sanction = null; gatesUpdate(); return; }
    const when = new Date(until).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    const what = kind === "ban" ? "You've been removed from the chat by a moderator" : "A moderator muted you";
    sanction = { kind, text: `${what}, so you can no longer post until ${when}.` };
    announce(sanction.text, { error: true });
    gatesUpdate();
    sanctionTimer = setTimeout(() => applySanction(kind, 0), Math.min(until - Date.now() + 500, 2 ** 31 - 1));
  }
  function refused(err) {
    // 4422 "muted"/"banned" (or a 4403 while banned): no `until` in the error; the
    // sanction room event carries it, so block now and let that event fill it in.
    const reason = String(err?.reason || err?.message || "");
    const kind = /ban/i.test(reason) ? "ban" : /mute/i.test(reason) ? "mute" : null;
    if (kind && !sanction) {
      sanction = { kind, text: kind === "ban" ? "You've been removed from the chat by a moderator, so you can no longer post."
        : "A moderator muted you, so you can no longer post for now." };
      gatesUpdate();
    }
  }
  room.on("sanction", (s) => { if (s.user === me.sub) applySanction(s.kind === "ban" ? "ban" : "mute", s.until); });

  // Connection: polite, visible, announced on change.
  let wasDown = false;
  hub.on("state", ({ state, message }) => {
    const up = state === "connected";
    connDot.className = `dot ${up ? "on" : state === "closed" ? "off" : "wait"}`;
    connText.textContent = up ? "Connected" : state === "closed" ? "Disconnected" : "Reconnecting…";
    connPill.title = message || "";
    chat.offline(!up && state !== "closed");
    for (const g of gates) g.set("offline", up || state === "closed" ? null : "You're offline. This works again once you're reconnected.");
    if (!up && state !== "closed" && state !== "connecting" && !wasDown) {
      wasDown = true;
      say(message || "Connection lost. Reconnecting…", "warn");
    } else if (up && wasDown) {
      wasDown = false;
      say(null);
      announce("You're back online.");
    }
  });
  hub.on("closed", ({ code, message }) => {
    chat.block("You're disconnected.");
    for (const g of gates) g.set("closed", "You're disconnected.");
    if (code === 4001 || code === 4002) {
      // The sign-in itself is over: a reload must not bring it back, and retrying can't help.
      remember(SCOPE, "");
      say(`${message || "Your sign-in is no longer valid."} Open the link the host sent you again.`, "error");
      return;
    }
    const again = el("button", { type: "button", className: "secondary", onclick: () => {
      say(null);
      for (const g of gates) g.set("closed", null);
      gatesUpdate();
      hub.connect();
    } }, "Try again");
    say([message || "You've been disconnected.", " ", again], "error");
  });

  // A refused subscription (another org's token, a token for another event, an event
  // that is gone): say so plainly instead of leaving an empty page that looks fine.
  room.on("error", (err) => {
    const text = err?.code === 4404 ? "This event could not be found. Check the link you were given."
      : err?.code === 4403 ? "Your link doesn't give access to this event. Open the link the host sent you for it."
        : "You couldn't join this event right now. Please try again later.";
    if (err?.code === 4403 || err?.code === 4404) remember(SCOPE, "");
    say(text, "error");
    announce(text, { error: true });
    chat.block(text);
    for (const g of gates) g.set("refused", text);
    player.stop(text);
    connPill.hidden = true;
  });

  // Viewer count: stream viewers when LiveKit reports them, else people on this page.
  let streamViewers = null;
  const showCount = () => {
    const n = streamViewers ?? room.presence?.count;
    countPill.hidden = typeof n !== "number";
    countPill.textContent = `${n} watching`;
  };
  room.on("presence", showCount);
  room.on("viewers", ({ count }) => { streamViewers = typeof count === "number" ? count : null; showCount(); });
  room.on("tips", (t) => tip?.showGoal(t.paid_cents, t.goal_cents ?? config.tip_goal_cents));
  room.on("event_status", (e) => setStatus(e.status));
  room.on("subscribed", () => { if (room.tips) tip?.showGoal(room.tips.paid_cents, room.tips.goal_cents ?? config.tip_goal_cents); });

  // The stream (and pay-per-view's pay button first).
  const payCard = el("section", { className: "card pay", id: "ppv", hidden: true, "aria-labelledby": "ppv-h" });
  stage.append(payCard);
  let confirming = returned.paid === "ppv" ? 6 : 0;
  async function grant() {
    try {
      return await api.livekitToken(event, token);
    } catch (err) {
      if (err.status === 402) {
        if (confirming-- > 0) throw Object.assign(new Error("confirming"), { confirming: true });
        showPay();
        throw Object.assign(err, { stop: true });
      }
      if (err.status === 503 || err.status === 403 || err.status === 404) {
        player.message("The video isn't available for this event. The chat is still open.");
        throw Object.assign(err, { stop: true });
      }
      throw err;
    }
  }
  function showPay() {
    const note = el("p", { className: "note", role: "status" });
    const button = el("button", { type: "button", className: "pay-go", onclick: async () => {
      button.disabled = true;
      note.textContent = "Opening secure checkout…";
      try { await pay({ kind: "ppv" }); } catch (err) { button.disabled = false; note.textContent = err.message; }
    } }, `Buy access — ${money(config.ppv_price_cents)}`);
    payCard.replaceChildren(el("h2", { id: "ppv-h" }, "Watch the stream"),
      el("p", {}, "This is a pay-per-view event. Buy access once to watch; the chat is free."), button, note);
    payCard.hidden = false;
    player.message("Buy access to watch the stream.");
  }
  function setStatus(next) {
    if (!next || next === status) { stream(); return; }
    status = next;
    showStatus();
    announce(status === "live" ? "The stream is live!" : CLOSED.has(status) ? "This event has ended." : "The stream starts soon.");
    gatesUpdate();
    stream();
  }
  function stream() {
    if (status === "live" && config.livekit) {
      if (payCard.hidden) player.start(grant);
    } else {
      payCard.hidden = true;
      player.stop(placeholder());
    }
  }

  if (returned.paid === "tip") say("Thank you for the tip! 💛 It will show on the stream in a moment.", "ok");
  if (returned.paid === "ppv") say("Thanks! Your payment is being confirmed — the stream starts in a moment.", "ok");
  if (returned.cancelled) say("Checkout cancelled. You weren't charged.");

  gatesUpdate();
  stream();
  hub.connect();
}
