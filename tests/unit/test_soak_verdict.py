"""``make soak``'s verdict: the median of the hold's last sixth against its second sixth."""

from __future__ import annotations

from typing import Any

from loadtests.soak import MIB, RULES, verdict

HOLD = 1800.0  # a 30-minute hold: minutes 5-10 against minutes 25-30


def series(**overrides: Any) -> list[dict[str, Any]]:
    """One sample every 10 s of a steady hub; ``overrides`` maps a series to f(hold_t)."""
    steady = {"hub_rss_bytes": 200 * MIB, "hub_fds": 850, "redis_used_memory_bytes": 3 * MIB,
              "pg_connections": 10, "connections": 800, "deliveries_per_s": 600.0}
    out = []
    for k in range(0, int(HOLD) + 1, 10):
        s: dict[str, Any] = {"t": k + 12.0, "hold_t": float(k), **steady}
        for key, f in overrides.items():
            s[key] = f(float(k))
        out.append(s)
    return out


def test_a_steady_hub_is_flat_in_every_series() -> None:
    """Constant series: every change 0, every series and the whole run flat."""
    v = verdict(series(), HOLD)
    assert v["early_window_s"] == [300.0, 600.0] and v["late_window_s"] == [1500.0, 1800.0]
    assert v["flat"] is True
    for key in RULES:
        e = v["series"][key]
        assert e["flat"] is True and e["change"] == 0, key
        assert e["early_samples"] == 30 and e["late_samples"] == 31, key


def test_rss_growing_past_ten_percent_is_a_leak() -> None:
    """RSS 12% higher in the late window than in the early one: not flat; 8%: flat."""
    leak = verdict(series(hub_rss_bytes=lambda t: 200 * MIB * (1.12 if t > 900 else 1)), HOLD)
    e = leak["series"]["hub_rss_bytes"]
    assert e["flat"] is False and leak["flat"] is False
    assert e["change_pct"] == 12.0 and e["tolerance"] == 20 * MIB
    ok = verdict(series(hub_rss_bytes=lambda t: 200 * MIB * (1.08 if t > 900 else 1)), HOLD)
    assert ok["series"]["hub_rss_bytes"]["flat"] is True and ok["flat"] is True


def test_a_steady_leak_shows_as_two_thirds_of_its_growth() -> None:
    """Linear growth of 18% over the hold moves the medians (minutes 7.5 and 27.5) by 12%."""
    v = verdict(series(hub_rss_bytes=lambda t: 200 * MIB * (1 + 0.18 * t / HOLD)), HOLD)
    e = v["series"]["hub_rss_bytes"]
    assert 11.0 < e["change_pct"] < 12.5 and e["flat"] is False


def test_one_fd_per_minute_is_caught_and_shrinking_is_fine() -> None:
    """fds +1/min (+20 over the windows, above 1% of 850 = 8.5): not flat; fds falling: flat."""
    v = verdict(series(hub_fds=lambda t: 850 + int(t // 60)), HOLD)
    assert v["series"]["hub_fds"]["change"] == 20 and v["series"]["hub_fds"]["flat"] is False
    v = verdict(series(hub_fds=lambda t: 850 - int(t // 60)), HOLD)
    assert v["series"]["hub_fds"]["flat"] is True


def test_postgres_connections_allow_two_more_and_no_third() -> None:
    """Pool growth of 2 is within the floor; 3 is not."""
    two = verdict(series(pg_connections=lambda t: 10 if t < 900 else 12), HOLD)
    three = verdict(series(pg_connections=lambda t: 10 if t < 900 else 13), HOLD)
    assert two["series"]["pg_connections"]["flat"] is True
    assert three["series"]["pg_connections"]["flat"] is False


def test_traffic_dropping_is_not_flat() -> None:
    """Deliveries/s falling 20% or connections dropping 5%: not flat (both ways count)."""
    v = verdict(series(deliveries_per_s=lambda t: 600.0 if t < 900 else 480.0,
                       connections=lambda t: 800 if t < 900 else 760), HOLD)
    assert v["series"]["deliveries_per_s"]["flat"] is False
    assert v["series"]["connections"]["flat"] is False


def test_a_window_without_samples_is_not_flat() -> None:
    """Samples missing in the late window (the sampler failed): flat is None, run not flat."""
    samples = [s for s in series() if s["hold_t"] < 1500]
    v = verdict(samples, HOLD)
    assert v["flat"] is False
    assert all(e["flat"] is None and e["late_samples"] == 0 for e in v["series"].values())


def test_samples_before_the_hold_and_missing_values_are_left_out() -> None:
    """Ramp samples (hold_t None) and a None reading count in neither window."""
    samples = [{**s, "hold_t": None} for s in series()[:5]] + series()
    samples[40]["hub_fds"] = None  # hold_t 350 s: inside the early window
    v = verdict(samples, HOLD)
    assert v["series"]["hub_fds"]["early_samples"] == 29
    assert v["series"]["hub_rss_bytes"]["early_samples"] == 30
