// Going live from the browser in two presses: "Start camera" shows the preview (nothing is
// live yet; a refused camera stops here), then "Go live" marks the event live and publishes.
// Front/back camera switching, and recording through the hub's recording routes.
// livekit-client (about 570 KB) is loaded only when video is wanted: a fan who only chats,
// or a DJ who never starts the camera, never downloads it (esbuild splits it into a chunk).
let sdk = null;
const livekit = () => (sdk ??= import("livekit-client"));
import { el, text, announce } from "./ui.js";

/** Why a camera could not start, in words (getUserMedia's error names). */
function cameraProblem(err) {
  const name = err?.name || "";
  if (name === "NotAllowedError" || name === "SecurityError")
    return "The browser was not allowed to use the camera. Allow camera and microphone for this site, then try again.";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError")
    return "No camera was found on this device. You can still run the queue; connect a camera and try again.";
  if (name === "NotReadableError") return "The camera is busy in another app. Close it there, then try again.";
  return "The camera could not start. You can still run the queue.";
}

/**
 * The stream card. `api(method, path, body)` calls the hub with the current token and
 * returns {status, body}; `config` is the page config; `canPublish` says if the role may.
 */
export function streamCard({ api, config, canPublish, onLive }) {
  const status = el("p", { id: "stream-status", className: "banner", role: "status", "aria-live": "polite" },
    config.livekit ? "Not streaming." : "Streaming is not set up on this hub, so going live from here is off.");
  const video = el("video", { id: "preview", className: "preview", muted: true, playsinline: true, autoplay: true,
    "aria-label": "Camera preview" });
  video.muted = true;
  const previewBox = el("div", { className: "preview-box", hidden: true }, video);
  const camOn = el("button", { id: "start-camera", type: "button", disabled: !config.livekit || !canPublish }, "Start camera");
  const goLive = el("button", { id: "go-live", type: "button", hidden: true }, "Go live");
  const stop = el("button", { id: "stop-stream", type: "button", className: "secondary", hidden: true }, "Stop camera");
  const flip = el("button", { id: "flip-camera", type: "button", className: "secondary", hidden: true }, "Switch camera");
  const devices = el("select", { id: "camera-select", hidden: true, "aria-label": "Camera" });
  const camNote = el("p", { id: "camera-note", className: "banner error", role: "alert", hidden: true });
  const note = canPublish ? null : el("p", { className: "muted" }, "Only performers, DJs and admins can stream.");
  let room = null, tracks = [], facing = "user";

  const say = (msg, kind = "") => { status.className = `banner ${kind}`; status.textContent = msg; };

  async function startCamera(constraints) {
    for (const t of tracks) t.stop();
    tracks = [];
    let createLocalTracks;
    try { ({ createLocalTracks } = await livekit()); }
    catch { camNote.textContent = "The video player could not load. Check the connection and try again."; camNote.hidden = false; return false; }
    try {
      tracks = await createLocalTracks({ audio: true, video: constraints });
    } catch (err) {
      try { tracks = await createLocalTracks({ audio: false, video: constraints }); }  // no mic: video alone
      catch { camNote.textContent = cameraProblem(err); camNote.hidden = false; previewBox.hidden = true; return false; }
    }
    const cam = tracks.find((t) => t.kind === "video");
    if (cam) { cam.attach(video); previewBox.hidden = false; camNote.hidden = true; }
    await listCameras();
    return !!cam;
  }

  async function listCameras() {
    let list = [];
    try { list = (await Room.getLocalDevices("videoinput")).filter((d) => d.deviceId); } catch { list = []; }
    devices.replaceChildren(...list.map((d, i) => el("option", { value: d.deviceId }, text(d.label) || `Camera ${i + 1}`)));
    devices.hidden = list.length < 2;
    flip.hidden = false;
  }

  async function publish() {
    if (!room) return;
    for (const t of tracks) {
      try { await room.localParticipant.publishTrack(t); } catch { /* shown by the state handler */ }
    }
  }

  camOn.addEventListener("click", async () => {
    camOn.disabled = true;
    say("Starting the camera…", "");
    try {
      if (await startCamera({ facingMode: facing })) {
        camOn.hidden = true; goLive.hidden = false; goLive.disabled = false; stop.hidden = false;
        say("Camera ready: check the preview, then press Go live. Nobody sees it yet.", "");
        goLive.focus();
      } else {
        for (const t of tracks) t.stop();
        tracks = [];
        say("Not streaming: the camera did not start.", "error");
      }
    } finally { camOn.disabled = !config.livekit || !canPublish; }
  });

  goLive.addEventListener("click", async () => {
    goLive.disabled = true;
    say("Starting the stream…", "");
    try {
      const live = await api("POST", `/api/events/${config.event}/live`);
      if (live.status === 409) { say("This event has ended, so it cannot go live again.", "error"); return; }
      if (live.status === 403) { say("Only the event's DJs and admins can take it live.", "error"); return; }
      if (live.status >= 400) { say("The video service did not answer. Try again in a moment.", "error"); return; }
      onLive?.();
      const grant = await api("POST", `/api/events/${config.event}/livekit-token`, { kind: "publisher" });
      if (grant.status !== 200) { say("The hub would not give this account a camera pass.", "error"); return; }
      const hasCamera = tracks.some((t) => t.kind === "video");
      const { Room, RoomEvent } = await livekit();  // loaded with the camera already
      room = new Room({ adaptiveStream: true, dynacast: true });
      room.on(RoomEvent.Disconnected, () => { if (room) { say("The stream stopped. Press Go live to start again.", "error"); goLive.hidden = false; } });
      room.on(RoomEvent.Reconnecting, () => say("Stream connection lost — reconnecting…", ""));
      room.on(RoomEvent.Reconnected, () => say("Streaming again.", "ok"));
      await room.connect(grant.body.url, grant.body.token);
      await publish();
      goLive.hidden = true; stop.textContent = "Stop streaming";
      say(hasCamera ? "You are live." : "Connected, but without a camera: viewers see no video.", hasCamera ? "ok" : "error");
      announce("You are live.");
    } catch {
      say("The video service can't be reached right now. Your queue keeps working; press Go live to try again.", "error");
      const r = room; room = null; r?.disconnect();
    } finally {
      goLive.disabled = false;
    }
  });

  stop.addEventListener("click", async () => {
    const r = room; room = null; await r?.disconnect();
    stop.textContent = "Stop camera";
    for (const t of tracks) t.stop();
    tracks = []; previewBox.hidden = true; stop.hidden = true; flip.hidden = true; devices.hidden = true;
    camNote.hidden = true; goLive.hidden = true; camOn.hidden = false;
    say("Not streaming.");
  });

  async function switchTo(constraints) {
    const cam = tracks.find((t) => t.kind === "video");
    try {
      if (cam) await cam.restartTrack(constraints);
      else await startCamera(constraints);
      announce("Camera switched.");
    } catch (err) { camNote.textContent = cameraProblem(err); camNote.hidden = false; }
  }
  flip.addEventListener("click", () => { facing = facing === "user" ? "environment" : "user"; switchTo({ facingMode: facing }); });
  devices.addEventListener("change", () => switchTo({ deviceId: devices.value }));

  return el("section", { className: "card", id: "stream-card", "aria-labelledby": "stream-h" },
    el("h2", { id: "stream-h" }, "Stream"), status, camNote, previewBox,
    el("div", { className: "row" }, camOn, goLive, flip, devices, stop),
    el("p", { className: "muted" }, "Going live also starts the event for your fans. Stopping the camera doesn't end the event."), note);
}

