// The song request queue and the karaoke rotation on the DJ dashboard. Every DJ action
// carries the version on screen; a stale one (4412) comes back with the current queue,
// which is shown with the affected row highlighted and the conflict said in words.
import { el, text, money, announce } from "./ui.js";

const CONFLICT = "Someone else changed the queue — this is the current order; try again.";
export const DECLINE_REASONS = ["Not the vibe tonight, sorry!", "Already played it tonight.",
  "Can't find that track.", "Explicit lyrics — not for this crowd."];

const list = (v) => (Array.isArray(v) ? v.filter((x) => x && typeof x === "object") : []);

/** A DJ action on `id` that explains failures; `conflictBox` shows a 4412 in words. */
async function act(run, { conflictBox, rowSelector, id, done }) {
  conflictBox.hidden = true;
  try {
    await run();
    if (done) announce(done);
  } catch (err) {
    if (err?.code === 4412) {
      conflictBox.hidden = false;
      conflictBox.textContent = CONFLICT;
      announce(CONFLICT, { error: true });
      requestAnimationFrame(() => {
        for (const row of document.querySelectorAll(rowSelector)) row.classList.toggle("conflict", row.dataset.id === id);
      });
    } else {
      announce(describe(err), { error: true });
    }
  }
}

export function describe(err) {
  if (!err || typeof err !== "object") return "That did not work. Try again.";
  if (err.code === 4403) return "Your role can't do that here.";
  if (err.code === 4429) return "Too many actions at once — wait a moment and try again.";
  if (err.code === 4503 || err.code === 4500) return "The hub is busy. Try again in a moment.";
  if (err.code === 0) return "Not connected. It will go through once you're back online.";
  return text(err.reason) ? `Not done: ${text(err.reason)}.` : "That did not work. Try again.";
}

/** The requests card: now playing, the live queue, DJ buttons, drag-and-drop + up/down.
 * "Mark played" is only on the song now playing: on a queued row it would quietly take the
 * song out as if played (Decline, with a reason, is how a queued song leaves). */
