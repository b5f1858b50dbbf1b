"""Health check config: docker's merge of image and container checks, the probe argv, ps text, flags."""

from __future__ import annotations

import pytest

from seabox.client.runopts import Options, healthcheck
from seabox.engine import health
from seabox.errdefs import InvalidArgument

S = 1_000_000_000


def test_merge_container_over_image_and_none() -> None:
    img = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 10 * S, "Retries": 5}
    assert health.merge(img, None) == img
    got = health.merge(img, {"Test": ["CMD", "true"], "Interval": 0, "Timeout": 2 * S})
    assert got == {"Test": ["CMD", "true"], "Interval": 10 * S, "Retries": 5, "Timeout": 2 * S}
    assert health.merge(img, {"Test": ["NONE"]}) is None  # --no-healthcheck
    assert health.merge(None, None) is None
    with pytest.raises(InvalidArgument, match="unknown test type"):
        health.merge(None, {"Test": ["BOGUS", "x"]})


def test_argv_and_ps_suffix() -> None:
    assert health.argv({"Test": ["CMD-SHELL", "test -f /ok"]}) == ["/bin/sh", "-c", "test -f /ok"]
    assert health.argv({"Test": ["CMD", "cat", "/ok"]}) == ["cat", "/ok"]
    assert health.status_suffix({"Health": {"Status": "starting"}}) == " (health: starting)"
    assert health.status_suffix({"Health": {"Status": "unhealthy"}}) == " (unhealthy)"
    assert health.status_suffix({}) == ""


def test_flags_to_config() -> None:
    o = Options(health_cmd="true", health_interval="1m30s", health_timeout="500ms", health_retries=2,
                health_start_period="5s", health_start_interval=None, no_healthcheck=False)
    assert healthcheck(o) == {"Test": ["CMD-SHELL", "true"], "Interval": 90 * S, "Timeout": S // 2,
                              "StartPeriod": 5 * S, "Retries": 2}
    assert healthcheck(Options(no_healthcheck=True)) == {"Test": ["NONE"]}
    assert healthcheck(Options()) is None
    with pytest.raises(InvalidArgument, match="health-interval"):
        healthcheck(Options(health_interval="soon"))
    with pytest.raises(InvalidArgument, match="conflicts"):
        healthcheck(Options(no_healthcheck=True, health_cmd="true"))
