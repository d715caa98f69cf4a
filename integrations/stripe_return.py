"""Where Stripe Checkout may send a fan back to: the hub's own sites only.

``success_url`` and ``cancel_url`` come from the caller; unchecked, any token holder
could make an org-branded Checkout that lands on a site of their choosing (an open
redirect through Stripe). Accepted: a path on this hub (``/e/<event>?paid=tip``, made
absolute against the hub's public URL), or an absolute http(s) URL on one of the hub's
own hosts: ``HUB_PUBLIC_URL``'s host and the product hosts (``HUB_PRODUCT_HOSTS``).
Only when neither is configured (a development hub) is the request's own host trusted:
a ``Host`` header is the caller's to write, so behind a configured hub it proves nothing.
Anything else is 422.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urljoin, urlsplit

from litestar.exceptions import HTTPException


def _host(netloc_host: str | None) -> str:
    return (netloc_host or "").lower().rstrip(".")


class ReturnUrls:
    """The hosts a return URL may name, and the base a path is resolved against."""

    def __init__(self, public_url: str, product_hosts: Collection[str], base_url: str) -> None:
        public = urlsplit(public_url) if public_url else None
        trusted = {_host(h) for h in product_hosts}
        if public is not None and public.hostname:
            trusted.add(_host(public.hostname))
        self.base = public_url if public is not None and public.hostname else base_url
        # A development hub (nothing configured): the host it was reached at.
        self.hosts = trusted or {_host(urlsplit(base_url).hostname)}

    def default(self) -> str:
        return self.base

    def check(self, field: str, url: str | None) -> str | None:
        """``url`` as Stripe gets it (a path made absolute), or None when not given.

        Raises:
            HTTPException: 422 naming the field, for any other site or a malformed URL.
        """
        if url is None:
            return None
        refused = HTTPException(f"{field} must be a path on this hub or a URL on one of its"
                                " own sites", status_code=422)
        if any(ord(ch) <= 0x20 or ch == "\\" for ch in url):
            raise refused  # browsers read "\" as "/": "/\evil.example" is another site
        if url.startswith("/"):
            if url.startswith("//"):
                raise refused  # scheme-relative: another host
            return urljoin(self.base, url)
        try:
            parts = urlsplit(url)
            host = _host(parts.hostname)
            parts.port  # noqa: B018 (a malformed port raises here)
        except ValueError:
            raise refused from None
        if (parts.scheme not in ("https", "http") or parts.username is not None
                or parts.password is not None or host not in self.hosts):
            raise refused
        return url