export function requestsCard({ room, canRun, openDecline }) {
  const nowBox = el("div", { id: "now-playing", className: "now" });
  const queue = el("ol", { id: "queue", className: "plain queue", "aria-label": "Request queue, in play order" });
  const conflictBox = el("p", { id: "queue-conflict", className: "banner error", role: "alert", hidden: true });
  const empty = el("p", { id: "queue-empty", className: "muted" }, "No requests yet. They appear here as fans send them.");
  const opts = (id, done) => ({ conflictBox, rowSelector: "#queue li, #now-playing [data-id]", id, done });
  const version = () => room.requests?.version;
  const call = (method, id, extra = {}, done = null) =>
    act(() => room.call(`requests.${method}`, { request_id: id, version: version(), ...extra }), opts(id, done));
  let dragging = null;

  function badges(r) {
    const out = [];
    if (r.status === "pending") out.push(el("span", { className: "pill new" }, "New"));
    if (r.payment === "paid" || r.paid_cents > 0) out.push(el("span", { className: "pill paid" }, `Paid ${money(r.paid_cents)}`));
    else if (r.payment === "pending_payment") out.push(el("span", { className: "pill" }, `Paying ${money(r.offered_cents)}…`));
    out.push(el("span", { className: "pill votes", "aria-label": `${r.votes} votes` }, `▲ ${text(r.votes)}`));
    return out;
  }
  function who(r) { return text(r.requester_name) || (String(r.requester || "").startsWith("sms:") ? "a texting fan" : "a guest"); }

  function row(r, i, total) {
    const title = text(r.title);
    const buttons = canRun ? [
      r.status === "pending" ? el("button", { type: "button", dataset: { act: "accept" } }, "Accept") : null,
      el("button", { type: "button", className: "secondary", dataset: { act: "play_now" } }, "Play now"),
      el("button", { type: "button", className: "danger", dataset: { act: "decline" } }, "Decline"),
      el("button", { type: "button", className: "secondary icon", dataset: { act: "up" }, disabled: i === 0,
        "aria-label": `Move ${title} up` }, "↑"),
      el("button", { type: "button", className: "secondary icon", dataset: { act: "down" }, disabled: i === total - 1,
        "aria-label": `Move ${title} down` }, "↓"),
    ] : [];
    const li = el("li", { className: "req", dataset: { id: text(r.id), pos: String(i + 1) }, draggable: canRun ? "true" : null },
      el("span", { className: "pos", "aria-hidden": "true" }, String(i + 1)),
      el("div", { className: "song grow" },
        el("b", { className: "title" }, title),
        el("span", { className: "meta" }, `${text(r.artist) || "Unknown artist"} · for ${who(r)}`),
        r.note ? el("span", { className: "note" }, `“${text(r.note)}”`) : null,
        el("span", { className: "row badges" }, badges(r))),
      canRun ? el("div", { className: "row actions" }, buttons) : null);
    return li;
  }

  function render(s) {
    const now = s?.now_playing && typeof s.now_playing === "object" ? s.now_playing : null;
    nowBox.replaceChildren(el("span", { className: "label" }, "Now playing"),
      now ? el("div", { className: "row", dataset: { id: text(now.id) } },
        el("div", { className: "grow" }, el("b", null, text(now.title)), " — ", text(now.artist) || "Unknown artist"),
        canRun ? el("button", { type: "button", className: "secondary", dataset: { act: "played", id: text(now.id) } }, "Mark played") : null)
        : el("span", { className: "muted" }, "Nothing yet."));
    const items = list(s?.queue);
    queue.replaceChildren(...items.map((r, i) => row(r, i, items.length)));
    empty.hidden = items.length > 0;
    focusMoved();
  }

  nowBox.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (b) call("played", b.dataset.id, {}, "Marked played.");
  });
  queue.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const li = b.closest("li");
    const id = li.dataset.id, pos = Number(li.dataset.pos), title = li.querySelector(".title").textContent;
    switch (b.dataset.act) {
      case "accept": call("accept", id, {}, `Accepted “${title}”.`); break;
      case "play_now": call("play_now", id, {}, `Now playing “${title}”.`); break;
      case "decline": openDecline(title, (reason) => call("decline", id, { reason }, `Declined “${title}”.`)); break;
      case "up": case "down": {
        const to = b.dataset.act === "up" ? pos - 1 : pos + 1;
        // The answer and the new queue come in either order: keep focus for a moment.
        refocus = { id, which: b.dataset.act };
        clearTimeout(refocusTimer);
        refocusTimer = setTimeout(() => { refocus = null; }, 3000);
        call("move", id, { position: to }, `Moved “${title}” to ${to}.`).then(focusMoved);
        break;
      }
    }
  });
  // Keep the keyboard user's focus on the moved row's same button after the re-render.
  let refocus = null, refocusTimer = null;
  function focusMoved() {
    if (!refocus) return;
    const { id, which } = refocus;
    const li = [...queue.children].find((x) => x.dataset.id === id);
    const b = li?.querySelector(`button[data-act="${which}"]:not(:disabled)`) || li?.querySelector("button");
    b?.focus();
  }
  // Drag and drop (HTML5): drop a row on another row to take its place.
  queue.addEventListener("dragstart", (e) => {
    const li = e.target.closest?.("li");
    if (!li) return;
    dragging = li.dataset.id;
    li.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragging);
  });
  queue.addEventListener("dragend", (e) => { e.target.closest?.("li")?.classList.remove("dragging"); });
  queue.addEventListener("dragover", (e) => {
    if (!dragging) return;
    e.preventDefault();
    for (const li of queue.children) li.classList.toggle("drop-target", li === e.target.closest("li"));
  });
  queue.addEventListener("drop", (e) => {
    e.preventDefault();
    const target = e.target.closest("li");
    for (const li of queue.children) li.classList.remove("drop-target");
    const id = dragging; dragging = null;
    if (!target || !id || target.dataset.id === id) return;
    const pos = Number(target.dataset.pos);
    const title = [...queue.children].find((x) => x.dataset.id === id)?.querySelector(".title")?.textContent || "";
    call("move", id, { position: pos }, `Moved “${title}” to ${pos}.`);
  });

  room.on("requests", render);
  if (room.requests) render(room.requests);
  return el("section", { className: "card queue-card", id: "requests-card", "aria-labelledby": "requests-h" },
    el("h2", { id: "requests-h" }, "Requests"), nowBox, conflictBox, empty, queue,
    canRun ? el("p", { className: "muted hint" }, "Drag a song to reorder, or use ↑ ↓.")
      : el("p", { className: "muted" }, "Only DJs, moderators and admins run the request queue."));
}