const RECORDING_TEXT = {
  starting: "Starting the recording…", recording: "Recording", stopping: "Stopping the recording…",
  stopped: "Recording stopped.", failed: "The recording failed",
};

/** The recording card: start/stop through /api/events/{id}/recording, state from the hub. */
export function recordingCard({ api, config, canRecord }) {
  const state = el("p", { id: "recording-state", className: "banner", role: "status", "aria-live": "polite" }, "Not recording.");
  const start = el("button", { id: "record-start", type: "button", disabled: !canRecord, "aria-describedby": "record-why" }, "Start recording");
  const why = el("p", { className: "muted", id: "record-why" });
  let eventStatus = config.status;
  /** Why recording can't start now ("" when it can): said next to the disabled button. */
  const blocker = () => (!canRecord ? "Only the event's DJs and admins can record."
    : !config.livekit ? "Recording needs streaming, which is not set up on this hub."
    : eventStatus !== "live" ? "Recording starts once the event is live." : "");
  const stop = el("button", { id: "record-stop", type: "button", className: "secondary", hidden: true }, "Stop recording");
  let current = null, timer = null;

  function startedAt(s) {
    const v = s.started_at ?? s.startedAt;
    const ms = typeof v === "number" ? v : Date.parse(v);
    return Number.isFinite(ms) ? ms : null;
  }
  function elapsed(ms) {
    const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return `${h ? `${h}:` : ""}${String(m).padStart(h ? 2 : 1, "0")}:${String(sec).padStart(2, "0")}`;
  }
  function render() {
    clearInterval(timer);
    const s = current || {};
    const kind = text(s.status || s.state) || "stopped";
    let line = RECORDING_TEXT[kind] || "Not recording.";
    if (kind === "failed") line += `: ${text(s.reason || s.error) || "no reason given"}.`;
    state.textContent = line;
    state.className = `banner ${kind === "failed" ? "error" : kind === "recording" ? "ok" : ""}`;
    const busy = ["starting", "recording", "stopping"].includes(kind);
    start.hidden = busy; stop.hidden = !busy || kind === "stopping";
    const since = kind === "recording" ? startedAt(s) : null;
    if (since !== null) {
      const tick = () => { state.textContent = `Recording · ${elapsed(since)}`; };
      tick(); timer = setInterval(tick, 1000);
    }
  }
  function apply(s) {
    if (!s || typeof s !== "object") return;
    current = s;
    render();
    // The room event carries no reason (LiveKit's text stays with staff): ask for it.
    if (s.status === "failed" && !s.error && !s.reason) explainFailure();
  }
  async function explainFailure() {
    try {
      const now = await api("GET", `/api/events/${config.event}/recording`);
      if (now.status === 200 && now.body?.status === "failed" && now.body.error) { current = now.body; render(); }
    } catch { /* offline: the line says "no reason given" */ }
  }
  async function call(method) {
    start.disabled = stop.disabled = true;
    try {
      const res = await api(method, `/api/events/${config.event}/recording`);
      if (res.status === 404 || res.status === 405) state.textContent = "Recording is not available on this hub yet.";
      else if (res.status === 403) state.textContent = "Only the event's DJs and admins can record.";
      else if (res.status === 503 && !config.livekit) state.textContent = "Recording needs streaming, which is not set up on this hub.";
      else if (res.status === 409 && res.body?.extra?.status) apply(res.body.extra);
      else if (res.status >= 400) {
        // The hub keeps a failed start with its reason (also broadcast): show that state,
        // else what this answer said.
        const now = await api("GET", `/api/events/${config.event}/recording`);
        if (now.status === 200 && now.body?.status === "failed") apply(now.body);
        else state.textContent = `The recording could not ${method === "DELETE" ? "stop" : "start"}: ${text(res.body?.detail) || "try again"}.`;
      }
      else apply(res.body);
    } catch { state.textContent = "The hub can't be reached; try again."; }
    finally { start.disabled = !!blocker(); stop.disabled = false; }
  }
  start.addEventListener("click", () => call("POST"));
  stop.addEventListener("click", () => call("DELETE"));
  const card = el("section", { className: "card", id: "recording-card", "aria-labelledby": "recording-h" },
    el("h2", { id: "recording-h" }, "Recording"), state, el("div", { className: "row" }, start, stop), why);
  function setStatus(status) {
    eventStatus = status;
    why.textContent = blocker();
    start.disabled = !!why.textContent;
  }
  setStatus(eventStatus);
  return {
    card, apply, setStatus,
    async load() {
      try { const res = await api("GET", `/api/events/${config.event}/recording`); if (res.status === 200) apply(res.body); }
      catch { /* the room event brings it later */ }
    },
  };
}
