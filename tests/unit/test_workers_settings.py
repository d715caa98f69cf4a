"""HUB_WORKERS: read from the environment, bounded, and refused where workers cannot meet."""

from __future__ import annotations

import pytest

from hub import settings as hub_settings
from hub.cli import main
from hub.workers import refusal
from rooms.env import SettingsError

REDIS = {"REDIS_URL": "redis://127.0.0.1:6379/0"}


def test_workers_come_from_hub_workers() -> None:
    assert hub_settings.load({}).workers == 1
    assert hub_settings.load({"HUB_WORKERS": "4"}).workers == 4
    assert hub_settings.load({"HUB_WORKERS": "4"}, workers=2).workers == 2  # --workers wins


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_out_of_range_workers_stop_the_start(value: str) -> None:
    with pytest.raises(SettingsError, match="HUB_WORKERS"):
        hub_settings.load({"HUB_WORKERS": value})


def test_more_than_one_worker_needs_redis_and_a_fixed_port() -> None:
    assert refusal(hub_settings.load({"HUB_WORKERS": "1"})) is None
    assert refusal(hub_settings.load({**REDIS, "HUB_WORKERS": "2"})) is None
    no_redis = refusal(hub_settings.load({"HUB_WORKERS": "2"}))
    assert no_redis is not None and "needs REDIS_URL" in no_redis
    port_0 = refusal(hub_settings.load({**REDIS, "HUB_WORKERS": "2", "HUB_PORT": "0"}))
    assert port_0 is not None and "fixed port" in port_0


def test_workers_flag_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--workers", "0"])
    assert exit_.value.code == 2
    assert "--workers: must be 1..64" in capsys.readouterr().err
