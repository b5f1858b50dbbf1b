"""cgroup managers against a fake cgroupfs tree (no root): detection, paths, values written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.errdefs import InvalidArgument
from seabox.runtime.cgroups import fake, open_manager
from seabox.runtime.cgroups.layout import clean_cgroups_path, detect


def _read(path: str, name: str) -> str:
    return Path(path, name).read_text()


@pytest.fixture
def proc_cgroup(tmp_path: Path) -> str:
    p = tmp_path / "self-cgroup"
    p.write_text(
        "9:name=systemd:/user.slice\n8:pids:/\n4:memory:/session/abc\n3:cpuset:/\n1:cpu:/\n0::/user.slice/init\n"
    )
    return str(p)


def _manager(tmp_path: Path, mode: str, path: str | None = "/sbt-x", proc: str = "/nonexistent", **kw):
    root = tmp_path / "cg"
    fake.build(str(root), mode, **kw)
    m = open_manager(path, "c1", root=str(root), proc_cgroup=proc)
    fake.populate(m.paths, mode)
    return m, root


# -- detection and paths -------------------------------------------------------------------


def test_detect_modes(tmp_path: Path) -> None:
    for mode in ("v1", "v2", "hybrid"):
        root = tmp_path / mode
        fake.build(str(root), mode)
        layout = detect(str(root))
        assert layout.mode == mode
        if mode != "v2":
            assert layout.v1["memory"] == str(root / "memory")
            assert layout.v1["name=systemd"] == str(root / "systemd")
        assert (layout.unified is not None) == (mode != "v1")


def test_detect_co_mounted(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "v1", co_mount_cpu=True)
    layout = detect(str(root))
    assert os.path.realpath(layout.v1["cpu"]) == os.path.realpath(layout.v1["cpuacct"])


def test_detect_empty_root_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="holds no cgroup hierarchy"):
        detect(str(tmp_path))


def test_hybrid_paths_absolute(tmp_path: Path) -> None:
    m, root = _manager(tmp_path, "hybrid", "/a/b")
    assert m.paths["memory"] == str(root / "memory/a/b")
    assert m.paths["name=systemd"] == str(root / "systemd/a/b")
    assert m.paths["unified"] == str(root / "unified/a/b")
    assert "cpu" in m.paths and "freezer" in m.paths


def test_relative_path_is_under_own_cgroup(tmp_path: Path, proc_cgroup: str) -> None:
    m, root = _manager(tmp_path, "hybrid", "rel/c1", proc=proc_cgroup)
    assert m.paths["memory"] == str(root / "memory/session/abc/rel/c1")
    assert m.paths["pids"] == str(root / "pids/rel/c1")
    assert m.paths["name=systemd"] == str(root / "systemd/user.slice/rel/c1")
    # v2: the trailing "/init" leaf of the caller is dropped, as runc does.
    assert m.paths["unified"] == str(root / "unified/user.slice/rel/c1")


def test_default_path_and_cleaning() -> None:
    assert clean_cgroups_path(None, "abc") == "/seabox/abc"
    assert clean_cgroups_path("", "abc") == "/seabox/abc"
    assert clean_cgroups_path("/a/../../b", "x") == "/b"
    assert clean_cgroups_path("../../b", "x") == "b"
    with pytest.raises(InvalidArgument, match="root cgroup"):
        clean_cgroups_path("/..", "x")


def test_systemd_form_refused() -> None:
    with pytest.raises(InvalidArgument, match="systemd cgroup driver not supported"):
        clean_cgroups_path("system.slice:docker:abc", "abc")


def test_recorded_paths_win(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "hybrid")
    m = open_manager("rel", "c1", root=str(root), paths={"memory": "/elsewhere/x"})
    assert m.paths["memory"] == "/elsewhere/x"


# -- v1 values ---------------------------------------------------------------------------


def test_v1_memory_cpu_pids(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "hybrid")
    m.set(
        {
            "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20, "swappiness": 10},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 42},
        }
    )
    p = m.paths
    assert _read(p["memory"], "memory.limit_in_bytes") == str(64 << 20)
    assert _read(p["memory"], "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert _read(p["memory"], "memory.soft_limit_in_bytes") == str(32 << 20)
    assert _read(p["memory"], "memory.swappiness") == "10"
    assert _read(p["cpu"], "cpu.shares") == "512"
    assert _read(p["cpu"], "cpu.cfs_quota_us") == "50000"
    assert _read(p["cpu"], "cpu.cfs_period_us") == "100000"
    assert _read(p["cpuset"], "cpuset.cpus") == "0"
    assert _read(p["pids"], "pids.max") == "42"


def test_v1_unlimited_memory_means_unlimited_swap(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "v1")
    m.set({"memory": {"limit": -1}, "pids": {"limit": -1}})
    assert _read(m.paths["memory"], "memory.limit_in_bytes") == "-1"
    assert _read(m.paths["memory"], "memory.memsw.limit_in_bytes") == "-1"
    assert _read(m.paths["pids"], "pids.max") == "max"


def test_v1_devices_in_order(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "v1")
    writes: list[tuple[str, str]] = []
    import seabox.runtime.cgroups.fs as cfs

    real = cfs.write

    def spy(d: str, name: str, value: object) -> None:
        if name.startswith("devices."):
            writes.append((name, str(value)))
        real(d, name, value)  # type: ignore[arg-type]

    cfs.write = spy  # type: ignore[assignment]
    try:
        m.set(
            {
                "devices": [
                    {"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 136, "access": "rw"},
                    {"allow": False, "type": "b", "major": 8, "minor": 0, "access": "m"},
                ]
            }
        )
    finally:
        cfs.write = real  # type: ignore[assignment]
    assert writes == [
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "c 136:* rw"),
        ("devices.deny", "b 8:0 m"),
    ]


def test_v1_bad_device_rule(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "v1")
    with pytest.raises(InvalidArgument, match="device rule access"):
        m.set({"devices": [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwx"}]})


def test_v1_blkio(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "hybrid")
    m.set({"blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}})
    assert _read(m.paths["blkio"], "blkio.bfq.weight") == "300"
    assert _read(m.paths["blkio"], "blkio.throttle.read_bps_device") == "8:0 1048576"


def test_v1_unified_resources_refused(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "hybrid")
    with pytest.raises(InvalidArgument, match="cgroup v2"):
        m.set({"unified": {"memory.high": "1M"}})


def test_v1_cpuset_inherited_on_create(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "hybrid")
    m = open_manager("/sbt-y", "c1", root=str(root))
    fake.populate(m.paths, "hybrid")  # the kernel creates cpuset.cpus/mems empty
    m.create()
    assert _read(m.paths["cpuset"], "cpuset.cpus") == "0-1"
    assert _read(m.paths["cpuset"], "cpuset.mems") == "0"


def test_v1_freezer_and_apply(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "hybrid")
    assert m.state() == "thawed"
    m.freeze()
    assert _read(m.paths["freezer"], "freezer.state") == "FROZEN"
    assert m.state() == "frozen"
    m.thaw()
    assert m.state() == "thawed"
    m.apply(4242)
    for key in ("memory", "pids", "unified", "name=systemd"):
        assert _read(m.paths[key], "cgroup.procs") == "4242"


def test_v1_stats_shape(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "hybrid")
    data = m.stats()
    assert data["cpu"]["usage"]["total"] == 12345
    assert data["cpu"]["usage"]["percpu"] == [12000, 345]
    assert data["cpu"]["usage"]["user"] == 70_000_000
    assert data["memory"]["usage"] == {"limit": 9223372036854771712, "usage": 4096, "max": 8192, "failcnt": 0}
    assert data["memory"]["cache"] == 100
    assert data["pids"] == {"current": 1, "limit": 0}
    assert data["cpuset"] == {"cpus": [], "mems": []}
    assert {"major": 8, "minor": 0, "op": "Read", "value": 4096} in data["blkio"]["ioServiceBytesRecursive"]
    assert all(e["op"] != "Total" for e in data["blkio"]["ioServiceBytesRecursive"])


def test_v1_destroy_removes_dirs_and_empty_parents(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "hybrid")
    m = open_manager("/sbt-p/leaf", "c1", root=str(root))
    m.create()  # plain dirs (no interface files), so rmdir works on the fake
    assert all(os.path.isdir(p) for p in m.paths.values())
    m.destroy()
    assert not any(os.path.exists(p) for p in m.paths.values())
    assert not (root / "memory/sbt-p").exists()
    assert (root / "memory").is_dir()


# -- v2 values ---------------------------------------------------------------------------


def test_v2_conversions(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "v2")
    m.set(
        {
            "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 16 << 20},
            "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "cpus": "1"},
            "pids": {"limit": 7},
            "blockIO": {"weight": 500, "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]},
            "unified": {"memory.high": "50000000"},
        }
    )
    d = m.paths["unified"]
    assert _read(d, "memory.max") == str(64 << 20)
    assert _read(d, "memory.swap.max") == str(32 << 20)  # swap only: (memory+swap) - memory
    assert _read(d, "memory.low") == str(16 << 20)
    assert _read(d, "cpu.weight") == "39"  # 1 + (1024-2)*9999/262142
    assert _read(d, "cpu.max") == "20000 100000"
    assert _read(d, "cpuset.cpus") == "1"
    assert _read(d, "pids.max") == "7"
    assert _read(d, "io.weight") == f"default {1 + (500 - 10) * 9999 // 990}"
    assert _read(d, "io.max") == "8:16 wiops=100"
    assert _read(d, "memory.high") == "50000000"


def test_v2_unlimited_and_quota_only(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "v2")
    m.set({"memory": {"limit": -1}, "cpu": {"period": 50000}, "pids": {"limit": -1}})
    d = m.paths["unified"]
    assert _read(d, "memory.max") == "max"
    assert _read(d, "memory.swap.max") == "max"
    assert _read(d, "cpu.max") == "max 50000"
    assert _read(d, "pids.max") == "max"


def test_v2_swap_smaller_than_memory_refused(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "v2")
    with pytest.raises(InvalidArgument, match="memory\\+swap"):
        m.set({"memory": {"limit": 100, "swap": 50}})


def test_v2_devices_attach_an_ebpf_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seabox.runtime.cgroups import devicefilter

    m, _ = _manager(tmp_path, "v2")
    attached: list[tuple[str, bytes]] = []
    monkeypatch.setattr(devicefilter, "attach", lambda d, prog: attached.append((d, prog)))
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
    m.set({"devices": rules})
    assert m.device_rules_enforced is True
    assert attached == [(m.paths["unified"], devicefilter.compile_rules(rules))]
    m.set({"pids": {"limit": 3}})  # no devices key: the filter is left alone
    assert len(attached) == 1


def test_v2_enables_controllers_in_parents(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    fake.build(str(root), "v2")
    m = open_manager("/sbt-v2", "c1", root=str(root))
    m.create()
    # the fake's subtree_control keeps the last write; each controller is enabled on its own
    assert _read(str(root), "cgroup.subtree_control") == "+pids"


def test_v2_freeze_and_stats(tmp_path: Path) -> None:
    m, _ = _manager(tmp_path, "v2")
    d = m.paths["unified"]
    Path(d, "cgroup.events").write_text("populated 1\nfrozen 1\n")
    m.freeze()
    assert _read(d, "cgroup.freeze") == "1"
    assert m.state() == "frozen"
    data = m.stats()
    assert data["cpu"]["usage"]["total"] == 10_000
    assert data["memory"]["usage"]["limit"] == 2**64 - 1
    assert data["memory"]["usage"]["failcnt"] == 3
    assert data["cpuset"]["cpus"] == [0, 1]
    assert {"major": 8, "minor": 0, "op": "Write", "value": 512} in data["blkio"]["ioServiceBytesRecursive"]
