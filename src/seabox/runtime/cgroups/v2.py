"""cgroup v2 (pure unified host) manager: one directory, v2 interface files.

Controllers must be enabled top-down: every ancestor's ``cgroup.subtree_control``
gets ``+memory +cpu ...`` for the controllers it offers, or the leaf has no limit
files.  An ancestor that holds processes refuses (the "no internal processes" rule);
that is logged and the limits it would have carried then fail with a clear error.

OCI resources are v1-shaped and translated in ``convert`` (shares → cpu.weight,
memory+swap → memory.swap.max, blkio weight → io.weight).

Device rules: on v2 the kernel filters device access only through an eBPF program of
type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup; ``devicefilter`` compiles the
OCI rule list into one and attaches it (replacing the previous one on ``update``).  A
host that refuses the program (no CAP_BPF/CAP_SYS_ADMIN, an ancestor that forbids
attaching) fails ``set`` rather than run the container unguarded.
"""

from __future__ import annotations

import os
import time

from seabox.errdefs import FailedPrecondition, InvalidArgument, SeaboxError, subject
from seabox.runtime.cgroups import convert, fs
from seabox.runtime.cgroups.layout import Layout, inner_path, join, own_cgroups

CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids", "hugetlb", "rdma", "misc")


class V2Manager:
    device_rules_enforced = True

    def __init__(self, layout: Layout, cleaned: str, container_id: str, proc_cgroup: str) -> None:
        assert layout.unified is not None
        self.layout = layout
        self.container_id = container_id
        self.mount = layout.unified
        own = own_cgroups(proc_cgroup).get("unified") if not cleaned.startswith("/") else None
        self.path = join(self.mount, inner_path(cleaned, own, v2=True))
        self.paths: dict[str, str] = {"unified": self.path}
        self._created = False

    def use_paths(self, paths: dict[str, str]) -> None:
        if paths.get("unified"):
            self.path = paths["unified"]
            self.paths = {"unified": self.path}

    def create(self) -> None:
        self._created = True
        fs.make_dirs(self.mount, self.path)
        chain = []
        p = os.path.dirname(self.path)
        while True:
            chain.append(p)
            if os.path.normpath(p) == os.path.normpath(self.mount):
                break
            p = os.path.dirname(p)
        for d in reversed(chain):
            available = fs.read_or(d, "cgroup.controllers").split()
            enabled = set(fs.read_or(d, "cgroup.subtree_control").split())
            for c in CONTROLLERS:
                if c in available and c not in enabled:
                    try:
                        fs.write(d, "cgroup.subtree_control", f"+{c}")
                    except SeaboxError as e:
                        fs.debug(f"cannot enable controller {c} in {d}: {e}")

    def apply(self, pid: int) -> None:
        if not self._created:
            self.create()
        try:
            fs.write(self.path, "cgroup.procs", pid)
        except SeaboxError as e:
            raise FailedPrecondition(subject("container", self.container_id, f"cannot join its cgroup: {e}"))

    def join_plan(self) -> tuple[list[str], str]:
        """No v1 ``tasks`` files; the directory a process's child is cloned into (see V1Manager)."""
        return [], self.path

    def destroy(self) -> None:
        if self.exists() and self.state() == "frozen":
            # killed processes of a paused container only die once thawed
            try:  # (no contextlib: its import pulls in functools and collections)
                fs.write(self.path, "cgroup.freeze", "0")
            except SeaboxError:
                pass
        try:
            fs.remove_tree(self.path)
        except SeaboxError as e:
            raise FailedPrecondition(subject("container", self.container_id, str(e)))
        fs.prune_empty_parents(self.mount, self.path)

    def set(self, resources: dict) -> None:
        r = resources or {}
        d = self.path
        m = r.get("memory") or {}
        if m:
            limit = m.get("limit")
            swap = convert.swap_v2(m.get("swap"), limit)
            if swap is not None:
                if fs.has(d, "memory.swap.max"):
                    fs.write(d, "memory.swap.max", convert.limit_text(swap))
                elif swap != -1:
                    fs.warn(f'container "{self.container_id}": swap limit ignored: no memory.swap.max')
            if limit:
                fs.write(d, "memory.max", convert.limit_text(limit))
            if m.get("reservation"):
                fs.write(d, "memory.low", convert.limit_text(m["reservation"]))
            if m.get("kernel") or m.get("kernelTCP"):
                fs.debug("memory.kernel/kernelTCP are ignored on cgroup v2")
            if m.get("disableOOMKiller"):
                fs.warn(f'container "{self.container_id}": disableOOMKiller is not supported on cgroup v2')
        c = r.get("cpu") or {}
        if c:
            weight = convert.shares_to_weight(c.get("shares") or 0)
            if weight:
                fs.write(d, "cpu.weight", weight)
            line = convert.cpu_max(c.get("quota"), c.get("period"))
            if line:
                fs.write(d, "cpu.max", line)
            if c.get("burst") is not None and fs.has(d, "cpu.max.burst"):
                fs.write(d, "cpu.max.burst", c["burst"])
            if c.get("idle") is not None and fs.has(d, "cpu.idle"):
                fs.write(d, "cpu.idle", c["idle"])
            if c.get("cpus"):
                fs.write(d, "cpuset.cpus", c["cpus"])
            if c.get("mems"):
                fs.write(d, "cpuset.mems", c["mems"])
            if c.get("realtimeRuntime") or c.get("realtimePeriod"):
                fs.debug("realtime cpu settings are ignored on cgroup v2")
        p = r.get("pids") or {}
        if p.get("limit"):
            fs.write(d, "pids.max", convert.limit_text(p["limit"]))
        self._set_io(r.get("blockIO") or {})
        if r.get("devices") is not None:
            from seabox.runtime.cgroups import devicefilter

            devicefilter.attach(d, devicefilter.compile_rules(r["devices"]))
        if r.get("hugepageLimits"):
            fs.debug("hugepageLimits are ignored: seabox does not manage hugetlb")
        if r.get("network"):
            fs.debug("network classID/priorities are ignored on cgroup v2")
        for key, value in (r.get("unified") or {}).items():
            if "/" in key or key.startswith("."):
                raise InvalidArgument(subject("linux.resources.unified key", key, "is not a cgroup file name"))
            fs.write(d, key, value)

    def _set_io(self, b: dict) -> None:
        if not b:
            return
        d = self.path
        bfq = fs.has(d, "io.bfq.weight")
        weight_file = "io.bfq.weight" if bfq else "io.weight"
        if b.get("weight"):
            # io.bfq.weight takes the blkio range (1-1000) as is; io.weight needs converting.
            value = b["weight"] if bfq else convert.blkio_weight_to_io_weight(b["weight"])
            if fs.has(d, weight_file):
                fs.write(d, weight_file, f"default {value}")
            else:
                fs.debug("blockIO.weight ignored: no io.weight on this host")
        for dev in b.get("weightDevice") or []:
            if dev.get("weight") and fs.has(d, weight_file):
                value = dev["weight"] if bfq else convert.blkio_weight_to_io_weight(dev["weight"])
                fs.write(d, weight_file, f"{dev['major']}:{dev['minor']} {value}")
        for key, name in (
            ("throttleReadBpsDevice", "rbps"),
            ("throttleWriteBpsDevice", "wbps"),
            ("throttleReadIOPSDevice", "riops"),
            ("throttleWriteIOPSDevice", "wiops"),
        ):
            for dev in b.get(key) or []:
                rate = dev["rate"] if dev["rate"] else "max"
                fs.write(d, "io.max", f"{dev['major']}:{dev['minor']} {name}={rate}")

    def freeze(self) -> None:
        fs.write(self.path, "cgroup.freeze", "1")
        wait_frozen(self.path, True, self.container_id)

    def thaw(self) -> None:
        fs.write(self.path, "cgroup.freeze", "0")
        wait_frozen(self.path, False, self.container_id)

    def state(self) -> str:
        return "frozen" if fs.read_or(self.path, "cgroup.freeze") == "1" else "thawed"

    def pids(self) -> list[int]:
        return sorted(set(fs.procs(self.path))) if os.path.isdir(self.path) else []

    def stats(self) -> dict:
        from seabox.runtime.cgroups import stats

        return stats.v2(self.path)

    def exists(self) -> bool:
        return os.path.isdir(self.path)


def wait_frozen(path: str, on: bool, container_id: str) -> None:
    """Wait until cgroup.events says ``frozen 1`` (or 0): freezing is asynchronous."""
    want = 1 if on else 0
    for i in range(1000):
        events = fs.read_keyed(path, "cgroup.events")
        if events.get("frozen", want) == want:
            return
        time.sleep(0.001 if i < 100 else 0.01)
    if on:
        fs.write(path, "cgroup.freeze", "0")
    raise FailedPrecondition(subject("container", container_id, f"cgroup {path} did not {'freeze' if on else 'thaw'}"))
