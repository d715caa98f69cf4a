// livehub live room: a thin client over the wire protocol (docs/protocol.md).
// Open /live#token=<hub JWT>&room=event:<uuid>, or as an OBS overlay
// /live#overlay=<overlay secret>&room=event:<uuid>. It reconnects with recovery,
// applies room events by version, and shows tip alerts one at a time.
// Room data is untrusted: anyone allowed to publish can send any JSON. Nothing here turns
// data into markup: nodes are built with el() and text goes in as text (never innerHTML,
// never into attribute strings or URLs). The page's CSP (hub/security_headers.py) enforces
// that with Trusted Types, and forbids inline script, as a second wall.
const $ = (id) => document.getElementById(id);
const hash = new URLSearchParams(location.hash.slice(1));
const token = hash.get("token") || "";
const room = hash.get("room") || "";
const claims = readClaims(token);
const roles = Array.isArray(claims.roles) ? claims.roles : [];
const staff = roles.some((r) => ["dj", "moderator", "admin", "performer"].includes(r));
// An overlay acknowledges alerts it shows. `overlay=<secret>` (POST /api/events/{id}/overlay)
// is its own credential, good for nothing but that; `overlay=1` still acks with a staff token.
const overlaySecret = hash.get("overlay") === "1" ? "" : hash.get("overlay") || "";
const overlay = hash.has("overlay");

let ws = null, nextId = 1, position = null, backoff = 500;
const pending = new Map();
const versions = { requests: 0, karaoke: 0, tips: 0 };

