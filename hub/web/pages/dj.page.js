// The DJ dashboard (/dj/<event>): the request queue, karaoke, tips and money, chat
// moderation, going live and recording, the overlay link and the event's controls.
// Sign-in: #token=<hub token> in the fragment, taken into memory and stripped at once; kept
// in this tab's sessionStorage too, so a reload or a discarded phone tab stays signed in.
import "./base.css";
import "./dj.css";
import { pageConfig, takeFragment, el, text, money, announce, remember, recall, completeConfig } from "./ui.js";
import { LiveHub } from "@livehub/client";
import { requestsCard, karaokeCard, DECLINE_REASONS, describe } from "./dj-queue.js";
import { chatCard } from "./dj-chat.js";
import { streamCard, recordingCard } from "./dj-stream.js";

const STAFF = ["performer", "dj", "moderator", "admin"];
const REFUSED = "This dashboard is for the event's DJs and hosts. Your sign-in link is for a guest: "
  + "open the event's viewer page instead, or ask the organizer for a DJ link.";
const NOT_HERE = "This event isn't in your organization, or it no longer exists. "
  + "Check that you opened the right DJ link, or ask the organizer for one for this event.";
const NOT_YOURS = "Your sign-in doesn't give you access to this event. Ask the organizer for a DJ link for this event.";
const STATUS_TEXT = { scheduled: "Not started", live: "Live", ended: "Ended", cancelled: "Cancelled" };

const config = pageConfig();
const app = document.getElementById("app");
const scope = `dj:${config.event}`;
let token = takeFragment().get("token") || recall(scope);
remember(scope, token);
const has = (roles, ...any) => any.some((r) => roles.includes(r));

