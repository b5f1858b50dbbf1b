"""Statistics in the shape of runc's ``events --stats`` "data" object.

containerd and docker read these field names (cpu.usage.total, memory.usage.usage,
pids.current, blkio.ioServiceBytesRecursive ...), so both the v1 and v2 readers fill
the same dict; a controller that is not mounted leaves its section at zero.
"""

from __future__ import annotations

from seabox.runtime.cgroups import fs

USER_HZ = 100
MAX_U64 = 2**64 - 1


def empty() -> dict:
    return {
        "cpu": {
            "usage": {"total": 0, "percpu": [], "percpu_kernel": [], "percpu_user": [], "kernel": 0, "user": 0},
            "throttling": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "cpuset": {"cpus": [], "mems": []},
        "memory": {
            "cache": 0,
            "usage": _mem_entry(),
            "swap": _mem_entry(),
            "kernel": _mem_entry(),
            "kernelTCP": _mem_entry(),
            "raw": {},
        },
        "pids": {"current": 0, "limit": 0},
        "blkio": {
            "ioServiceBytesRecursive": [],
            "ioServicedRecursive": [],
            "ioQueuedRecursive": [],
            "ioServiceTimeRecursive": [],
            "ioWaitTimeRecursive": [],
            "ioMergedRecursive": [],
            "ioTimeRecursive": [],
            "sectorsRecursive": [],
        },
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": [],
    }


def _mem_entry(limit: int = 0, usage: int = 0, max_: int = 0, failcnt: int = 0) -> dict:
    return {"limit": limit, "usage": usage, "max": max_, "failcnt": failcnt}


def parse_list(text: str) -> list[int]:
    """A cpuset list such as ``0-2,5`` → [0, 1, 2, 5]."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split() if x.isdigit()]


def _blkio_entries(text: str) -> list[dict]:
    """v1 blkio ``8:0 Read 4096`` lines (the ``Total`` line is dropped, as runc does)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":", 1)
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
        elif len(parts) == 2 and ":" in parts[0]:
            major, minor = parts[0].split(":", 1)
            out.append({"major": int(major), "minor": int(minor), "op": "", "value": int(parts[1])})
    return out


def v1(paths: dict[str, str]) -> dict:
    data = empty()
    cpuacct = paths.get("cpuacct")
    if cpuacct:
        usage = data["cpu"]["usage"]
        usage["total"] = fs.read_int(cpuacct, "cpuacct.usage")
        usage["percpu"] = _ints(fs.read_or(cpuacct, "cpuacct.usage_percpu"))
        usage["percpu_kernel"] = _ints(fs.read_or(cpuacct, "cpuacct.usage_percpu_sys"))
        usage["percpu_user"] = _ints(fs.read_or(cpuacct, "cpuacct.usage_percpu_user"))
        ticks = fs.read_keyed(cpuacct, "cpuacct.stat")
        usage["user"] = ticks.get("user", 0) * 1_000_000_000 // USER_HZ
        usage["kernel"] = ticks.get("system", 0) * 1_000_000_000 // USER_HZ
    cpu = paths.get("cpu")
    if cpu:
        st = fs.read_keyed(cpu, "cpu.stat")
        data["cpu"]["throttling"] = {
            "periods": st.get("nr_periods", 0),
            "throttled_periods": st.get("nr_throttled", 0),
            "throttled_time": st.get("throttled_time", 0),
        }
    cpuset = paths.get("cpuset")
    if cpuset:
        data["cpuset"]["cpus"] = parse_list(fs.read_or(cpuset, "cpuset.cpus"))
        data["cpuset"]["mems"] = parse_list(fs.read_or(cpuset, "cpuset.mems"))
    mem = paths.get("memory")
    if mem:
        m = data["memory"]
        for key, prefix in (("usage", "memory"), ("swap", "memory.memsw"), ("kernel", "memory.kmem"),
                            ("kernelTCP", "memory.kmem.tcp")):
            m[key] = _mem_entry(
                limit=fs.read_int(mem, f"{prefix}.limit_in_bytes"),
                usage=fs.read_int(mem, f"{prefix}.usage_in_bytes"),
                max_=fs.read_int(mem, f"{prefix}.max_usage_in_bytes"),
                failcnt=fs.read_int(mem, f"{prefix}.failcnt"),
            )
        raw = fs.read_keyed(mem, "memory.stat")
        m["raw"] = raw
        m["cache"] = raw.get("total_cache", raw.get("cache", 0))
    pids = paths.get("pids")
    if pids:
        data["pids"] = {"current": fs.read_int(pids, "pids.current"), "limit": fs.read_int(pids, "pids.max")}
    blkio = paths.get("blkio")
    if blkio:
        b = data["blkio"]
        # The cfq/bfq files count what the scheduler saw; the throttle files always exist.
        for key, names in (
            ("ioServiceBytesRecursive", ("blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive")),
            ("ioServicedRecursive", ("blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive")),
            ("ioQueuedRecursive", ("blkio.io_queued_recursive",)),
            ("ioServiceTimeRecursive", ("blkio.io_service_time_recursive",)),
            ("ioWaitTimeRecursive", ("blkio.io_wait_time_recursive",)),
            ("ioMergedRecursive", ("blkio.io_merged_recursive",)),
            ("ioTimeRecursive", ("blkio.time_recursive",)),
            ("sectorsRecursive", ("blkio.sectors_recursive",)),
        ):
            for name in names:
                if fs.has(blkio, name):
                    b[key] = _blkio_entries(fs.read_or(blkio, name))
                    break
    return data