// The token's claims, for display only (the hub verifies the token itself).
function readClaims(tok) {
  try {
    const c = JSON.parse(atob(tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return c && typeof c === "object" ? c : {};
  } catch { return {}; }
}
// An element with a class (or none) and children; strings and numbers become text nodes.
function el(tag, cls, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  return node;
}
const text = (v) => (v === null || v === undefined ? "" : String(v));
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const dollars = (cents, digits) => (num(cents) === null ? "" : `$${(cents / 100).toFixed(digits)}`);
const isObj = (v) => v !== null && typeof v === "object";

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const auth = overlaySecret ? `overlay=${encodeURIComponent(overlaySecret)}` : `token=${encodeURIComponent(token)}`;
  ws = new WebSocket(`${scheme}://${location.host}/ws?${auth}`);
  ws.onmessage = (ev) => onFrame(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    status(false, `closed ${ev.code}`);
    if ([4001, 4002, 4003].includes(ev.code)) return; // bad, expired or rotated: don't hammer
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}

function send(frame) { ws.send(JSON.stringify(frame)); }
function call(method, params = {}) {
  const id = nextId++;
  send({ type: "call", room, method, params, id });
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
function status(on, text) { $("status").className = "pill " + (on ? "on" : "off"); $("status").textContent = text; }

function onFrame(f) {
  switch (f.type) {
    case "welcome":
      backoff = 500;
      status(true, "live");
      $("room").textContent = `${room} · you are ${overlaySecret ? "the overlay" : text(claims.name || claims.sub)}`;
      send({ type: "subscribe", room, recover: position, presence_events: true, id: 0 });
      break;
    case "subscribed":
      if (!f.recovered) $("chat").replaceChildren();
      position = { epoch: f.epoch, offset: f.offset };
      f.publications.forEach((p) => onMessage(p.offset, p.data));
      if (!f.recovered && !overlaySecret) send({ type: "chat_history", room, limit: 50 });
      send({ type: "presence", room });
      break;
    case "message": onMessage(f.offset, f.data); break;
    case "snapshot": if (isObj(f.state)) onSnapshot(f.service, f.state); break;
    case "chat_page": f.messages.forEach((m) => addChat(m.user, m.text, m.message_id)); break;
    case "presence": $("viewers").textContent = `${text(f.count)} here`; break;
    case "join": case "leave": send({ type: "presence", room }); break;
    case "chat_sent": $("chat-note").textContent = f.status === "held" ? "Held for a moderator." : ""; break;
    case "result": case "error": {
      const p = pending.get(f.id);
      if (p) { pending.delete(f.id); f.type === "result" ? p.resolve(f.result) : p.reject(f); }
      else if (f.type === "error") $("chat-note").textContent = text(f.reason);
      break;
    }
  }
}

function onMessage(offset, data) {
  if (position && offset > position.offset) position.offset = offset;
  if (!isObj(data)) return;
  switch (data.type) {
    case "chat": addChat(data.name || data.user, data.text, data.message_id); break;  // guests' names, as text
    case "chat_removed": removeChat(data.message_id); break;
    case "sanction": addSystem(`${text(data.user)}: ${text(data.kind)}`); break;
    case "requests": if (num(data.version) > versions.requests) renderRequests(data); break;
    case "karaoke": if (num(data.version) > versions.karaoke) renderKaraoke(data); break;
    case "tips.goal": renderGoal(data); break;
    case "tips.alert_show": if (isObj(data.alert)) showAlert(data.alert); break;
    case "tips.alert_done": hideAlert(data.alert_id); break;
  }
}

// A snapshot is read after subscribing, so a room event can overtake it: never let an
// older snapshot replace a newer queue the page already shows.
function onSnapshot(service, state) {
  if (service === "requests" && num(state.version) >= versions.requests) renderRequests(state);
  if (service === "karaoke" && num(state.version) >= versions.karaoke) renderKaraoke(state);
  if (service === "tips") { renderGoal(state); isObj(state.showing) ? showAlert(state.showing) : hideAlert(null); }
}

function addChat(user, body, id) {
  const li = el("li", null, el("span", "who", text(user)), text(body));
  li.dataset.msg = text(id);
  $("chat").append(li);
  li.scrollIntoView({ block: "end" });
}
function removeChat(id) {
  for (const li of [...$("chat").children]) if (li.dataset.msg === text(id)) li.remove();
}
function addSystem(message) { $("chat").append(el("li", null, el("span", "sys", message))); }

const list = (v) => (Array.isArray(v) ? v.filter(isObj) : []);

function renderRequests(s) {
  versions.requests = num(s.version) ?? 0;
  $("requests-version").textContent = `v${versions.requests}`;
  const now = isObj(s.now_playing) ? s.now_playing : null;
  $("now-playing").replaceChildren(...(now ? ["▶ ", el("b", null, text(now.title)), ` — ${text(now.artist)}`] : []));
  $("requests").replaceChildren(...list(s.queue).map((r, i) => {
    const li = el("li", null,
      el("span", "pos", i + 1),
      el("span", "song", el("b", null, text(r.title)),
        el("span", null, `${text(r.artist) || "—"} · by ${text(r.requester_name || r.requester)}`)),
      num(r.paid_cents) ? el("span", "paid", dollars(r.paid_cents, 2)) : null,
      el("span", "votes", `▲ ${text(r.votes)}`),
      button("vote", "+1"),
      staff ? button("play_now", "Play") : null,
      staff ? button("decline", "✕") : null);
    li.dataset.id = text(r.id);
    return li;
  }));
}
function button(act, label) {
  const b = el("button", "ghost", label);
  b.dataset.act = act;
  return b;
}

function renderKaraoke(s) {
  versions.karaoke = num(s.version) ?? 0;
  $("karaoke-version").textContent = `v${versions.karaoke}`;
  const now = isObj(s.now_singing) ? s.now_singing : null;
  $("now-singing").replaceChildren(...(now ? ["🎤 ", el("b", null, text(now.singer)), ` — ${text(now.song)}`] : []));
  $("next-up").textContent = isObj(s.next_up) ? `Next up: ${text(s.next_up.singer)}` : "";
  $("karaoke").replaceChildren(...list(s.queue).map((e, i) => {
    const wait = num(e.wait_seconds) === null ? "" : ` · ~${Math.round(e.wait_seconds / 60)} min`;
    return el("li", e.held === true ? "held" : null, el("span", "pos", i + 1),
      el("span", "song", el("b", null, text(e.singer)),
        el("span", null, `${text(e.song)} · round ${text(e.round)}${wait}`)));
  }));
  $("karaoke-next").hidden = !staff;
}

function renderGoal(s) {
  const paid = num(s.paid_cents), goal = num(s.goal_cents);
  if (paid === null || !goal || goal < 0) return;
  $("goal").hidden = false;
  $("goal-fill").style.width = `${Math.max(0, Math.min(100, (100 * paid) / goal))}%`;
  $("goal-text").textContent = `${dollars(paid, 0)} / ${dollars(goal, 0)}`;
}

let showing = null;
function showAlert(a) {
  const id = (showing = text(a.alert_id));
  $("alert").hidden = false;
  $("alert").replaceChildren(el("b", null, dollars(a.amount_cents, 2)), `${text(a.from_name) || "Someone"} tipped`,
    ...(a.message ? [el("br"), `“${text(a.message)}”`] : []));
  if (overlay) setTimeout(() => call("tips.ack", { alert_id: id }).catch(() => {}), 4000);
}
function hideAlert(id) { if (id === null || text(id) === showing) { $("alert").hidden = true; showing = null; } }

$("chat-form").onsubmit = (e) => {
  e.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  send({ type: "chat", room, text, client_msg_id: crypto.randomUUID() });
  $("chat-text").value = "";
};
$("request-form").onsubmit = async (e) => {
  e.preventDefault();
  try {
    const r = await call("requests.submit", { title: $("request-title").value, artist: $("request-artist").value });
    $("request-note").textContent = r.merged ? "Already requested: your vote was added." : "Requested!";
    $("request-title").value = $("request-artist").value = "";
  } catch (err) { $("request-note").textContent = text(err.reason); }
};
$("requests").onclick = async (e) => {
  const act = e.target.dataset?.act;
  if (!["vote", "play_now", "decline"].includes(act)) return;
  const id = e.target.closest("li").dataset.id;
  const params = act === "vote" ? { request_id: id } : { request_id: id, version: versions.requests };
  if (act === "decline") params.reason = "Not tonight, sorry!";
  try { await call(`requests.${act}`, params); } catch (err) { $("request-note").textContent = text(err.reason); }
};
$("karaoke-form").onsubmit = async (e) => {
  e.preventDefault();
  try { await call("karaoke.signup", { singer: $("karaoke-name").value, song: $("karaoke-song").value }); $("karaoke-song").value = ""; }
  catch (err) { alert(text(err.reason)); }
};
$("karaoke-next").onclick = () => call("karaoke.next", { version: versions.karaoke }).catch((err) => alert(text(err.reason)));

if (!(token || overlaySecret) || !room) status(false, "open /live#token=…&room=event:…");
else connect();