/** Call the hub's HTTP API with the current token: {status, body}. */
async function api(method, path, body) {
  const res = await fetch(path, {
    method, headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  let parsed = null;
  try { parsed = await res.json(); } catch { parsed = null; }
  return { status: res.status, body: parsed };
}

/** A fresh token (POST /api/tokens/refresh); throws when the hub cannot give one. */
async function getToken() {
  const res = await api("POST", "/api/tokens/refresh");
  if (res.status !== 200 || typeof res.body?.token !== "string") throw new Error("refresh refused");
  token = res.body.token;
  remember(scope, token);
  return token;
}

function topbar(title) {
  return el("header", { className: "topbar" },
    el("span", { className: "brandmark" }, text(config.brand_name) || "DJ Dash"),
    el("h1", { className: "grow event-title" }, title),
    el("span", { className: "pill", id: "conn" }, el("span", { className: "dot wait", id: "conn-dot" }), el("span", { id: "conn-text" }, "Connecting…")),
    el("span", { className: "pill", id: "online" }, "0 online"),
    el("span", { className: "pill", id: "viewers", hidden: true }, "0 watching"),
    el("span", { className: "pill", id: "event-status" }, STATUS_TEXT[config.status] || "Event"));
}

function refuse(message, { heading = "Not signed in as staff", forget = true } = {}) {
  if (forget) remember(scope, "");  // a reload must not bring back a refused sign-in
  app.replaceChildren(topbar("DJ dashboard"),
    el("div", { className: "gate card", role: "alert", id: "refused" }, el("h2", null, heading), el("p", null, message)));
  document.getElementById("conn-text").textContent = "Not signed in";
  document.getElementById("conn-dot").className = "dot off";
}

// --- dialogs (decline reason, mute/ban duration, confirm) --------------------------------
function dialog(id, title, body, confirmLabel, onConfirm, { danger = false } = {}) {
  const confirm = el("button", { type: "submit", className: danger ? "danger" : "", value: "ok" }, confirmLabel);
  const cancel = el("button", { type: "button", className: "secondary" }, "Cancel");
  const d = el("dialog", { id, "aria-labelledby": `${id}-h` },
    el("form", { method: "dialog" }, el("h2", { id: `${id}-h` }, title), body, el("div", { className: "row end" }, cancel, confirm)));
  cancel.addEventListener("click", () => d.close());
  d.querySelector("form").addEventListener("submit", (e) => { e.preventDefault(); if (onConfirm() !== false) d.close(); });
  d.addEventListener("close", () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

function openDecline(title, done) {
  const custom = el("input", { id: "decline-custom", maxlength: "200", autocomplete: "off" });
  const radios = [...DECLINE_REASONS, "Write my own"].map((reason, i) => el("label", { className: "choice" },
    el("input", { type: "radio", name: "reason", value: i < DECLINE_REASONS.length ? reason : "", checked: i === 0 }), reason));
  const body = el("div", null, el("p", null, "The fan sees this reason for ", el("b", null, `“${title}”`), "."),
    el("fieldset", null, el("legend", null, "Reason"), ...radios),
    el("label", { for: "decline-custom" }, "Your own words"), custom);
  custom.addEventListener("input", () => { body.querySelector('input[value=""]').checked = true; });
  dialog("decline-dialog", "Decline request", body, "Decline", () => {
    const picked = body.querySelector('input[name="reason"]:checked')?.value;
    const reason = (picked || custom.value).trim();
    if (!reason) { custom.focus(); announce("Write a reason, or pick one.", { error: true }); return false; }
    done(reason);
    return true;
  }, { danger: true });
}

function openSanction(name, kind, done) {
  const minutes = el("select", { id: "sanction-minutes" },
    ...[[5, "5 minutes"], [15, "15 minutes"], [60, "1 hour"], [240, "4 hours"], [1440, "24 hours"]]
      .map(([m, label]) => el("option", { value: String(m), selected: m === (kind === "ban" ? 60 : 15) }, label)));
  const reason = el("input", { id: "sanction-reason", maxlength: "200", autocomplete: "off" });
  const verb = kind === "ban" ? "Ban" : "Mute";
  const body = el("div", null,
    el("p", null, kind === "ban" ? `${name} can't chat, request or sign up while banned.` : `${name} can't chat while muted.`),
    el("label", { for: "sanction-minutes" }, "For how long"), minutes,
    el("label", { for: "sanction-reason" }, "Reason (optional, kept in the audit log)"), reason);
  dialog("sanction-dialog", `${verb} ${name}`, body, verb, () => { done({ minutes: Number(minutes.value), reason: reason.value.trim() }); }, { danger: kind === "ban" });
}

// --- tips and money -------------------------------------------------------------------
function tipsCard(room, canHide) {  // the hub decides who sees money (403 otherwise)
  const fill = el("div", { className: "goal-fill" });
  const bar = el("div", { className: "goal-bar", role: "progressbar", "aria-label": "Tip goal", "aria-valuemin": "0", "aria-valuemax": "100" }, fill);
  const goalText = el("p", { id: "goal-text" }, "No tip goal set.");
  const feed = el("ol", { id: "tip-feed", className: "plain feed", "aria-label": "Tips, newest first" });
  const feedEmpty = el("p", { className: "muted" }, "Tips appear here as they come in.");
  const moneyBox = el("dl", { id: "money", className: "money" });
  const moneyNote = el("p", { id: "money-note", className: "muted" });
  const seen = new Set();
  let primed = false;  // alerts already waiting at sign-in are listed, not announced
  // Hide asked for: the hub takes a waiting alert out of the queue (it never shows) and an
  // alert on screen down. One that came up while the ack was on its way is acked again.
  const hideWhenShown = new Set();

  function tip(a, loud) {
    if (!a || seen.has(a.alert_id)) return;
    seen.add(a.alert_id);
    const who = text(a.from_name) || "Someone";
    const hide = canHide ? el("button", { type: "button", className: "danger hide-tip", dataset: { act: "hide" },
      "aria-label": `Hide from stream: ${money(a.amount_cents)} tip from ${who}` }, "Hide from stream") : null;
    feed.prepend(el("li", { className: a.priority ? "tip big" : "tip", dataset: { id: text(a.alert_id) } },
      el("div", { className: "row" }, el("div", { className: "grow" }, el("b", { className: "amount" }, money(a.amount_cents)),
        el("span", { className: "who" }, ` ${who}`), el("span", { className: "pill onair" })), hide),
      a.message ? el("p", { className: "said" }, `“${text(a.message)}”`) : null));
    while (feed.children.length > 50) feed.lastElementChild.remove();
    feedEmpty.hidden = true;
    if (loud) announce(`${money(a.amount_cents)} tip from ${who}`);
  }
  /** Mark each feed row on air / waiting / done; hide buttons only where the alert can still show. */
  function mark(t) {
    const showing = text(t?.showing?.alert_id), waiting = new Set((t?.queue || []).map((a) => text(a?.alert_id)));
    for (const li of feed.children) {
      const id = li.dataset.id, onAir = id === showing, queued = waiting.has(id);
      const pill = li.querySelector(".onair"), b = li.querySelector(".hide-tip");
      li.classList.toggle("showing", onAir);
      pill.hidden = !onAir && !queued;
      pill.textContent = onAir ? "On the stream now" : hideWhenShown.has(id) ? "Hiding…" : "Waiting to show";
      if (b) { b.hidden = !onAir && !queued; b.disabled = hideWhenShown.has(id) && !onAir; }
    }
    if (showing && hideWhenShown.has(showing)) { hideWhenShown.delete(showing); ack(showing); }
  }
  async function ack(id) {
    try { await room.call("tips.ack", { alert_id: id }); announce("Tip alert taken off the stream."); }
    catch (err) { hideWhenShown.delete(id); announce(describe(err), { error: true }); mark(room.tips); }
  }
  feed.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act=hide]");
    if (!b) return;
    const id = b.closest("li").dataset.id;
    b.disabled = true;
    if (text(room.tips?.showing?.alert_id) !== id) hideWhenShown.add(id);
    ack(id);
    mark(room.tips);
  });
  function render(t) {
    const paid = Number(t?.paid_cents) || 0, goal = Number(t?.goal_cents) || 0;
    if (goal > 0) {
      const pct = Math.max(0, Math.min(100, Math.round((100 * paid) / goal)));
      fill.style.width = `${pct}%`;
      bar.setAttribute("aria-valuenow", String(pct));
      goalText.textContent = `${money(paid)} of ${money(goal)} goal (${pct}%)`;
    } else {
      fill.style.width = "0%";
      goalText.textContent = paid ? `${money(paid)} in tips tonight. No goal set.` : "No tip goal set.";
    }
    bar.hidden = goal <= 0;
    for (const a of [t?.showing, ...(t?.queue || [])]) tip(a, primed);
    primed = true;
    mark(t);
    scheduleMoney();
  }
  let moneyTimer = null;
  function scheduleMoney() { clearTimeout(moneyTimer); moneyTimer = setTimeout(loadMoney, 600); }
  async function loadMoney() {
    try {
      const res = await api("GET", `/api/events/${config.event}/money`);
      if (res.status === 403) { moneyBox.replaceChildren(); moneyNote.textContent = "Only the event's DJs and the organization's admins see the money."; return; }
      if (res.status !== 200 || !res.body) { moneyNote.textContent = "Money totals are unavailable right now."; return; }
      const m = res.body;
      moneyBox.replaceChildren(...[["Gross", m.gross_cents], ["Fees", m.fees_cents], ["Refunds", m.refunds_cents], ["Net", m.net_cents]]
        .flatMap(([label, cents]) => [el("dt", null, label), el("dd", { id: `money-${label.toLowerCase()}` }, money(cents))]));
      moneyNote.textContent = m.manual_cents ? `Includes ${money(m.manual_cents)} entered by hand.` : "";
    } catch { moneyNote.textContent = "Money totals are unavailable while offline."; }
  }
  room.on("tips", render);
  if (room.tips) render(room.tips); else scheduleMoney();
  return el("section", { className: "card", id: "tips-card", "aria-labelledby": "tips-h" },
    el("h2", { id: "tips-h" }, "Tips"), goalText, bar,
    el("h3", null, "Tonight's money"), moneyBox, moneyNote,
    el("h3", null, "Tip feed"),
    canHide ? el("p", { className: "muted" }, "A tip you don't want on the broadcast: press Hide from stream.") : null,
    feedEmpty, feed);
}

// --- overlay link and event controls ---------------------------------------------------
function overlayCard(canRotate) {
  const out = el("div", { id: "overlay-out", hidden: true });
  const rotate = el("button", { type: "button", id: "overlay-rotate", disabled: !canRotate }, "Make an overlay link");
  async function make() {
    rotate.disabled = true;
    try {
      const res = await api("POST", `/api/events/${config.event}/overlay`);
      if (res.status !== 200 || typeof res.body?.url !== "string") {
        announce(res.status === 403 ? "Only the event's DJs and admins can make an overlay link." : "The hub could not make a link. Try again.", { error: true });
        return;
      }
      show(new URL(res.body.url, location.origin).href);
      announce("New overlay link ready. Any overlay using an older link has stopped.");
    } catch { announce("The hub can't be reached; try again.", { error: true }); }
    finally { rotate.disabled = !canRotate; }
  }
  // The link is a credential: masked on screen (a shared screen or a photo of the decks
  // must not leak it), copied or shown on request.
  function show(url) {
    const masked = "•".repeat(24);
    const field = el("input", { id: "overlay-url", readonly: true, value: masked, "aria-label": "Overlay link (hidden)" });
    field.dataset.hidden = "1";
    const copy = el("button", { type: "button", className: "secondary", id: "overlay-copy" }, "Copy");
    const reveal = el("button", { type: "button", className: "secondary", id: "overlay-show", "aria-pressed": "false" }, "Show");
    copy.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(url); announce("Overlay link copied."); }
      catch { field.value = url; field.select(); announce("Select the link and copy it (the browser blocked copying)."); }
    });
    reveal.addEventListener("click", () => {
      const showing = field.value === url;
      field.value = showing ? masked : url;
      field.setAttribute("aria-label", showing ? "Overlay link (hidden)" : "Overlay link");
      reveal.textContent = showing ? "Show" : "Hide";
      reveal.setAttribute("aria-pressed", String(!showing));
    });
    out.replaceChildren(el("div", { className: "row" }, el("div", { className: "grow" }, field), copy, reveal),
      el("p", { className: "muted" }, "Paste it into OBS as a browser source. Add ?sound=1 to the end of the link for a chime with each tip. "
        + "Keep it private: anyone with it can show your alerts."));
    out.hidden = false;
    rotate.textContent = "Make a new overlay link";
  }
  rotate.addEventListener("click", () => dialog("confirm-overlay", "Make a new overlay link?", el("div", null,
    el("p", null, "The hub keeps one overlay link per event. Making a new one stops any overlay using the old link: "
      + "tip alerts disappear from OBS until you paste the new link there."),
    el("p", null, "If your overlay already works in OBS, you don't need a new link.")),
  "Make a new link", () => { make(); }, { danger: true }));
  return el("section", { className: "card", id: "overlay-card", "aria-labelledby": "overlay-h" },
    el("h2", { id: "overlay-h" }, "Tip overlay for OBS"),
    el("p", { className: "muted" }, "A browser source for OBS that shows tip alerts and the tip goal over your stream."),
    rotate, out, canRotate ? null : el("p", { className: "muted" }, "Only the event's DJs and admins can make the link."));
}

