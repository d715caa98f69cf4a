// Helpers every page shares: its config, sign-in from the URL fragment, safe DOM building,
// announcements for screen readers, and money. Untrusted text only ever goes in as text.

/** @returns {Record<string, any>} the page's config from <meta name="livehub"> (hub/pages.py) */
export function pageConfig() {
  const meta = document.querySelector('meta[name="livehub"]');
  try { return JSON.parse(meta?.getAttribute("content") || "{}"); } catch { return {}; }
}

/**
 * The credentials in the URL fragment (`#token=...`, `#overlay=...`), removed from the
 * address bar at once so they are neither bookmarked nor shown. They live in memory only.
 * @returns {URLSearchParams}
 */
export function takeFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return params;
}

/** The claims of a JWT, for display and scheduling only (the hub verifies tokens). */
export function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part));
    return claims && typeof claims === "object" ? claims : {};
  } catch { return {}; }
}

/**
 * An element with attributes and children; strings and numbers become text nodes.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs] className, dataset entries as data-*, aria-*, on* handlers
 * @param {...any} children
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "className") node.className = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

/** Text for display: null and undefined become "". */
export const text = (v) => (v === null || v === undefined ? "" : String(v));

/** $12.50 (or $12 with digits = 0). */
export function money(cents, digits = 2) {
  return typeof cents === "number" && Number.isFinite(cents) ? `$${(cents / 100).toFixed(digits)}` : "";
}

/** "about 4 min" for a wait in seconds. */
export function wait(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "";
  if (seconds < 60) return "under a minute";
  return `about ${Math.round(seconds / 60)} min`;
}

// Two live regions, made once: polite news (role status) and errors (role alert), so an
// error is announced as one whatever came first. Both sit in one .toasts stack.
let regions = null;
/** Say `message` to screen readers (errors assertively) and show it as a toast for a few seconds. */
export function announce(message, { error = false, ms = 5000 } = {}) {
  if (!regions) {
    regions = {
      status: el("div", { className: "toast-region", role: "status", "aria-live": "polite" }),
      alert: el("div", { className: "toast-region", role: "alert", "aria-live": "assertive" }),
    };
    document.body.append(el("div", { className: "toasts" }, regions.alert, regions.status));
  }
  const toast = el("div", { className: error ? "toast error" : "toast" }, message);
  (error ? regions.alert : regions.status).append(toast);
  setTimeout(() => toast.remove(), ms);
}

// A page's credential survives a reload of its tab (a phone discarding a background tab,
// a DJ pressing F5) in sessionStorage: this tab only, gone when the tab closes, never sent
// anywhere. `scope` names the page and event ("dj:<event>"); an empty token forgets it.
const credentialKey = (scope) => `livehub:credential:${scope}`;

/** Remember (or, with "", forget) this tab's credential for `scope`. */
export function remember(scope, token) {
  try {
    if (token) sessionStorage.setItem(credentialKey(scope), token);
    else sessionStorage.removeItem(credentialKey(scope));
  } catch { /* storage disabled: the page still works until a reload */ }
}

/** This tab's remembered credential for `scope`, or "". */
export function recall(scope) {
  try { return sessionStorage.getItem(credentialKey(scope)) || ""; } catch { return ""; }
}

/**
 * A private event's shell names only the event, its status and visibility; once signed
 * in, a page asks for the rest (GET /api/events/{id}/page) and merges it into `config`.
 * Offline or refused: `config` stays as it was (the panels that need a fact stay off).
 */
export async function completeConfig(config, token) {
  if (!config.event || config.visibility === "public") return config;
  try {
    const resp = await fetch(`/api/events/${config.event}/page`, { headers: { Authorization: `Bearer ${token}` } });
    if (resp.ok) Object.assign(config, await resp.json(), { page: config.page });
  } catch { /* offline: keep what the shell said */ }
  if (config.title) document.title = `${config.title} · ${config.brand_name}`;
  return config;
}
