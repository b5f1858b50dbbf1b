"""The benchmark harness interleaves contenders and reports medians and ratios."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench import harness


def test_compare_interleaves_and_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "RESULTS", tmp_path)
    calls: list[str] = []

    def slow() -> None:
        calls.append("slow")
        time.sleep(0.004)

    def fast() -> None:
        calls.append("fast")

    summary = harness.compare(
        "t", [harness.Contender("slow", slow), harness.Contender("fast", fast)], runs=4, warmup=1, baseline="slow"
    )
    # interleaved: never the same contender more than twice in a row (rotation at round edges)
    assert calls[:4] == ["slow", "fast", "fast", "slow"]
    assert len(calls) == 10
    assert summary["results"]["slow"]["ratio"] == pytest.approx(1.0)
    assert summary["results"]["fast"]["ratio"] < 1.0
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["results"]["fast"]["median"] < saved["results"]["slow"]["median"]


def test_failing_command_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "RESULTS", tmp_path)
    with pytest.raises(RuntimeError, match="exited 3"):
        harness.compare("f", [harness.Contender("bad", ["sh", "-c", "exit 3"])], runs=1, warmup=0)
