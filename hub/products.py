"""Which product (brand) a request is for: by the Host it came to, else the org's own.

One hub serves several products (``tipjar``, ``djdash``, ``m10dj``) from different host
names. ``HUB_PRODUCT_HOSTS`` maps hosts to products (``tips.example.com=tipjar,
dash.example.com=djdash``); it is checked at start (``hub.settings.load``) and parsed
once into the Hub (``Hub.products``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

from rooms.env import SettingsError

Product = Literal["tipjar", "djdash", "m10dj"]
PRODUCTS: Final = frozenset(get_args(Product))
VARIABLE: Final = "HUB_PRODUCT_HOSTS"


def host_name(host: str) -> str:
    """``host`` as a map key: lower case, without port or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1]:8000
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].rstrip(".")


def parse_hosts(text: str) -> dict[str, str]:
    """``host=product,host=product`` as a map (empty text: no hosts).

    Raises:
        SettingsError: an entry that is not host=product with a known product, or a host
            named twice; the message names HUB_PRODUCT_HOSTS.
    """
    hosts: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        host, _, product = (side.strip() for side in entry.partition("="))
        name = host_name(host)
        if not name or product not in PRODUCTS:
            raise SettingsError(f"{VARIABLE}: {entry!r} is not host=product with product one"
                                f" of {', '.join(sorted(PRODUCTS))}")
        if name in hosts:
            raise SettingsError(f"{VARIABLE}: {name} is named twice")
        hosts[name] = product
    return hosts


def product_for(hosts: Mapping[str, str], host: str, org_product: str) -> str:
    """The product for a request to ``host``: the configured one, else the org's own."""
    return hosts.get(host_name(host), org_product)
