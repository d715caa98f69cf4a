// HubError: how every failure reaches a page. `message` is always a sentence a person can
// read (see codes.js); `code` is the protocol code (or 0 for the client's own failures).
import { ERROR_CODES, CLOSE_CODES } from "./wire.js";
import { describe } from "./codes.js";

export class HubError extends Error {
  /**
   * @param {number} code protocol error/close code, or 0 (client-side: closed, interrupted)
   * @param {string} [reason] the hub's own reason text (or the client's)
   * @param {{state?: unknown, retryable?: boolean, name?: string}} [extra]
   */
  constructor(code, reason = "", extra = {}) {
    super(describe(code, reason));
    /** @type {number} */
    this.code = code;
    /** The code's protocol name (e.g. "STALE_VERSION"), or the client's ("closed"). */
    this.name = extra.name || codeName(code) || "HubError";
    /** @type {string} */
    this.reason = reason;
    /** For 4412: the service's current state (the room applied it already). */
    this.state = extra.state ?? null;
    /** True when trying again later may work (the client already retried what it safely could). */
    this.retryable = extra.retryable ?? false;
  }
}

/** @param {number} code */
function codeName(code) {
  const row = /** @type {Record<number, {name: string}>} */ (ERROR_CODES)[code]
    || /** @type {Record<number, {name: string}>} */ (CLOSE_CODES)[code];
  return row ? row.name : "";
}
