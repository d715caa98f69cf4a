// Reconnect and retry delays: exponential backoff with FULL jitter
// (delay = random(0, min(max, base * 2^attempt))), so a hub restart is not met by every
// client at the same instant.

/**
 * @param {number} attempt 0 for the first retry
 * @param {{minDelayMs?: number, maxDelayMs?: number, random?: () => number}} [opts]
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, { minDelayMs = 500, maxDelayMs = 15000, random = Math.random } = {}) {
  const cap = Math.min(maxDelayMs, minDelayMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.floor(random() * cap);
}
