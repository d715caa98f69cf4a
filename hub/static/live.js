// /live is the old single page. Links to it still circulate (printed, bookmarked, set
// in OBS), so it forwards to the page each link was for, keeping the credential in the
// fragment (never sent to the server, never in the query string):
//   #token=T&room=event:E   -> /dj/E#token=T for a staff token, else /e/E#token=T
//   #overlay=S&room=...     -> /overlay/S
// A link with neither (or an org room) is explained in words.
const hash = new URLSearchParams(location.hash.slice(1));
const token = hash.get("token") || "";
const overlay = hash.get("overlay") || "";
const event = /^event:([0-9a-f-]{36})$/.exec(hash.get("room") || "")?.[1];
const STAFF = ["performer", "dj", "moderator", "admin"];

function roles(jwt) {
  try {
    const claims = JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return Array.isArray(claims.roles) ? claims.roles : [];
  } catch { return []; }
}

function target() {
  if (overlay && overlay !== "1") return `/overlay/${encodeURIComponent(overlay)}`;
  if (!event || !token) return null;
  const page = roles(token).some((r) => STAFF.includes(r)) ? "dj" : "e";
  return `/${page}/${event}#token=${encodeURIComponent(token)}`;
}

const to = target();
history.replaceState(null, "", location.pathname);  // the credential leaves the address bar
if (to) location.replace(to);
else document.getElementById("note").textContent =
  "This link is incomplete. Ask the event's host for a new one.";
