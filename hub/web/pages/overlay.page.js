// The OBS browser source /overlay/<secret>: tip alerts one at a time (in the hub's order),
// the tip goal bar and a small connection dot, over a transparent background. The dot
// shows only while (re)connecting or disconnected, never all night on air; `?dot=0` hides
// it always. A rotated or revoked secret (close 4003/4001) wipes the page for good: OBS
// then shows nothing, and the hint is in the browser console only (not on the stream).
import "./base.css";
import "./overlay.css";
import { LiveHub } from "@livehub/client";
import { pageConfig, el, money } from "./ui.js";
import { confetti } from "./overlay-confetti.js";
import { chime } from "./overlay-sound.js";

const SHOW_MS = 5000;  // how long an alert stays up before the overlay acks it
const config = pageConfig();
const secret = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const options = new URLSearchParams(location.search);
const sound = options.get("sound") === "1";
const HINT = "This overlay link is not valid (it may have been replaced by a new one). "
  + "Copy the current overlay link from the DJ dashboard into your browser source.";
const app = document.getElementById("app");

const dot = el("span", { className: "dot wait", id: "status", role: "img", "aria-label": "Connecting" });
const goalText = el("span", { className: "goal-text" });
const goalFill = el("span", { className: "fill" });
const goal = el("div", { className: "goal", id: "goal", hidden: true },
  goalText, el("div", { className: "bar", "aria-hidden": "true" }, goalFill));
const alertBox = el("div", { className: "alert", id: "alert", role: "status", "aria-live": "polite", hidden: true });
const canvas = el("canvas", { className: "confetti", "aria-hidden": "true" });

if (config.event && secret) run();
else console.warn(`livehub overlay: ${HINT}`);
if (options.get("dot") === "0") document.body.classList.add("no-dot");

function run() {
  app.append(canvas, alertBox, goal, dot);
  const hub = new LiveHub({ overlay: secret });
  const room = hub.room(`event:${config.event}`);
  let showing = null, timer = null;

  hub.on("state", ({ state }) => {
    dot.className = `dot ${state === "connected" ? "on" : state === "closed" ? "off" : "wait"}`;
    dot.setAttribute("aria-label", state === "connected" ? "Connected" : "Reconnecting");
  });
  hub.on("closed", ({ code }) => {
    if (code === 4003 || code === 4001) wipe(hub);
  });

  function updateGoal(t) {
    const target = t?.goal_cents ?? config.tip_goal_cents;
    if (!target) { goal.hidden = true; return; }
    const paid = t?.paid_cents ?? 0;
    goal.hidden = false;
    goalText.textContent = `Tip goal: ${money(paid, 0)} of ${money(target, 0)}`;
    goalFill.style.width = `${Math.min(100, (100 * paid) / target)}%`;
  }

  function show(alert) {
    if (!alert || showing?.alert_id === alert.alert_id) return;
    clearTimeout(timer);
    showing = alert;
    const who = alert.from_name || "Someone";
    alertBox.replaceChildren(
      el("div", { className: "amount" }, money(alert.amount_cents)),
      el("div", { className: "who" }, `${who} tipped!`),
      ...(alert.message ? [el("div", { className: "message" }, alert.message)] : []));
    alertBox.classList.toggle("big", Boolean(alert.priority));
    alertBox.hidden = false;
    alertBox.classList.remove("leaving");
    void alertBox.offsetWidth;  // restart the entrance animation
    alertBox.classList.add("entering");
    confetti(canvas, alert.priority ? 220 : 120);
    if (sound) chime(alert.priority);
    timer = setTimeout(() => {
      room.call("tips.ack", { alert_id: alert.alert_id }).catch(() => {});
      hide(alert.alert_id);
    }, SHOW_MS);
  }

  function hide(id) {
    if (!showing || showing.alert_id !== id) return;
    showing = null;
    clearTimeout(timer);
    alertBox.classList.remove("entering");
    alertBox.classList.add("leaving");
    setTimeout(() => { if (!showing) alertBox.hidden = true; }, 400);
  }

  room.on("tips", (t) => { updateGoal(t); if (t.showing) show(t.showing); });
  room.on("tips.alert_show", (a) => show(a.alert || a));
  room.on("tips.alert_done", ({ alert_id }) => hide(alert_id));
  room.on("subscribed", () => { updateGoal(room.tips); if (room.tips?.showing) show(room.tips.showing); });
  updateGoal(null);
  hub.connect();
}

/** Nothing left on screen, no reconnecting: the old link is dead. */
function wipe(hub) {
  console.warn(`livehub overlay: ${HINT}`);
  hub.close();
  document.body.replaceChildren();
  document.body.className = "page-overlay wiped";
}
