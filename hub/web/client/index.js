// @livehub/client: the browser (and Node) client for the livehub wire protocol.
// See docs/client.md; the wire protocol is docs/protocol.md.
export { LiveHub, readClaims } from "./hub.js";
export { Room } from "./room.js";
export { HubError } from "./errors.js";
export { describe, MESSAGES } from "./codes.js";
export { backoffDelay } from "./backoff.js";
export { ERROR_CODES, CLOSE_CODES, PROTOCOL_VERSION } from "./wire.js";
