// Chat moderation on the DJ dashboard: the live chat with delete / mute / ban per message,
// slow mode, blocked words (admins and moderators), held messages to approve or delete, and
// the muted and banned users with a Lift for a mistake.
import { el, text, announce } from "./ui.js";
import { describe } from "./dj-queue.js";

const SLOW = [[0, "Off"], [5, "5 s"], [10, "10 s"], [30, "30 s"], [60, "60 s"]];
const MAX_LINES = 150;

function clock(ms) {
  const d = new Date(typeof ms === "number" ? ms : Date.now());
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * `openSanction(name, kind, done)` asks for the duration and reason; `roles` the roles in
 * effect (blocked words need admin or moderator).
 */
export function chatCard({ room, roles, openSanction }) {
  const canModerate = ["admin", "dj", "moderator"].some((r) => roles.includes(r));
  const canWords = ["admin", "moderator"].some((r) => roles.includes(r));
  const names = new Map();  // user sub -> the last display name seen (text only)
  const log = el("ol", { id: "chat-log", className: "plain chat", "aria-label": "Chat messages" });
  const empty = el("p", { className: "muted", id: "chat-empty" }, "No chat yet.");

  const slow = el("select", { id: "slow-mode", disabled: !canModerate },
    ...SLOW.map(([s, label]) => el("option", { value: String(s) }, label)));
  slow.addEventListener("change", async () => {
    try {
      await room.call("moderation.slow_mode", { seconds: Number(slow.value) });
      announce(Number(slow.value) ? `Slow mode: one message per ${slow.value} s.` : "Slow mode off.");
    } catch (err) { announce(describe(err), { error: true }); }
  });
  // A value set elsewhere (the API) that the list lacks is added, not shown as a blank.
  room.on("chat_settings", (s) => {
    const v = Math.max(0, Number(s?.slow_mode_seconds) || 0);
    if (![...slow.options].some((o) => o.value === String(v))) {
      const at = [...slow.options].find((o) => Number(o.value) > v);
      slow.insertBefore(el("option", { value: String(v) }, `${v} s`), at || null);
    }
    slow.value = String(v);
  });

  function line(m) {
    const id = text(m.message_id), user = text(m.user);
    const name = text(m.name) || names.get(user) || "Guest";
    if (m.name) names.set(user, text(m.name));
    // `staff` (set by the hub from the poster's roles) tells the real host from a guest
    // who merely calls themself "DJ".
    return el("li", { className: m.staff === true ? "msg staff" : "msg", dataset: { id, user } },
      el("div", { className: "grow" }, el("span", { className: "who" }, name),
        m.staff === true ? el("span", { className: "pill host" }, "Host") : null,
        el("span", { className: "muted time" }, clock(m.time)),
        el("p", { className: "said" }, text(m.text))),
      canModerate ? el("div", { className: "row actions" },
        el("button", { type: "button", className: "secondary", dataset: { act: "delete" }, "aria-label": `Delete message from ${name}` }, "Delete"),
        el("button", { type: "button", className: "secondary", dataset: { act: "mute" }, "aria-label": `Mute ${name}` }, "Mute"),
        el("button", { type: "button", className: "danger", dataset: { act: "ban" }, "aria-label": `Ban ${name}` }, "Ban")) : null);
  }
  function add(m, atTop = false) {
    if ([...log.children].some((li) => li.dataset.id === text(m.message_id))) return;
    const li = line(m);
    // Follow new messages only if the DJ is at the bottom already; never scroll the page.
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (atTop) log.prepend(li); else log.append(li);
    while (log.children.length > MAX_LINES) log.firstElementChild.remove();
    empty.hidden = true;
    if (!atTop && atBottom) log.scrollTop = log.scrollHeight;
  }
  function system(message, lift = null) {
    log.append(el("li", { className: "msg system", dataset: lift ? { user: lift.user } : {} },
      el("p", { className: "said muted" }, message),
      lift ? el("div", { className: "row actions" }, el("button", { type: "button", className: "secondary", dataset: { act: "lift" },
        "aria-label": `Lift ${lift.what} for ${lift.name}` }, "Lift")) : null));
    empty.hidden = true;
  }
  // History pages carry no display names: learn them from who is here and who requested.
  const learn = (user, name) => { if (user && name) names.set(text(user), text(name)); };
  room.on("presence", (p) => { for (const m of p.members || []) learn(m.user, m.name); });
  room.on("requests", (s) => { for (const r of [s.now_playing, ...(s.queue || [])]) if (r) learn(r.requester, r.requester_name); });
  room.on("chat", (m) => add(m));
  room.on("chat_removed", (m) => { for (const li of log.querySelectorAll(`li[data-id]`)) if (li.dataset.id === text(m.message_id)) li.remove(); });
  // Muted and banned users (this session's sanctions): listed with a Lift for a mis-tap.
  const sanctioned = new Map();  // user sub -> {kind, until, name}
  const blockedList = el("ul", { id: "sanctioned", className: "plain chat", "aria-label": "Muted and banned" });
  const blockedBox = el("div", { className: "held-box", id: "sanctioned-box", hidden: true },
    el("h3", null, "Muted & banned"), blockedList);
  function renderSanctioned() {
    const now = Date.now();
    for (const [user, s] of sanctioned) if (s.until <= now) sanctioned.delete(user);
    blockedList.replaceChildren(...[...sanctioned].map(([user, s]) => el("li", { className: "msg", dataset: { user } },
      el("div", { className: "row" }, el("span", { className: "grow" }, `${s.name}: ${s.kind === "ban" ? "banned" : "muted"} until ${clock(s.until)}`),
        canModerate ? el("button", { type: "button", className: "secondary", dataset: { act: "lift" },
          "aria-label": `Lift ${s.kind === "ban" ? "ban" : "mute"} for ${s.name}` }, "Lift") : null))));
    blockedBox.hidden = sanctioned.size === 0;
  }
  setInterval(renderSanctioned, 30000);
  room.on("sanction", (s) => {
    const user = text(s.user), who = names.get(user) || "A guest";
    const mins = Math.max(0, Math.round((Number(s.until) - Date.now()) / 60000));
    const kind = s.kind === "ban" ? "ban" : "mute";
    if (mins && s.kind !== "lift") {
      sanctioned.set(user, { kind, until: Number(s.until), name: who });
      system(`${who} was ${kind === "ban" ? "banned" : "muted"} for ${mins} min.`, canModerate ? { user, name: who, what: kind } : null);
    } else {
      sanctioned.delete(user);
      for (const b of log.querySelectorAll(`li.system[data-user] button[data-act=lift]`)) if (b.closest("li").dataset.user === user) b.remove();
      system(`${who} can chat again.`);
    }
    renderSanctioned();
  });
  async function lift(user) {
    const name = sanctioned.get(user)?.name || names.get(user) || "They";
    try { await room.call("moderation.lift", { user }); announce(`${name} can chat again.`); }
    catch (err) { announce(describe(err), { error: true }); }
  }
  blockedList.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act=lift]");
    if (b) lift(b.closest("li").dataset.user);
  });
  room.on("subscribed", async ({ recovered }) => {
    if (recovered) return;
    try {
      const page = await room.call("chat.history", { limit: 50 });
      log.replaceChildren();
      for (const m of page?.messages || []) add(m);
      empty.hidden = log.children.length > 0;
    } catch { /* live messages still arrive */ }
    refreshHeld();
  });

  log.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const li = b.closest("li"), id = li.dataset.id, user = li.dataset.user;
    if (b.dataset.act === "lift") { lift(user); return; }
    const name = li.querySelector(".who")?.textContent || "this person";
    if (b.dataset.act === "delete") {
      try { await room.call("moderation.delete", { message_id: id }); announce("Message deleted."); }
      catch (err) { announce(describe(err), { error: true }); }
      return;
    }
    openSanction(name, b.dataset.act, async ({ minutes, reason }) => {
      try {
        await room.call(`moderation.${b.dataset.act}`, { user, minutes, reason: reason || null });
        announce(`${name} ${b.dataset.act === "ban" ? "banned" : "muted"} for ${minutes} min.`);
      } catch (err) { announce(describe(err), { error: true }); }
    });
  });

  // Held messages: nothing is broadcast when one is held, so the list is fetched.
  const held = el("ol", { id: "held", className: "plain chat", "aria-label": "Held messages" });
  const heldNote = el("p", { className: "muted", id: "held-empty" }, "No held messages.");
  const heldRefresh = el("button", { type: "button", className: "secondary", id: "held-refresh" }, "Check held messages");
  const heldBadge = el("span", { className: "pill count", id: "held-count", hidden: true });
  // The same count by the card's title, where it is seen without scrolling to the list.
  const chatBadge = el("span", { className: "pill count", id: "held-count-top", hidden: true });
  async function refreshHeld() {
    if (!canModerate) return;
    try {
      const res = await room.call("moderation.held", {});
      const msgs = Array.isArray(res?.messages) ? res.messages : [];
      held.replaceChildren(...msgs.map((m) => el("li", { className: "msg", dataset: { id: text(m.message_id) } },
        el("div", { className: "grow" }, el("span", { className: "who" }, text(m.name) || names.get(text(m.user)) || "Guest"),
          el("p", { className: "said" }, text(m.text))),
        el("div", { className: "row actions" },
          el("button", { type: "button", dataset: { act: "approve" } }, "Approve"),
          el("button", { type: "button", className: "secondary", dataset: { act: "delete" } }, "Delete")))));
      heldNote.hidden = msgs.length > 0;
      heldBadge.hidden = msgs.length === 0;
      heldBadge.textContent = `${msgs.length} waiting`;
      chatBadge.hidden = heldBadge.hidden;
      chatBadge.textContent = `${msgs.length} held`;
    } catch { /* offline: tried again on the next tick */ }
  }
  heldRefresh.addEventListener("click", refreshHeld);
  held.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const id = b.closest("li").dataset.id;
    try {
      await room.call(b.dataset.act === "approve" ? "moderation.approve" : "moderation.delete", { message_id: id });
      announce(b.dataset.act === "approve" ? "Message approved: it is in the chat now." : "Held message deleted.");
    } catch (err) { announce(describe(err), { error: true }); }
    refreshHeld();
  });
  if (canModerate) setInterval(refreshHeld, 15000);

  // Blocked words: the org's list, set by admins and moderators; the hub has no read of it.
  let words;
  if (canWords) {
    const area = el("textarea", { id: "blocked-words", rows: "3", "aria-describedby": "blocked-help" });
    const action = el("select", { id: "blocked-action", "aria-label": "When a message has a blocked word" },
      el("option", { value: "reject" }, "Reject the message"), el("option", { value: "hold" }, "Hold it for approval"));
    const save = el("button", { type: "button", id: "blocked-save" }, "Save blocked words");
    save.addEventListener("click", async () => {
      const list = area.value.split(/[\n,]/).map((w) => w.trim()).filter(Boolean);
      try { await room.call("moderation.blocked_words", { words: list, action: action.value }); announce(`Blocked words saved (${list.length}).`); }
      catch (err) { announce(describe(err), { error: true }); }
    });
    words = el("details", { className: "words" }, el("summary", null, "Blocked words"),
      el("label", { for: "blocked-words" }, "Words, one per line or separated by commas"),
      area, el("p", { id: "blocked-help", className: "muted" }, "This replaces the organization's whole list for every event."),
      el("div", { className: "row" }, action, save));
  } else {
    words = el("p", { className: "muted", id: "blocked-dj" }, "Blocked words are set by the organization's moderators and admins.");
  }

  return el("section", { className: "card", id: "chat-card", "aria-labelledby": "chat-h" },
    el("h2", { id: "chat-h" }, "Chat ", chatBadge),
    el("div", { className: "row" }, el("label", { for: "slow-mode" }, "Slow mode"), slow),
    empty, log,
    canModerate ? el("div", { className: "held-box" }, el("h3", null, "Held messages ", heldBadge), heldNote, held, heldRefresh) : null,
    blockedBox,
    words);
}