def v2(path: str) -> dict:
    data = empty()
    st = fs.read_keyed(path, "cpu.stat")
    usage = data["cpu"]["usage"]
    usage["total"] = st.get("usage_usec", 0) * 1000
    usage["user"] = st.get("user_usec", 0) * 1000
    usage["kernel"] = st.get("system_usec", 0) * 1000
    data["cpu"]["throttling"] = {
        "periods": st.get("nr_periods", 0),
        "throttled_periods": st.get("nr_throttled", 0),
        "throttled_time": st.get("throttled_usec", 0) * 1000,
    }
    if fs.has(path, "cpuset.cpus.effective"):
        data["cpuset"]["cpus"] = parse_list(fs.read_or(path, "cpuset.cpus.effective"))
        data["cpuset"]["mems"] = parse_list(fs.read_or(path, "cpuset.mems.effective"))
    if fs.has(path, "memory.current"):
        m = data["memory"]
        events = fs.read_keyed(path, "memory.events")
        m["usage"] = _mem_entry(
            limit=fs.read_int(path, "memory.max", MAX_U64),
            usage=fs.read_int(path, "memory.current"),
            max_=fs.read_int(path, "memory.peak"),
            failcnt=events.get("max", 0),
        )
        if fs.has(path, "memory.swap.current"):
            # runc reports swap as memory+swap, the v1 meaning.
            swap_max = fs.read_int(path, "memory.swap.max", MAX_U64)
            mem_max = m["usage"]["limit"]
            m["swap"] = _mem_entry(
                limit=MAX_U64 if MAX_U64 in (swap_max, mem_max) else swap_max + mem_max,
                usage=fs.read_int(path, "memory.swap.current") + m["usage"]["usage"],
                max_=fs.read_int(path, "memory.swap.peak"),
                failcnt=fs.read_keyed(path, "memory.swap.events").get("max", 0),
            )
        raw = fs.read_keyed(path, "memory.stat")
        m["raw"] = raw
        m["cache"] = raw.get("file", 0)
    if fs.has(path, "pids.current"):
        data["pids"] = {"current": fs.read_int(path, "pids.current"), "limit": fs.read_int(path, "pids.max")}
    if fs.has(path, "io.stat"):
        rbytes: list[dict] = []
        rios: list[dict] = []
        for line in fs.read_or(path, "io.stat").splitlines():
            parts = line.split()
            if not parts or ":" not in parts[0]:
                continue
            major, minor = (int(x) for x in parts[0].split(":", 1))
            kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            for op, key in (("Read", "rbytes"), ("Write", "wbytes")):
                rbytes.append({"major": major, "minor": minor, "op": op, "value": int(kv.get(key, 0))})
            for op, key in (("Read", "rios"), ("Write", "wios")):
                rios.append({"major": major, "minor": minor, "op": op, "value": int(kv.get(key, 0))})
        data["blkio"]["ioServiceBytesRecursive"] = rbytes
        data["blkio"]["ioServicedRecursive"] = rios
    return data