/** The karaoke card: on stage, next up, the rotation; next, skip, hold/release per singer. */
export function karaokeCard({ room, canHost }) {
  const stage = el("div", { id: "now-singing", className: "now" });
  const nextUp = el("p", { id: "next-up" });
  const queue = el("ol", { id: "karaoke-queue", className: "plain queue", "aria-label": "Karaoke rotation" });
  const conflictBox = el("p", { id: "karaoke-conflict", className: "banner error", role: "alert", hidden: true });
  const next = el("button", { id: "karaoke-next", type: "button", hidden: !canHost }, "Next singer");
  const opts = (id, done) => ({ conflictBox, rowSelector: "#karaoke-queue li", id, done });
  const call = (method, params, id, done) =>
    act(() => room.call(`karaoke.${method}`, { version: room.karaoke?.version, ...params }), opts(id, done));

  function render(s) {
    const now = s?.now_singing && typeof s.now_singing === "object" ? s.now_singing : null;
    stage.replaceChildren(el("span", { className: "label" }, "On stage"),
      now ? el("div", { className: "row", dataset: { id: text(now.signup_id) } },
        el("div", { className: "grow" }, el("b", null, text(now.singer)), " — ", text(now.song)),
        canHost ? el("button", { type: "button", className: "secondary", dataset: { act: "skip", id: text(now.signup_id) } }, "Skip") : null)
        : el("span", { className: "muted" }, "Nobody singing."));
    const up = s?.next_up && typeof s.next_up === "object" ? s.next_up : null;
    nextUp.replaceChildren("Next up: ", up ? el("b", null, `${text(up.singer)} — ${text(up.song)}`) : "nobody yet");
    const held = new Set(Array.isArray(s?.held) ? s.held : []);
    queue.replaceChildren(...list(s?.queue).map((e, i) => {
      const isHeld = held.has(e.singer_sub) || e.held === true;
      return el("li", { className: isHeld ? "req held" : "req", dataset: { id: text(e.signup_id), sub: text(e.singer_sub) } },
        el("span", { className: "pos", "aria-hidden": "true" }, String(i + 1)),
        el("div", { className: "song grow" }, el("b", null, text(e.singer)), el("span", { className: "meta" },
          `${text(e.song)} · round ${text(e.round)}${isHeld ? " · on hold" : ""}`)),
        canHost ? el("div", { className: "row actions" },
          el("button", { type: "button", className: "secondary", dataset: { act: isHeld ? "release" : "hold" } }, isHeld ? "Release" : "Hold"),
          el("button", { type: "button", className: "secondary", dataset: { act: "skip" } }, "Skip")) : null);
    }));
  }

  const onClick = (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const li = b.closest("[data-id]");
    const id = b.dataset.id || li.dataset.id, sub = li.dataset.sub;
    if (b.dataset.act === "skip") call("skip", { signup_id: id }, id, "Skipped.");
    if (b.dataset.act === "hold") call("hold", { singer_sub: sub }, id, "Singer on hold.");
    if (b.dataset.act === "release") call("release", { singer_sub: sub }, id, "Singer released.");
  };
  stage.addEventListener("click", onClick);
  queue.addEventListener("click", onClick);
  next.addEventListener("click", () => call("next", {}, null, "Next singer on stage."));
  room.on("karaoke", render);
  render(room.karaoke);
  return el("section", { className: "card", id: "karaoke-card", "aria-labelledby": "karaoke-h" },
    el("h2", { id: "karaoke-h" }, "Karaoke"), stage, nextUp, conflictBox, next, queue);
}
