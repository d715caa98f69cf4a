// The viewer page's HTTP calls: guest sign-in, token refresh, LiveKit tokens and checkouts.
// Every failure becomes an ApiError whose message a fan can read.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const FRIENDLY = {
  0: "We couldn't reach the server. Check your connection and try again.",
  401: "Your link has expired. Open the link from the host again.",
  403: "You can't do that on this event.",
  404: "This event could not be found.",
  409: "That isn't possible on this event right now.",
  429: "Too many tries from here. Wait a minute and try again.",
  503: "This isn't available right now. Please try again later.",
};

/** POST `path` with JSON `body` (and the bearer `token`); the answer's JSON, or an ApiError. */
export async function post(path, body, token) {
  let resp;
  try {
    resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body ?? {}),
    });
  } catch {
    throw new ApiError(0, FRIENDLY[0]);
  }
  let data = null;
  try { data = await resp.json(); } catch { /* an empty or non-JSON answer */ }
  if (resp.ok) return data ?? {};
  // The hub's own text is plain English; a fan gets it when it says more than the code.
  const detail = typeof data?.detail === "string" ? data.detail : "";
  const message = detail && resp.status !== 500 ? sentence(detail) : FRIENDLY[resp.status] || "Something went wrong. Please try again.";
  throw new ApiError(resp.status, message);
}

const sentence = (s) => (s.length > 200 ? s.slice(0, 200) + "…" : s.charAt(0).toUpperCase() + s.slice(1)
  + (/[.!?]$/.test(s) ? "" : "."));

export const joinAsGuest = (event, name) => post(`/api/events/${event}/guest`, { display_name: name });

/** A fresh token with the same claims (POST /api/tokens/refresh). */
export async function refreshToken(token) {
  const out = await post("/api/tokens/refresh", {}, token);
  if (typeof out.token !== "string") throw new ApiError(401, FRIENDLY[401]);
  return out.token;
}

/**
 * `url` from the server as a string, if its scheme is one of `schemes` (else null): the
 * page never follows a `javascript:` or other surprising link, whoever wrote it. Plain
 * http: and ws: count as https: and wss: only while the page itself is on http (local
 * development and tests).
 */
export function safeUrl(url, schemes) {
  let parsed;
  try { parsed = new URL(String(url)); } catch { return null; }
  const allowed = new Set(schemes);
  if (location.protocol === "http:") {
    if (allowed.has("https:")) allowed.add("http:");
    if (allowed.has("wss:")) allowed.add("ws:");
  }
  return allowed.has(parsed.protocol) ? String(url) : null;
}

/** A viewer grant for the stream: {url (LiveKit's: wss: or https:), token}. */
export async function livekitToken(event, token) {
  const grant = await post(`/api/events/${event}/livekit-token`, { kind: "viewer" }, token);
  const url = safeUrl(grant.url, ["wss:", "https:"]);
  if (!url || typeof grant.token !== "string") throw new ApiError(503, FRIENDLY[503]);
  return { ...grant, url };
}

export const checkout = (event, token, body) => post(`/api/events/${event}/checkout`, body, token);
