// The stream player: livekit-client subscribes to the event's LiveKit room with a viewer
// grant. Wide and vertical (9:16) video both fit: the frame takes the video's shape.
// livekit-client (about 570 KB) is loaded only when video is wanted: a fan who only chats,
// or a DJ who never starts the camera, never downloads it (esbuild splits it into a chunk).
let sdk = null;
const livekit = () => (sdk ??= import("livekit-client"));
import { el } from "./ui.js";

export class Player {
  /** @param {(s: {kind: string, text: string}) => void} onState */
  constructor(onState) {
    this.onState = onState;
    this.video = el("video", { className: "video", playsinline: true, autoplay: true, muted: true,
      "aria-label": "Live stream" });
    this.audio = el("audio", { autoplay: true });
    this.placeholder = el("p", { className: "placeholder" });
    this.unmute = el("button", { type: "button", className: "secondary unmute", hidden: true,
      onclick: () => this.setMuted(false) }, "Tap for sound");
    this.frame = el("div", { className: "player" }, this.video, this.audio, this.placeholder, this.unmute);
    this.video.muted = true;
    this.video.addEventListener("loadedmetadata", () => this.shape());
    this.video.addEventListener("resize", () => this.shape());
    this.room = null;
    this.retry = null;
    this.attempt = 0;
    this.wanted = false;
    this.starting = false;
  }

  /** Show a calm message over the frame (no video). */
  message(text) {
    this.placeholder.textContent = text;
    this.placeholder.hidden = false;
    this.frame.classList.remove("playing");
  }

  shape() {
    const { videoWidth: w, videoHeight: h } = this.video;
    this.frame.classList.toggle("portrait", h > w && w > 0);
  }

  setMuted(muted) {
    this.video.muted = muted;
    this.audio.muted = muted;
    this.unmute.hidden = !muted;
    if (!muted) { this.audio.play().catch(() => {}); this.video.play().catch(() => {}); }
  }

  /**
   * Connect with `fetchToken` (async () => {url, token}); retried with backoff while wanted.
   * A 402 or similar refusal is the caller's (it throws from fetchToken with `stop` set).
   */
  async start(fetchToken) {
    this.wanted = true;
    this.fetchToken = fetchToken;
    clearTimeout(this.retry);
    // One start at a time: two status events while the token is on its way must not
    // make two LiveKit rooms (double audio).
    if (this.room || this.starting) return;
    this.starting = true;
    this.message("Connecting to the stream…");
    this.onState({ kind: "connecting", text: "Connecting to the stream…" });
    let grant;
    try {
      grant = await fetchToken();
    } catch (err) {
      this.starting = false;
      if (err?.stop) { this.wanted = false; return; }
      this.later("The stream isn't available right now. Trying again shortly…");
      return;
    }
    let Room, RoomEvent;
    try {
      ({ Room, RoomEvent } = await livekit());
    } catch {
      this.starting = false;
      this.later("The stream isn't available right now. Trying again shortly…");
      return;
    }
    this.starting = false;
    if (!this.wanted) return;
    const room = new Room({ adaptiveStream: true, dynacast: false });
    this.room = room;
    room.on(RoomEvent.TrackSubscribed, (track) => this.attach(track));
    room.on(RoomEvent.TrackUnsubscribed, (track) => { track.detach(); this.idle(); });
    room.on(RoomEvent.Reconnecting, () => this.onState({ kind: "reconnecting", text: "Reconnecting to the stream…" }));
    room.on(RoomEvent.Reconnected, () => this.onState({ kind: "playing", text: "" }));
    room.on(RoomEvent.Disconnected, () => {
      if (this.room !== room) return;
      this.room = null;
      if (this.wanted) this.later("The stream was interrupted. Reconnecting…");
    });
    try {
      await room.connect(grant.url, grant.token);
      this.attempt = 0;
      this.idle();
      for (const p of room.remoteParticipants.values()) {
        for (const pub of p.trackPublications.values()) if (pub.track) this.attach(pub.track);
      }
    } catch {
      if (this.room === room) this.room = null;
      room.disconnect().catch(() => {});
      if (this.wanted) this.later("The stream isn't available right now. Trying again shortly…");
    }
  }

  idle() {
    if (this.frame.classList.contains("playing")) return;
    this.message("Waiting for the performer's video…");
    this.onState({ kind: "waiting", text: "" });
  }

  attach(track) {
    if (track.kind === "video") {
      track.attach(this.video);
      this.placeholder.hidden = true;
      this.frame.classList.add("playing");
      this.onState({ kind: "playing", text: "" });
      this.video.play().catch(() => {});
    } else if (track.kind === "audio") {
      track.attach(this.audio);
      this.setMuted(this.video.muted);
    }
  }

  later(text) {
    this.message(text);
    this.onState({ kind: "unavailable", text });
    const delay = Math.min(30_000, 2000 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => { if (this.wanted) this.start(this.fetchToken); }, delay);
  }

  /** Leave the stream and show `text` instead. */
  stop(text) {
    this.wanted = false;
    clearTimeout(this.retry);
    const room = this.room;
    this.room = null;
    if (room) room.disconnect().catch(() => {});
    this.video.srcObject = null;
    this.unmute.hidden = true;
    this.message(text);
  }
}
