"""The shim's bookkeeping: statuses, exits (code or 128+signal, time), events kept until acked."""

from __future__ import annotations

import re
import signal

import pytest

from seabox.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from seabox.shim import state as stm


def _exited(code: int) -> int:
    return code << 8


def _signaled(sig: int) -> int:
    return sig


def test_rfc3339nano_trims_zeros_like_go() -> None:
    assert stm.rfc3339nano(1_700_000_000_123_000_000) == "2023-11-14T22:13:20.123Z"
    assert stm.rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", stm.rfc3339nano())


def test_exit_status_codes_and_signals() -> None:
    assert stm.exit_status(_exited(0)) == 0
    assert stm.exit_status(_exited(42)) == 42
    assert stm.exit_status(_signaled(signal.SIGKILL)) == 137


def test_init_lifecycle_and_events() -> None:
    t = stm.Task("c1", "ns")
    with pytest.raises(NotFound, match='container "c1"'):
        t.get()
    p = t.add_init("/bundle")
    t.created(p, 100)
    assert (p.status, p.pid) == ("created", 100)
    with pytest.raises(AlreadyExists):
        t.add_init("/bundle")
    t.check_start("")
    t.started(p, 100)
    assert p.status == "running"
    with pytest.raises(FailedPrecondition):
        t.check_start("")
    t.set_paused(True)
    assert p.status == "paused"
    with pytest.raises(FailedPrecondition):
        t.set_paused(True)
    t.set_paused(False)
    assert t.exited(999, _exited(1)) is None  # not ours
    done = t.exited(100, _exited(3), now_ns=1_700_000_000_000_000_001)
    assert done is p and (p.status, p.exit_status, p.exited_at) == ("stopped", 3, "2023-11-14T22:13:20.000000001Z")
    ev = t.publish_exit(p)
    assert ev["event"] == "exit" and ev["exit_status"] == 3 and ev["exec_id"] == ""
    with pytest.raises(NotFound, match="already finished"):
        t.check_kill("")
    assert not t.live()
    assert [e["event"] for e in t.events.since()] == ["create", "start", "paused", "resumed", "exit"]
    t.removed("")
    assert t.deleted
    with pytest.raises(AlreadyExists):
        t.add_init("/bundle")


def test_exec_bookkeeping() -> None:
    t = stm.Task("c1")
    with pytest.raises(NotFound):
        t.add_exec("e1", {"args": ["true"]})
    p = t.add_init("/b")
    t.created(p, 10)
    t.started(p, 10)
    with pytest.raises(InvalidArgument):
        t.add_exec("", {"args": ["true"]})
    with pytest.raises(InvalidArgument, match='exec "e1"'):
        t.add_exec("e1", {"args": []})
    for bad in ("../x", "a/b", ".hidden", "x" * 129, "sp ace"):
        with pytest.raises(InvalidArgument, match="invalid exec id"):
            t.add_exec(bad, {"args": ["true"]})
    e = t.add_exec("e1", {"args": ["true"]}, stdout="/fifo")
    with pytest.raises(AlreadyExists, match='exec "e1"'):
        t.add_exec("e1", {"args": ["true"]})
    with pytest.raises(FailedPrecondition, match="not started"):
        t.check_kill("e1")
    t.check_start("e1")
    t.started(e, 11)
    assert t.by_pid(11) is e
    with pytest.raises(FailedPrecondition):
        t.check_delete("e1")  # still running
    t.exited(11, _signaled(signal.SIGTERM))
    assert e.exit_status == 128 + signal.SIGTERM
    assert t.check_delete("e1") is e
    t.removed("e1")
    with pytest.raises(NotFound, match='exec "e1"'):
        t.get("e1")
    # the init's exit does not disturb the record of other processes
    assert t.init().status == "running"


def test_event_log_keeps_unacked_exits_when_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stm, "MAX_EVENTS", 5)
    log = stm.EventLog()
    log.append("exit", id="c", exit_status=1)
    for i in range(10):
        log.append("oom", n=i)
    kept = log.since()
    assert len(kept) == 5 and kept[0]["event"] == "exit"
    assert log.since(9) == [e for e in kept if e["seq"] > 9]
    log.ack(kept[0]["seq"])
    assert all(e["event"] == "oom" for e in log.since())
    log.ack(10**6)  # acking past the end is clamped
    assert log.acked == log.seq and log.since() == []
    nxt = log.append("exit", id="c")
    assert log.since() == [nxt]