function eventCard(room, canEvent, setStatus) {
  const start = el("button", { type: "button", id: "event-live" }, "Start the event");
  const end = el("button", { type: "button", id: "event-end", className: "danger" }, "End the event");
  const help = el("p", { className: "muted", id: "event-help" });
  async function move(status, done) {
    try { await room.call("event.status", { status }); announce(done); }
    catch (err) { announce(describe(err), { error: true }); }
  }
  start.addEventListener("click", () => move("live", "The event is live."));
  end.addEventListener("click", () => dialog("confirm-end", "End the event?", el("p", null,
    "Ending closes the request queue and karaoke sign-ups for good. It can't be undone."), "End the event",
    () => { move("ended", "The event has ended."); }, { danger: true }));
  function render(status) {
    start.hidden = status !== "scheduled" || !canEvent;
    end.hidden = !["scheduled", "live"].includes(status) || !canEvent;
    help.textContent = !canEvent ? "Only the event's DJs and admins start or end it."
      : status === "ended" || status === "cancelled" ? "This event is over." : "";
  }
  room.on("event_status", (s) => { setStatus(s.status); render(s.status); });
  render(config.status);
  return el("section", { className: "card", id: "event-card", "aria-labelledby": "event-h" },
    el("h2", { id: "event-h" }, "Event"), help, el("div", { className: "row" }, start, end));
}

