"""TaskManager and the Tasks servicer's encoders, without root, shims or gRPC servers.

Temp dirs only: a real SQLite metadata store, bundles written without mounts, a launcher that
must never be reached on the error paths (it raises if it is).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seabox.api.containerd import tasks as api
from seabox.api.gen.cgroups.stats.v1 import metrics_pb2 as cg
from seabox.api.gen.containerd.api.events import task_pb2 as ev
from seabox.api.gen.containerd.api.types.task import task_pb2 as tpb
from seabox.daemon.tasks import Process, TaskEvent, TaskManager
from seabox.daemon.tasks import bundle as bundles
from seabox.daemon.tasks.manager import parse_time
from seabox.errdefs import AlreadyExists, InvalidArgument, NotFound
from seabox.metadata.containers import Container, TypedBlob
from seabox.metadata.store import MetadataStore
from seabox.runtime.cgroups import stats as cgstats
from seabox.shim.state import rfc3339nano
from seabox.snapshots.mount import Mount

RT = "io.containerd.runc.v2"


class NoLauncher:
    def spawn(self, cfg: object) -> object:
        raise AssertionError("the launcher must not be reached")

    def close(self) -> None:
        pass


@pytest.fixture
def mgr(tmp_path: Path) -> TaskManager:
    md = MetadataStore(tmp_path / "meta.db")
    events: list[TaskEvent] = []
    m = TaskManager(tmp_path / "state", md, {}, events.append, launcher=NoLauncher())
    m.events = events  # type: ignore[attr-defined]
    return m


def spec(args: list[str]) -> bytes:
    return json.dumps({"ociVersion": "1.0.2", "process": {"args": args, "cwd": "/"}, "root": {"path": "rootfs"}}).encode()


def test_parse_time_round_trips_the_shims_timestamps() -> None:
    for ns in (0, 1_700_000_000_123_456_789, 1_700_000_000_000_000_000, 1_700_000_000_100_000_000):
        if ns:
            assert parse_time(rfc3339nano(ns)) == ns
    assert parse_time("") == 0


@pytest.mark.parametrize("value, needle", [
    (b"{nope", "not valid JSON"),
    (b"[1]", "JSON object"),
    (json.dumps({"process": {"args": []}}).encode(), "no process args"),
    (json.dumps({"process": {"args": ["x"]}, "root": "rootfs"}).encode(), "root"),
])
def test_malformed_specs_are_invalid_arguments(value: bytes, needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle) as e:
        bundles.parse_spec("web", value)
    assert 'container "web"' in str(e.value)


def test_bundle_without_mounts_is_written_and_removed(tmp_path: Path) -> None:
    b = tmp_path / "b" / "c1"
    s = bundles.parse_spec("c1", json.dumps({"process": {"args": ["true"]}}).encode())
    bundles.create(b, s, [])
    assert json.loads((b / "config.json").read_text())["root"] == {"path": "rootfs"}
    assert (b / "rootfs").is_dir()
    bundles.remove(b)
    assert not b.exists()


def test_create_errors_never_reach_the_launcher(mgr: TaskManager) -> None:
    with pytest.raises(NotFound, match="c0"):
        mgr.create("sbt-ns", "c0")
    mgr.metadata.containers.create("sbt-ns", Container(id="bad", spec=TypedBlob("x", b"{"), runtime_name=RT))
    with pytest.raises(InvalidArgument):
        mgr.create("sbt-ns", "bad")
    assert mgr.list("sbt-ns") == [] and mgr.ids("sbt-ns") == []
    assert not any((mgr.bundles / "sbt-ns").glob("*")) if (mgr.bundles / "sbt-ns").exists() else True
    assert mgr.events == []  # type: ignore[attr-defined]


def test_a_failed_spawn_leaves_no_task_and_no_bundle(mgr: TaskManager) -> None:
    mgr.metadata.containers.create("sbt-ns", Container(id="c1", spec=TypedBlob("x", spec(["true"])), runtime_name=RT))
    with pytest.raises(AssertionError, match="launcher"):
        mgr.create("sbt-ns", "c1")
    assert mgr.ids("sbt-ns") == []
    assert not (mgr.bundles / "sbt-ns" / "c1").exists()


def test_unknown_tasks_are_not_found(mgr: TaskManager) -> None:
    for call in (lambda: mgr.get("n", "x"), lambda: mgr.kill("n", "x", 9), lambda: mgr.delete("n", "x"),
                 lambda: mgr.wait("n", "x"), lambda: mgr.start("n", "x"), lambda: mgr.pause("n", "x")):
        with pytest.raises(NotFound, match='task "x"'):
            call()


def test_duplicate_create_is_already_exists(mgr: TaskManager) -> None:
    from seabox.daemon.tasks.manager import Task

    mgr.tasks[("n", "c1")] = Task("n", "c1", mgr.bundles / "n" / "c1", None)
    mgr.metadata.containers.create("n", Container(id="c1", spec=TypedBlob("x", spec(["true"])), runtime_name=RT))
    with pytest.raises(AlreadyExists, match='task "c1"'):
        mgr.create("n", "c1")


def test_recover_on_an_empty_state_and_orphan_bundles(mgr: TaskManager) -> None:
    orphan = mgr.bundles / "n" / "gone"
    bundles.create(orphan, {"process": {"args": ["true"]}}, [])
    mgr.recover()
    assert not orphan.exists()
    assert mgr.list("n") == []


def test_event_messages_are_containerds() -> None:
    cases = [
        (TaskEvent("n", "/tasks/create", {"container_id": "c", "bundle": "/b", "pid": 4,
                                          "rootfs": [Mount("overlay", "overlay", ["lowerdir=/l"])],
                                          "io": {"stdin": "", "stdout": "/o", "stderr": "", "terminal": True}}),
         ev.TaskCreate),
        (TaskEvent("n", "/tasks/start", {"container_id": "c", "pid": 4}), ev.TaskStart),
        (TaskEvent("n", "/tasks/exit", {"container_id": "c", "id": "c", "pid": 4, "exit_status": 5,
                                        "exited_at": 1_700_000_000_000_000_001}), ev.TaskExit),
        (TaskEvent("n", "/tasks/delete", {"container_id": "c", "id": "c", "pid": 4, "exit_status": 5,
                                          "exited_at": 0}), ev.TaskDelete),
        (TaskEvent("n", "/tasks/exec-added", {"container_id": "c", "exec_id": "e"}), ev.TaskExecAdded),
        (TaskEvent("n", "/tasks/exec-started", {"container_id": "c", "exec_id": "e", "pid": 9}), ev.TaskExecStarted),
        (TaskEvent("n", "/tasks/paused", {"container_id": "c"}), ev.TaskPaused),
        (TaskEvent("n", "/tasks/resumed", {"container_id": "c"}), ev.TaskResumed),
        (TaskEvent("n", "/tasks/oom", {"container_id": "c"}), ev.TaskOOM),
    ]
    for e, cls in cases:
        msg = api.event_message(e)
        assert isinstance(msg, cls)
        assert msg.container_id == "c"
    create = api.event_message(cases[0][0])
    assert create.rootfs[0].options == ["lowerdir=/l"] and create.io.terminal and create.io.stdout == "/o"
    exit_ = api.event_message(cases[2][0])
    assert (exit_.exit_status, exit_.exited_at.seconds, exit_.exited_at.nanos) == (5, 1_700_000_000, 1)
    with pytest.raises(ValueError):
        api.event_message(TaskEvent("n", "/tasks/nope", {}))


def test_process_to_wire_names_the_init_by_the_container() -> None:
    p = api.process_to_wire(Process("c", "", 7, "running"))
    assert (p.id, p.status, p.pid, p.HasField("exited_at")) == ("c", tpb.RUNNING, 7, False)
    e = api.process_to_wire(Process("c", "e1", 8, "stopped", 3, 5_000_000_001))
    assert (e.id, e.status, e.exit_status, e.exited_at.seconds) == ("e1", tpb.STOPPED, 3, 5)
    assert api.process_to_wire(Process("c", "", 0, "weird")).status == tpb.UNKNOWN


def test_cgroups_v1_metrics_encoding() -> None:
    s = cgstats.empty()
    s["pids"] = {"current": 3, "limit": 100}
    s["cpu"]["usage"].update(total=1000, kernel=10, user=20, percpu=[600, 400])
    s["memory"]["usage"] = {"limit": 1 << 26, "usage": 12345, "max": 20000, "failcnt": 0}
    s["memory"]["raw"] = {"cache": 4096, "rss": 8192, "pgpgin": 7, "total_pgmajfault": 2,
                          "hierarchical_memsw_limit": 9, "unknown_key": 1}
    s["blkio"]["ioServiceBytesRecursive"] = [{"major": 8, "minor": 0, "op": "Read", "value": 512}]
    m = cg.Metrics.FromString(api.cgroups_v1_metrics(s).SerializeToString())
    assert (m.pids.current, m.pids.limit) == (3, 100)
    assert list(m.cpu.usage.per_cpu) == [600, 400] and m.cpu.usage.total == 1000
    assert (m.memory.usage.limit, m.memory.usage.usage, m.memory.cache, m.memory.rss) == (1 << 26, 12345, 4096, 8192)
    assert (m.memory.pg_pg_in, m.memory.total_pg_maj_fault, m.memory.hierarchical_swap_limit) == (7, 2, 9)
    assert m.blkio.io_service_bytes_recursive[0].value == 512
    assert api.pack(api.cgroups_v1_metrics(s)).type_url == "io.containerd.cgroups.v1.Metrics"


def test_json_any_rejects_non_objects() -> None:
    from google.protobuf import any_pb2

    assert api.json_any("exec", "e", any_pb2.Any(type_url="t", value=b'{"args": ["x"]}')) == {"args": ["x"]}
    for bad in (b"[", b"[1]", b""):
        with pytest.raises(InvalidArgument, match='exec "e"'):
            api.json_any("exec", "e", any_pb2.Any(type_url="t", value=bad))


def test_a_given_spec_replaces_the_stored_one(mgr: TaskManager) -> None:
    mgr.metadata.containers.create("n", Container(id="c1", spec=TypedBlob("x", b"{"), runtime_name=RT))
    with pytest.raises(InvalidArgument, match="no process args"):
        mgr.create("n", "c1", spec={"process": {"args": []}})
    with pytest.raises(AssertionError, match="launcher"):  # valid: it gets as far as starting a shim
        mgr.create("n", "c1", spec={"process": {"args": ["true"]}}, log={"driver": "json-file", "path": "/x"})
    assert mgr.ids("n") == [] and not (mgr.bundles / "n" / "c1").exists()
