"""``seabox-runc`` pause/resume/update/events/ps on a real busybox container (hybrid cgroups)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc
from seabox.testing.bundle import default_spec

pytestmark = pytest.mark.root

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def _started(runc: Runc, resources: dict, cgroups_path: str | None = None) -> tuple[str, dict]:
    linux = default_spec(LOOP)["linux"]
    linux["resources"] = {**linux.get("resources", {}), **resources}
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    bundle = runc.bundle(LOOP, linux=linux)
    cid = runc.new_id()
    res = runc.create(bundle, cid)
    assert res.returncode == 0, res.stderr
    res = runc.cmd("start", cid)
    assert res.returncode == 0, res.stderr
    state = json.loads((runc.root / cid / "state.json").read_text())
    return cid, state


def test_pause_resume(runc: Runc) -> None:
    cid, st = _started(runc, {})
    freezer = Path(st["cgroup_paths"]["freezer"], "freezer.state")
    assert runc.cmd("pause", cid).returncode == 0
    assert runc.state(cid)["status"] == "paused"
    assert freezer.read_text().strip() == "FROZEN"
    res = runc.cmd("pause", cid)
    assert res.returncode != 0
    assert runc.cmd("resume", cid).returncode == 0
    assert runc.state(cid)["status"] == "running"
    assert freezer.read_text().strip() == "THAWED"
    res = runc.cmd("resume", cid)
    assert res.returncode != 0 and "not paused" in res.stderr


def test_default_cgroup_path_is_removed_with_the_container(runc: Runc) -> None:
    cid, st = _started(runc, {})
    assert st["cgroup_paths"]["memory"] == f"/sys/fs/cgroup/memory/seabox/{cid}"
    assert runc.cmd("kill", cid, "KILL").returncode == 0
    res = runc.cmd("delete", "--force", cid)
    assert res.returncode == 0, res.stderr
    assert not any(os.path.exists(p) for p in st["cgroup_paths"].values())


def test_update_flags_and_json(runc: Runc, tmp_path: Path) -> None:
    path = f"/sbt-{secrets.token_hex(4)}"
    cid, st = _started(runc, {"memory": {"limit": 128 << 20}, "pids": {"limit": 64}}, path)
    mem = st["cgroup_paths"]["memory"]
    assert mem == f"/sys/fs/cgroup/memory{path}"
    assert Path(mem, "memory.limit_in_bytes").read_text().strip() == str(128 << 20)
    res = runc.cmd("update", "--memory", "64m", "--pids-limit", "32", "--cpu-shares", "512", cid)
    assert res.returncode == 0, res.stderr
    assert Path(mem, "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    assert Path(st["cgroup_paths"]["pids"], "pids.max").read_text().strip() == "32"
    assert Path(st["cgroup_paths"]["cpu"], "cpu.shares").read_text().strip() == "512"
    res = runc.cmd("update", "-r", "-", cid, input=json.dumps({"cpu": {"quota": 30000, "period": 100000}}))
    assert res.returncode == 0, res.stderr
    assert Path(st["cgroup_paths"]["cpu"], "cpu.cfs_quota_us").read_text().strip() == "30000"
    recorded = json.loads((runc.root / cid / "state.json").read_text())["config"]["linux"]["resources"]
    assert recorded["memory"]["limit"] == 64 << 20 and recorded["pids"]["limit"] == 32
    assert recorded["cpu"] == {"shares": 512, "quota": 30000, "period": 100000}
    res = runc.cmd("update", "--memory", "1", cid)  # below what the container already uses
    assert res.returncode != 0 and "memory.limit_in_bytes" in res.stderr


def test_events_stats_and_ps(runc: Runc) -> None:
    cid, st = _started(runc, {"memory": {"limit": 100 << 20}, "pids": {"limit": 20}})
    res = runc.cmd("events", "--stats", cid)
    assert res.returncode == 0, res.stderr
    ev = json.loads(res.stdout)
    assert ev["type"] == "stats" and ev["id"] == cid
    assert ev["data"]["memory"]["usage"]["limit"] == 100 << 20
    assert ev["data"]["pids"]["limit"] == 20 and ev["data"]["pids"]["current"] >= 1
    assert ev["data"]["cpu"]["usage"]["total"] > 0
    res = runc.cmd("ps", "--format", "json", cid)
    assert res.returncode == 0, res.stderr
    assert st["pid"] in json.loads(res.stdout)


def test_events_stream_reports_oom(runc: Runc) -> None:
    cid, _ = _started(runc, {"memory": {"limit": 24 << 20, "swap": 24 << 20}})
    proc = subprocess.Popen(
        [*runc.cmdline, "--root", str(runc.root), "events", "--interval", "30s", cid],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["type"] == "stats"
        # a process inside the container's cgroups that allocates far past the limit
        res = runc.cmd("exec", cid, "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}")
        assert res.returncode != 0
        second = json.loads(proc.stdout.readline())
        assert second == {"type": "oom", "id": cid}
    finally:
        proc.kill()
        proc.wait()
