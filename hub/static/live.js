// livehub live room: a thin client over the wire protocol (docs/protocol.md).
// Open /live#token=<hub JWT>&room=event:<uuid>. It reconnects with recovery,
// applies room events by version, and shows tip alerts one at a time.
const $ = (id) => document.getElementById(id);
const hash = new URLSearchParams(location.hash.slice(1));
const token = hash.get("token") || "";
const room = hash.get("room") || "";
const claims = token ? JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))) : {};
const staff = (claims.roles || []).some((r) => ["dj", "moderator", "admin", "performer"].includes(r));
const overlay = hash.get("overlay") === "1"; // an overlay acknowledges alerts it shows

let ws = null, nextId = 1, position = null, backoff = 500;
const pending = new Map();
const versions = { requests: 0, karaoke: 0, tips: 0 };
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws.onmessage = (ev) => onFrame(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    status(false, `closed ${ev.code}`);
    if ([4001, 4002].includes(ev.code)) return; // bad or expired token: don't hammer
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
      $("room").textContent = `${room} · you are ${claims.sub}`;
      send({ type: "subscribe", room, recover: position, presence_events: true, id: 0 });
      break;
    case "subscribed":
      if (!f.recovered) $("chat").innerHTML = "";
      position = { epoch: f.epoch, offset: f.offset };
      f.publications.forEach((p) => onMessage(p.offset, p.data));
      if (!f.recovered) send({ type: "chat_history", room, limit: 50 });
      send({ type: "presence", room });
      break;
    case "message": onMessage(f.offset, f.data); break;
    case "snapshot": onSnapshot(f.service, f.state); break;
    case "chat_page": f.messages.forEach((m) => addChat(m.user, m.text, m.message_id)); break;
    case "presence": $("viewers").textContent = `${f.count} here`; break;
    case "join": case "leave": send({ type: "presence", room }); break;
    case "chat_sent": $("chat-note").textContent = f.status === "held" ? "Held for a moderator." : ""; break;
    case "result": case "error": {
      const p = pending.get(f.id);
      if (p) { pending.delete(f.id); f.type === "result" ? p.resolve(f.result) : p.reject(f); }
      else if (f.type === "error") $("chat-note").textContent = f.reason;
      break;
    }
  }
}

function onMessage(offset, data) {
  if (position && offset > position.offset) position.offset = offset;
  if (!data || typeof data !== "object") return;
  switch (data.type) {
    case "chat": addChat(data.user, data.text, data.message_id); break;
    case "chat_removed": document.querySelector(`[data-msg="${CSS.escape(data.message_id)}"]`)?.remove(); break;
    case "sanction": addSystem(`${data.user}: ${data.kind}`); break;
    case "requests": if (data.version > versions.requests) renderRequests(data); break;
    case "karaoke": if (data.version > versions.karaoke) renderKaraoke(data); break;
    case "tips.goal": renderGoal(data); break;
    case "tips.alert_show": showAlert(data.alert); break;
    case "tips.alert_done": hideAlert(data.alert_id); break;
  }
}

function onSnapshot(service, state) {
  if (service === "requests") renderRequests(state);
  if (service === "karaoke") renderKaraoke(state);
  if (service === "tips") { renderGoal(state); state.showing ? showAlert(state.showing) : hideAlert(null); }
}

function addChat(user, text, id) {
  const li = document.createElement("li");
  li.dataset.msg = id;
  li.innerHTML = `<span class="who">${esc(user)}</span>${esc(text)}`;
  $("chat").append(li);
  li.scrollIntoView({ block: "end" });
}
function addSystem(text) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="sys">${esc(text)}</span>`;
  $("chat").append(li);
}

function renderRequests(s) {
  versions.requests = s.version;
  $("requests-version").textContent = `v${s.version}`;
  $("now-playing").innerHTML = s.now_playing ? `▶ <b>${esc(s.now_playing.title)}</b> — ${esc(s.now_playing.artist)}` : "";
  $("requests").innerHTML = s.queue.map((r, i) => `
    <li data-id="${r.id}">
      <span class="pos">${i + 1}</span>
      <span class="song"><b>${esc(r.title)}</b><span>${esc(r.artist || "—")} · by ${esc(r.requester)}</span></span>
      ${r.paid_cents ? `<span class="paid">$${(r.paid_cents / 100).toFixed(2)}</span>` : ""}
      <span class="votes">▲ ${r.votes}</span>
      <button class="ghost" data-act="vote">+1</button>
      ${staff ? `<button class="ghost" data-act="play_now">Play</button><button class="ghost" data-act="decline">✕</button>` : ""}
    </li>`).join("");
}

function renderKaraoke(s) {
  versions.karaoke = s.version;
  $("karaoke-version").textContent = `v${s.version}`;
  $("now-singing").innerHTML = s.now_singing ? `🎤 <b>${esc(s.now_singing.singer)}</b> — ${esc(s.now_singing.song)}` : "";
  $("next-up").textContent = s.next_up ? `Next up: ${s.next_up.singer}` : "";
  $("karaoke").innerHTML = s.queue.map((e, i) => `
    <li class="${e.held ? "held" : ""}"><span class="pos">${i + 1}</span>
      <span class="song"><b>${esc(e.singer)}</b><span>${esc(e.song)} · round ${e.round} · ~${Math.round(e.wait_seconds / 60)} min</span></span></li>`).join("");
  $("karaoke-next").hidden = !staff;
}

function renderGoal(s) {
  if (!s.goal_cents) return;
  $("goal").hidden = false;
  $("goal-fill").style.width = `${Math.min(100, (100 * s.paid_cents) / s.goal_cents)}%`;
  $("goal-text").textContent = `$${(s.paid_cents / 100).toFixed(0)} / $${(s.goal_cents / 100).toFixed(0)}`;
}

let showing = null;
function showAlert(a) {
  showing = a.alert_id;
  $("alert").hidden = false;
  $("alert").innerHTML = `<b>$${(a.amount_cents / 100).toFixed(2)}</b>${esc(a.from_name || "Someone")} tipped${a.message ? `<br>“${esc(a.message)}”` : ""}`;
  if (overlay) setTimeout(() => call("tips.ack", { alert_id: a.alert_id }).catch(() => {}), 4000);
}
function hideAlert(id) { if (id === null || id === showing) { $("alert").hidden = true; showing = null; } }

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
  } catch (err) { $("request-note").textContent = err.reason; }
};
$("requests").onclick = async (e) => {
  const act = e.target.dataset?.act;
  if (!act) return;
  const id = e.target.closest("li").dataset.id;
  const params = act === "vote" ? { request_id: id } : { request_id: id, version: versions.requests };
  if (act === "decline") params.reason = "Not tonight, sorry!";
  try { await call(`requests.${act}`, params); } catch (err) { $("request-note").textContent = err.reason; }
};
$("karaoke-form").onsubmit = async (e) => {
  e.preventDefault();
  try { await call("karaoke.signup", { singer: $("karaoke-name").value, song: $("karaoke-song").value }); $("karaoke-song").value = ""; }
  catch (err) { alert(err.reason); }
};
$("karaoke-next").onclick = () => call("karaoke.next", { version: versions.karaoke }).catch((err) => alert(err.reason));

if (!token || !room) status(false, "open /live#token=…&room=event:…");
else connect();
