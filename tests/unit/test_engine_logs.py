"""json-file log reading, stdcopy framing, records' names, volume copy-up."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.engine import logs, records, stdcopy
from seabox.engine.containers import _inside, parse_signal, status_text
from seabox.engine.logs import LogOptions
from seabox.engine.volumes import ANON_LABEL, Volumes


def _write(path: Path, entries: list[tuple[str, str, str]]) -> None:
    with open(path, "w") as f:
        for log, stream, t in entries:
            f.write(json.dumps({"log": log, "stream": stream, "time": t}) + "\n")


def test_stdcopy_round_trip_and_partial() -> None:
    data = stdcopy.frame(1, b"out") + stdcopy.frame(2, b"err")
    frames, rest = stdcopy.deframe(data + data[:5])
    assert frames == [(1, b"out"), (2, b"err")] and rest == data[:5]
    assert data[:8] == bytes([1, 0, 0, 0, 0, 0, 0, 3])


def test_read_rotated_tail_streams_since_timestamps(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    _write(Path(f"{p}.1"), [("a\n", "stdout", "2024-01-01T00:00:01.000000001Z")])
    _write(p, [("b\n", "stderr", "2024-01-01T00:00:02.5Z"), ("c\n", "stdout", "2024-01-01T00:00:03Z")])
    allf = b"".join(logs.read(str(p), LogOptions()))
    assert stdcopy.deframe(allf)[0] == [(1, b"a\n"), (2, b"b\n"), (1, b"c\n")]
    tail = b"".join(logs.read(str(p), LogOptions(tail=1, tty=True)))
    assert tail == b"c\n"
    assert b"".join(logs.read(str(p), LogOptions(tail=0, tty=True))) == b""
    only_err = b"".join(logs.read(str(p), LogOptions(stdout=False, tty=True)))
    assert only_err == b"b\n"
    since = logs.parse_since("1704067202")  # 2024-01-01T00:00:02Z
    assert b"".join(logs.read(str(p), LogOptions(since=since, tty=True))) == b"b\nc\n"
    ts = b"".join(logs.read(str(p), LogOptions(timestamps=True, tail=1, tty=True)))
    assert ts == b"2024-01-01T00:00:03Z c\n"


def test_follow_stops_when_not_running(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    _write(p, [("x\n", "stdout", "2024-01-01T00:00:01Z")])
    calls = iter([True, True, False])
    out = b"".join(logs.read(str(p), LogOptions(follow=True, tty=True), lambda: next(calls)))
    assert out == b"x\n"


def test_names_and_lookup(tmp_path: Path) -> None:
    assert records.check_name("web") == "/web"
    with pytest.raises(errdefs.InvalidArgument):
        records.check_name("-bad")
    with pytest.raises(errdefs.InvalidArgument):
        records.check_name("a")  # docker wants at least two characters
    rs = records.Records(tmp_path)
    a = {"Id": "ab" + "0" * 62, "Name": "/web", "Namespace": "default", "State": records.new_state()}
    b = {"Id": "ac" + "0" * 62, "Name": "/db", "Namespace": "default", "State": records.new_state()}
    rs.save(a)
    rs.save(b)
    assert rs.find("default", "web")["Id"] == a["Id"]
    assert rs.find("default", "/db")["Id"] == b["Id"]
    assert rs.find("default", "ab")["Id"] == a["Id"]
    with pytest.raises(errdefs.InvalidArgument):
        rs.find("default", "a")  # ambiguous prefix
    with pytest.raises(errdefs.NotFound):
        rs.find("other", "web")
    assert records.Records(tmp_path).find("default", "web")["Id"] == a["Id"]  # reloaded from disk


def test_signals_and_status_text() -> None:
    assert parse_signal("SIGTERM") == 15 and parse_signal("kill") == 9 and parse_signal("2") == 2
    with pytest.raises(errdefs.InvalidArgument):
        parse_signal("SIGNOPE")
    st = records.new_state()
    assert status_text(st) == "Created"
    st.update({"Status": "exited", "ExitCode": 3, "FinishedAt": "2020-01-01T00:00:00Z"})
    assert status_text(st).startswith("Exited (3) ")
    assert status_text(st).endswith(" years ago")  # docker's go-units HumanDuration, not "2000 days"
    import datetime

    three_weeks = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=21, minutes=5)
    st.update({"Status": "running", "Running": True, "StartedAt": three_weeks.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert status_text(st) == "Up 3 weeks"


def test_inside_resolves_symlinks_within_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "link")
    os.symlink("../../../../..", root / "up")
    assert _inside(root, "/link/passwd") == root / "etc" / "passwd"
    assert _inside(root, "/../../etc") == root / "etc"
    assert _inside(root, "/up/etc") == root / "etc"


def test_volumes_create_fill_once_refuse_in_use(tmp_path: Path) -> None:
    users: dict[str, list[str]] = {}
    v = Volumes(tmp_path / "vols", lambda n: users.get(n, []))
    info = v.create("data", labels={"a": "b"})
    assert info["Mountpoint"].endswith("/data/_data") and info["Labels"] == {"a": "b"}
    src = tmp_path / "img"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("x")
    os.symlink("sub/f", src / "l")
    v.fill_once("data", src)
    assert (Path(info["Mountpoint"]) / "sub" / "f").read_text() == "x"
    assert os.readlink(Path(info["Mountpoint"]) / "l") == "sub/f"
    (src / "later").write_text("y")
    v.fill_once("data", src)  # only the first mount copies
    assert not (Path(info["Mountpoint"]) / "later").exists()
    users["data"] = ["abc"]
    with pytest.raises(errdefs.AlreadyExists):
        v.remove("data")
    users.clear()
    v.remove("data")
    with pytest.raises(errdefs.NotFound):
        v.inspect("data")
    anon = v.create("")
    assert ANON_LABEL in anon["Labels"] and len(anon["Name"]) == 64
    assert v.prune() == [anon["Name"]]
    with pytest.raises(errdefs.InvalidArgument):
        v.create("bad/name")


def test_image_created_times() -> None:
    from seabox.engine.images import _epoch, familiar, normalize

    assert _epoch("2024-01-02T03:04:05.123456789Z") == 1704164645
    assert _epoch("2024-01-02T03:04:05+01:00") == 1704161045
    assert _epoch("") == 0
    assert normalize("busybox") == "docker.io/library/busybox:latest"
    assert familiar("docker.io/library/busybox:latest") == "busybox:latest"
    assert familiar("127.0.0.1:5000/x/y:1") == "127.0.0.1:5000/x/y:1"


def test_restart_policy_and_backoff() -> None:
    from seabox.engine.containers import next_backoff, should_restart

    assert next_backoff(0, 0.01) == 0.1
    assert next_backoff(0.1, 0.5) == 0.2
    assert next_backoff(0.2, 0.5) == 0.4
    assert next_backoff(0.4, 12.0) == 0.1  # ran 10 s or more: reset
    assert next_backoff(40.0, 0.1) == 60.0
    always = {"Name": "always"}
    assert should_restart(always, 0, 5, False) and not should_restart(always, 1, 0, True)
    assert should_restart({"Name": "unless-stopped"}, 0, 0, False)
    assert not should_restart({"Name": "no"}, 1, 0, False) and not should_restart({}, 1, 0, False)
    onf = {"Name": "on-failure", "MaximumRetryCount": 2}
    assert should_restart(onf, 1, 1, False) and not should_restart(onf, 1, 2, False)
    assert not should_restart(onf, 0, 0, False)
    assert should_restart({"Name": "on-failure"}, 3, 100, False)
