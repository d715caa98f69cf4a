"""HUB_PRODUCT_HOSTS: parsed at start, refused when malformed; product_for falls back."""

from __future__ import annotations

import pytest

from hub.products import parse_hosts, product_for
from hub.runtime import Hub
from hub.settings import load
from rooms.env import SettingsError


def test_hosts_map_to_products_whatever_the_case_port_or_trailing_dot() -> None:
    """Hosts are matched without case, port or trailing dot; other hosts get the org's own."""
    hosts = parse_hosts(" Tips.Example.com=tipjar ,dash.example.com.=djdash,")
    assert hosts == {"tips.example.com": "tipjar", "dash.example.com": "djdash"}
    assert product_for(hosts, "TIPS.example.com:8443", "m10dj") == "tipjar"
    assert product_for(hosts, "dash.example.com", "tipjar") == "djdash"
    assert product_for(hosts, "other.example.com", "m10dj") == "m10dj"
    assert product_for(hosts, "", "djdash") == "djdash"
    assert product_for({"[::1]": "tipjar"}, "[::1]:8000", "djdash") == "tipjar"


@pytest.mark.parametrize("text", ["tips.example.com", "tips.example.com=spotify",
                                  "=tipjar", "a.com=tipjar,A.com=djdash"])
def test_a_bad_map_stops_the_start_naming_the_variable(text: str) -> None:
    """load() refuses a malformed map, an unknown product or a host named twice."""
    with pytest.raises(SettingsError, match="HUB_PRODUCT_HOSTS"):
        load({"HUB_PRODUCT_HOSTS": text})


def test_the_hub_holds_the_parsed_map() -> None:
    """The map is parsed once, into the Hub the routes read."""
    hub = Hub(load({"HUB_PRODUCT_HOSTS": "tips.example.com=tipjar", "HUB_EMBEDDED_PG": "0"}))
    assert hub.products == {"tips.example.com": "tipjar"}
