// What the client does for every error and close code, and what it tells a person.
// The code list itself comes from wire.js (generated from hub/protocol.py); a test fails
// when a code there has no message or no behaviour here.
import { ERROR_CODES, CLOSE_CODES } from "./wire.js";

/** Human text per code: no raw numbers, no protocol jargon. */
export const MESSAGES = Object.freeze({
  // error frames
  4400: "The app sent something the server could not read. Please reload the page.",
  4401: "The app sent something the server could not read. Please reload the page.",
  4402: "Some of what you entered was not accepted. Check it and try again.",
  4413: "That is too long. Please shorten it and try again.",
  4403: "You are not allowed to do that here.",
  4404: "This event could not be found.",
  4405: "Not connected to this event yet. Try again in a moment.",
  4406: "That action is not available.",
  4409: "Already connected to this event.",
  4410: "Your sign-in could not be renewed.",
  4412: "Someone else changed this first. The list is now up to date; please try again.",
  4422: "That was not allowed.",
  4429: "Slow down a little, then try again.",
  4500: "Something went wrong on our side. Please try again.",
  4503: "The service is busy right now. Please try again shortly.",
  // close codes
  1000: "Disconnected.",
  1002: "The connection failed. Reconnecting…",
  1009: "Something you sent was too large to deliver.",
  1011: "The connection failed on our side. Reconnecting…",
  1012: "The server is restarting. Reconnecting…",
  4001: "Your sign-in link is not valid any more.",
  4002: "Your sign-in expired.",
  4003: "This overlay link was replaced. Open the new link.",
  4008: "The connection fell behind. Reconnecting…",
  4009: "The connection went quiet. Reconnecting…",
  4020: "Too many requests at once. Reconnecting…",
});

/** The client's own codes (code 0 errors, told apart by their reason). */
const CLIENT_MESSAGES = Object.freeze({
  closed: "The connection was closed.",
  interrupted: "The connection dropped before this was confirmed. Please try again.",
  refresh_failed: "Your sign-in expired and could not be renewed. Please sign in again.",
  network: "Connection lost. Reconnecting…",
});

/**
 * A sentence for a person. For a refusal by a room rule (4422) the hub's reason is that
 * sentence ("muted for 5 minutes"); for the rest the reason is for logs, not people.
 * @param {number} code
 * @param {string} [reason]
 * @returns {string}
 */
export function describe(code, reason = "") {
  if (code === 4422 && reason) return capitalize(reason);
  if (code === 0) return /** @type {Record<string, string>} */ (CLIENT_MESSAGES)[reason]
    || "Something went wrong. Please try again.";
  return /** @type {Record<number, string>} */ (MESSAGES)[code]
    || (code >= 4000 && code < 5000 ? "Something went wrong. Please try again."
      : "Connection lost. Reconnecting…");
}

/** @param {string} s */
const capitalize = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * What a pending request does after an `error` frame:
 * "retry" (resend after backoff: nothing was done), "stale" (4412: apply state, reject),
 * "fail" (reject now; trying the same again cannot help).
 * @param {number} code
 * @returns {"retry" | "stale" | "fail"}
 */
export function onError(code) {
  if (code === 4412) return "stale";
  const row = /** @type {Record<number, {action: string}>} */ (ERROR_CODES)[code];
  return row && row.action === "retry" ? "retry" : "fail";
}

/**
 * What the connection does after a close:
 * "reconnect" (with backoff, resubscribing with recovery), "refresh" (new token, then
 * reconnect), "stop" (closed for good). 1009 reconnects too, but the requests that were
 * in flight are rejected rather than resent (one of them was too big).
 * Codes the hub does not send (1001, 1006 when the network drops...) reconnect.
 * @param {number} code
 * @returns {"reconnect" | "refresh" | "stop"}
 */
export function onClose(code) {
  const row = /** @type {Record<number, {action: string}>} */ (CLOSE_CODES)[code];
  if (!row) return "reconnect";
  switch (row.action) {
    case "give_up": return "stop";
    case "refresh_token": return "refresh";
    default: return "reconnect";  // reconnect, and fix (1009: the socket is gone anyway)
  }
}