// --- the dashboard --------------------------------------------------------------------
function start() {
  if (!config.event) { refuse("This event doesn't exist or is no longer available."); return; }
  const hub = new LiveHub({ token, getToken });
  const roles = () => hub.roles;
  if (!has(roles(), ...STAFF)) { refuse(REFUSED); return; }
  const room = hub.room(`event:${config.event}`, { presence: true });
  const r = roles();
  // A private event's title comes once signed in (its shell names only the event).
  completeConfig(config, token).then(() => {
    const title = app.querySelector(".event-title");
    if (title && config.title) title.textContent = config.title;
  });
  app.replaceChildren(
    topbar(text(config.title) || "DJ dashboard"),
    el("p", { id: "offline", className: "banner error", role: "status", hidden: true }),
    el("nav", { className: "jump", "aria-label": "Jump to" }, ...[["requests-card", "Requests"], ["karaoke-card", "Karaoke"],
      ["tips-card", "Tips"], ["chat-card", "Chat"], ["stream-card", "Stream"], ["event-card", "Event"]]
      .map(([id, label]) => el("button", { type: "button", className: "secondary", onclick: () => {
        document.getElementById(id)?.scrollIntoView({ block: "start" });
      } }, label))),
    el("div", { className: "grid" },
      el("div", { className: "col col-queue" }, requestsCard({ room, canRun: has(r, "admin", "dj", "moderator"), openDecline }),
        karaokeCard({ room, canHost: has(r, ...STAFF) })),
      el("div", { className: "col" }, tipsCard(room, has(r, ...STAFF)),
        chatCard({ room, roles: r, openSanction })),
      el("div", { className: "col" }, streamCard({ api, config, canPublish: has(r, "performer", "dj", "admin") }),
        (recording = recordingCard({ api, config, canRecord: has(r, "dj", "admin") })).card,
        overlayCard(has(r, "dj", "admin")), eventCard(room, has(r, "admin", "dj"), setStatus))));
  const offline = document.getElementById("offline");
  hub.on("state", ({ state, message }) => {
    const on = state === "connected";
    document.getElementById("conn-dot").className = `dot ${on ? "on" : state === "closed" ? "off" : "wait"}`;
    document.getElementById("conn-text").textContent = on ? "Connected" : state === "closed" ? "Disconnected" : "Reconnecting…";
    offline.hidden = on;
    if (!on) offline.textContent = `${text(message) || "Connecting to the hub…"} Queue and chat controls are paused until then.`;
    pauseControls(!on);
  });
  hub.on("closed", ({ message }) => {
    offline.hidden = false;
    offline.textContent = `${text(message)} Open your DJ link again (or ask the organizer for a new one) to continue.`;
  });
  hub.on("roles", ({ roles: now }) => {
    if (!has(now, ...STAFF)) { hub.close(); refuse("Your DJ or host access to this event was removed, so the dashboard closed. " + REFUSED.split(". ").slice(1).join(". ")); }
    else announce("Your access changed. Refresh the page to see the right controls: you stay signed in.");
  });
  // Online: everyone connected to the event's room; watching: stream viewers (LiveKit).
  room.on("presence", (p) => { document.getElementById("online").textContent = `${Math.max(0, Number(p.count) || 0)} online`; });
  room.on("viewers", (v) => {
    const pill = document.getElementById("viewers");
    pill.hidden = false;
    pill.textContent = `${Math.max(0, Number(v.count) || 0)} watching`;
  });
  // A refused subscription (another org's event, a token for another event...) must not
  // leave a "Connected" dashboard with an empty queue that looks like it works.
  room.on("error", (err) => {
    hub.close();
    refuse(err?.code === 4404 ? NOT_HERE : err?.code === 4403 ? NOT_YOURS
      : "The hub refused this dashboard for this event. Ask the organizer for a new DJ link.",
    { heading: "This dashboard can't open this event" });
  });
  room.on("recording", (s) => recording.apply(s));
  room.on("subscribed", ({ recovered }) => { if (!recovered) recording.load(); });
  hub.connect();
}
let recording = null;

// While the hub is unreachable, room controls are paused (a DJ action queued offline would
// act on an old queue); the HTTP-based cards (stream, recording, overlay) keep working.
const ROOM_CONTROLS = "#requests-card, #karaoke-card, #chat-card, #event-card";
function pauseControls(paused) {
  for (const c of app.querySelectorAll(`:is(${ROOM_CONTROLS}) :is(button, select, textarea)`)) {
    if (paused && !c.disabled) { c.disabled = true; c.dataset.paused = "1"; }
    else if (!paused && c.dataset.paused) { c.disabled = false; delete c.dataset.paused; }
  }
  app.classList.toggle("paused", paused);
}
function setStatus(status) {
  const pill = document.getElementById("event-status");
  if (pill) pill.textContent = STATUS_TEXT[status] || "Event";
  config.status = status;
  recording?.setStatus(status);
}

// A new link pasted into this tab changes only the fragment (no page load): sign in with it.
addEventListener("hashchange", () => {
  const fresh = takeFragment().get("token");
  if (fresh) { remember(scope, fresh); location.reload(); }
});

if (!token) refuse("Open this dashboard with your DJ link: it signs you in. " + "This dashboard is for the event's DJs and hosts.");
else start();
