"""A fake cgroupfs tree in a plain directory, for tests without root.

``build(root, mode)`` lays out the hierarchy roots a v1, v2 or hybrid host has, with
the interface files the managers read and write; ``populate(...)`` plays the kernel's
part of filling a new cgroup directory with its files (a plain mkdir cannot).
Shipped with the library so that other layers' tests can fake cgroups the same way.
"""

from __future__ import annotations

import os

V1_FILES: dict[str, dict[str, str]] = {
    "cpu": {
        "cpu.shares": "1024",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_burst_us": "0",
        "cpu.rt_period_us": "1000000",
        "cpu.rt_runtime_us": "0",
        "cpu.idle": "0",
        "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    },
    "cpuacct": {
        "cpuacct.usage": "12345",
        "cpuacct.usage_percpu": "12000 345 ",
        "cpuacct.usage_percpu_sys": "2000 45 ",
        "cpuacct.usage_percpu_user": "10000 300 ",
        "cpuacct.stat": "user 7\nsystem 3\n",
    },
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712",
        "memory.soft_limit_in_bytes": "9223372036854771712",
        "memory.usage_in_bytes": "4096",
        "memory.max_usage_in_bytes": "8192",
        "memory.failcnt": "0",
        "memory.memsw.limit_in_bytes": "9223372036854771712",
        "memory.memsw.usage_in_bytes": "4096",
        "memory.memsw.max_usage_in_bytes": "8192",
        "memory.memsw.failcnt": "0",
        "memory.kmem.tcp.limit_in_bytes": "9223372036854771712",
        "memory.swappiness": "60",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.stat": "cache 100\nrss 200\ntotal_cache 100\n",
        "cgroup.event_control": "",
    },
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
        "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 512\nTotal 4608\n",
        "blkio.throttle.io_serviced_recursive": "8:0 Read 2\n8:0 Write 1\nTotal 3\n",
        "blkio.bfq.weight": "100",
    },
    "pids": {"pids.max": "max", "pids.current": "1"},
    "systemd": {},
}

V2_FILES: dict[str, str] = {
    "cgroup.controllers": "cpuset cpu io memory pids",
    "cgroup.subtree_control": "",
    "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "memory.max": "max",
    "memory.low": "0",
    "memory.high": "max",
    "memory.swap.max": "max",
    "memory.current": "4096",
    "memory.peak": "8192",
    "memory.swap.current": "0",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n",
    "memory.stat": "anon 200\nfile 100\n",
    "cpu.weight": "100",
    "cpu.max": "max 100000",
    "cpu.stat": "usage_usec 10\nuser_usec 7\nsystem_usec 3\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
    "cpuset.cpus": "",
    "cpuset.mems": "",
    "cpuset.cpus.effective": "0-1",
    "cpuset.mems.effective": "0",
    "pids.max": "max",
    "pids.current": "1",
    "io.weight": "default 100",
    "io.max": "",
    "io.stat": "8:0 rbytes=4096 wbytes=512 rios=2 wios=1 dbytes=0 dios=0\n",
}

HYBRID_UNIFIED_FILES = {"cgroup.controllers": "", "cgroup.subtree_control": "", "cgroup.freeze": "0",
                        "cgroup.events": "populated 0\nfrozen 0\n"}


def _write_files(directory: str, files: dict[str, str]) -> None:
    os.makedirs(directory, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)
    for name in ("cgroup.procs",):
        open(os.path.join(directory, name), "a").close()


def build(root: str, mode: str, *, co_mount_cpu: bool = False) -> None:
    """Lay out a fake cgroup root: mode is "v1", "v2" or "hybrid"."""
    if mode == "v2":
        _write_files(root, V2_FILES)
        return
    for ctrl, files in V1_FILES.items():
        if co_mount_cpu and ctrl in ("cpu", "cpuacct"):
            continue
        root_files = dict(files)
        if ctrl == "cpuset":
            root_files = {"cpuset.cpus": "0-1", "cpuset.mems": "0"}
        _write_files(os.path.join(root, ctrl), root_files)
    if co_mount_cpu:
        both = {**V1_FILES["cpu"], **V1_FILES["cpuacct"]}
        _write_files(os.path.join(root, "cpu,cpuacct"), both)
        os.symlink("cpu,cpuacct", os.path.join(root, "cpu"))
        os.symlink("cpu,cpuacct", os.path.join(root, "cpuacct"))
    if mode == "hybrid":
        _write_files(os.path.join(root, "unified"), HYBRID_UNIFIED_FILES)


def populate(paths: dict[str, str], mode: str) -> None:
    """Create each cgroup dir of a manager with the files the kernel would put there."""
    for key, path in paths.items():
        if key == "unified":
            _write_files(path, V2_FILES if mode == "v2" else HYBRID_UNIFIED_FILES)
            continue
        name = key[len("name="):] if key.startswith("name=") else key
        files = dict(V1_FILES.get(name, {}))
        if os.path.exists(os.path.join(path, "cgroup.procs")):
            files = {k: v for k, v in files.items() if not os.path.exists(os.path.join(path, k))}
        _write_files(path, files)
