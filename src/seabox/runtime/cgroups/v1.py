"""cgroup v1 (and hybrid) manager: one directory per mounted hierarchy.

Limits go through the v1 controllers.  On a hybrid host the process also joins the
same path in the unified (cgroup2) hierarchy, which has no controllers there but is
what a cgroup namespace and systemd-style tools look at.  Freezing uses the v1
freezer when mounted, else the unified hierarchy's ``cgroup.freeze`` (a core file of
every non-root cgroup2 directory, controllers or not).

Device rules are written in order, as the kernel's own list semantics give exactly the
OCI meaning (later rules override earlier ones): a leading deny-all rule writes ``a``
to devices.deny (deny-by-default, no exceptions), then each rule adds an exception.
"""

from __future__ import annotations

import errno
import os
import time

from seabox.errdefs import FailedPrecondition, InvalidArgument, SeaboxError, subject
from seabox.runtime.cgroups import convert, fs
from seabox.runtime.cgroups.layout import Layout, inner_path, join, own_cgroups


class V1Manager:
    """The container's cgroup in every v1 hierarchy (plus the unified one on a hybrid host)."""

    device_rules_enforced = True

    def __init__(self, layout: Layout, cleaned: str, container_id: str, proc_cgroup: str) -> None:
        self.layout = layout
        self.container_id = container_id
        own = own_cgroups(proc_cgroup) if not cleaned.startswith("/") else {}
        self.paths: dict[str, str] = {}
        self._mounts: dict[str, str] = {}
        self._reals = dict(layout.real)  # mount → real path (filled lazily when detect did not)
        self._created = False
        for sub, mount in layout.v1.items():
            self.paths[sub] = join(mount, inner_path(cleaned, own.get(sub)))
            self._mounts[sub] = mount
        if layout.unified:
            self.paths["unified"] = join(layout.unified, inner_path(cleaned, own.get("unified"), v2=True))
            self._mounts["unified"] = layout.unified

    def use_paths(self, paths: dict[str, str]) -> None:
        """Adopt recorded directories (for the hierarchies this host still has)."""
        for key, path in paths.items():
            if key in self._mounts:
                self.paths[key] = path

    # -- directories -------------------------------------------------------------------

    def _unique(self) -> list[tuple[str, str, str]]:
        """(key, mount, dir) once per real directory (co-mounted controllers share one)."""
        seen: set[str] = set()
        out = []
        for key, path in self.paths.items():
            mount = self._mounts[key]
            rel = path[len(mount):].lstrip("/") if path.startswith(mount + "/") else os.path.relpath(path, mount)
            real = self._real(mount) + "/" + rel
            if real in seen:
                continue
            seen.add(real)
            out.append((key, self._mounts[key], path))
        return out

    def _real(self, mount: str) -> str:
        """The mount's real path (one realpath per mount: each costs an lstat per component)."""
        real = self._reals.get(mount)
        if real is None:
            real = self._reals[mount] = os.path.realpath(mount)
        return real

    def create(self) -> None:
        self._created = True
        for key, mount, path in self._unique():
            cpuset = key == "cpuset" or "cpuset" in os.path.basename(self._real(mount)).split(",")
            all_new = fs.make_dirs(mount, path, _cpuset_inherit if cpuset else None)
            if cpuset and not all_new:
                # Directories that existed already may still have empty cpus/mems.
                _cpuset_fill(path, mount)

    def apply(self, pid: int) -> None:
        if not self._created:
            self.create()
        for key, _mount, path in self._unique():
            try:
                fs.write(path, "cgroup.procs", pid)
            except SeaboxError as e:
                raise FailedPrecondition(subject("container", self.container_id, f"cannot join cgroup {key}: {e}"))

    def join_plan(self) -> tuple[list[str], str]:
        """How a process joins these cgroups itself (see ``seabox.runtime.create``): the v1
        ``tasks`` files it writes "0" to, and the unified directory its child is cloned into."""
        tasks, clone = [], ""
        for key, _mount, path in self._unique():
            if key == "unified":
                clone = path
            else:
                tasks.append(path + "/tasks")
        return tasks, clone

    def destroy(self) -> None:
        if self.state() == "frozen":  # (no freezer directory reads as thawed)
            # killed processes of a paused container only die once thawed
            try:  # (no contextlib: its import pulls in functools and collections)
                self.thaw()
            except SeaboxError:
                pass
        errors = []
        for _key, mount, path in self._unique():
            try:
                fs.remove_tree(path)
            except SeaboxError as e:
                errors.append(str(e))
                continue
            fs.prune_empty_parents(mount, path)
        if errors:
            raise FailedPrecondition(subject("container", self.container_id, "; ".join(errors)))

    # -- limits ------------------------------------------------------------------------

    def set(self, resources: dict) -> None:
        r = resources or {}
        if r.get("unified"):
            raise InvalidArgument(
                subject("container", self.container_id, "linux.resources.unified needs a cgroup v2 host")
            )
        self._set_memory(r.get("memory") or {})
        self._set_cpu(r.get("cpu") or {})
        pids = r.get("pids") or {}
        if "pids" in self.paths and pids.get("limit"):
            limit = pids["limit"]
            fs.write(self.paths["pids"], "pids.max", "max" if limit < 0 else limit)
        self._set_blkio(r.get("blockIO") or {})
        if "devices" in r and r["devices"] is not None:
            self._set_devices(r["devices"])
        if r.get("hugepageLimits"):
            fs.debug("hugepageLimits are ignored: seabox does not manage hugetlb")
        if r.get("network"):
            fs.debug("network classID/priorities are ignored: net_cls/net_prio are not managed")
        if r.get("rdma"):
            fs.debug("rdma limits are ignored")

    def _set_memory(self, m: dict) -> None:
        if not m:
            return
        d = self.paths.get("memory")
        if d is None:
            fs.warn(f'container "{self.container_id}": memory limits ignored: no memory controller mounted')
            return
        limit = m.get("limit")
        swap = m.get("swap")
        if limit == -1 and not swap:
            swap = -1  # unlimited memory and unset swap: unlimited memory+swap too (as runc)
        has_swap = fs.has(d, "memory.memsw.limit_in_bytes")
        if swap and not has_swap:
            fs.warn(f'container "{self.container_id}": swap limit ignored: the kernel has no swap accounting')
            swap = None
        if limit and swap:
            # memsw must stay >= limit at every moment: order the two writes accordingly.
            current = fs.read_int(d, "memory.limit_in_bytes")
            if swap == -1 or limit == -1 or limit > current:
                fs.write(d, "memory.memsw.limit_in_bytes", swap)
                fs.write(d, "memory.limit_in_bytes", limit)
            else:
                fs.write(d, "memory.limit_in_bytes", limit)
                fs.write(d, "memory.memsw.limit_in_bytes", swap)
        elif limit:
            try:
                fs.write(d, "memory.limit_in_bytes", limit)
            except InvalidArgument:
                if not has_swap or limit == -1:
                    raise
                # Raising the limit above an existing memsw limit: raise memsw with it.
                fs.write(d, "memory.memsw.limit_in_bytes", limit)
                fs.write(d, "memory.limit_in_bytes", limit)
        elif swap:
            fs.write(d, "memory.memsw.limit_in_bytes", swap)
        if m.get("reservation"):
            fs.write(d, "memory.soft_limit_in_bytes", m["reservation"])
        if m.get("kernel"):
            fs.debug("memory.kernel is ignored: kernel memory limits are deprecated")
        if m.get("kernelTCP"):
            fs.write(d, "memory.kmem.tcp.limit_in_bytes", m["kernelTCP"])
        if m.get("swappiness") is not None and 0 <= m["swappiness"] <= 100:
            fs.write(d, "memory.swappiness", m["swappiness"])
        if m.get("disableOOMKiller"):
            fs.write(d, "memory.oom_control", 1)

    def _set_cpu(self, c: dict) -> None:
        if not c:
            return
        d = self.paths.get("cpu")
        if d is not None:
            if c.get("shares"):
                fs.write(d, "cpu.shares", c["shares"])
            if c.get("period"):
                fs.write(d, "cpu.cfs_period_us", c["period"])
            if c.get("quota"):
                fs.write(d, "cpu.cfs_quota_us", c["quota"])
            if c.get("burst") is not None and fs.has(d, "cpu.cfs_burst_us"):
                fs.write(d, "cpu.cfs_burst_us", c["burst"])
            if c.get("realtimePeriod"):
                fs.write(d, "cpu.rt_period_us", c["realtimePeriod"])
            if c.get("realtimeRuntime"):
                fs.write(d, "cpu.rt_runtime_us", c["realtimeRuntime"])
            if c.get("idle") is not None and fs.has(d, "cpu.idle"):
                fs.write(d, "cpu.idle", c["idle"])
        elif any(c.get(k) for k in ("shares", "quota", "period")):
            fs.warn(f'container "{self.container_id}": cpu limits ignored: no cpu controller mounted')
        s = self.paths.get("cpuset")
        if s is not None:
            if c.get("cpus"):
                fs.write(s, "cpuset.cpus", c["cpus"])
            if c.get("mems"):
                fs.write(s, "cpuset.mems", c["mems"])
        elif c.get("cpus") or c.get("mems"):
            fs.warn(f'container "{self.container_id}": cpuset ignored: no cpuset controller mounted')

    def _set_blkio(self, b: dict) -> None:
        if not b:
            return
        d = self.paths.get("blkio")
        if d is None:
            fs.debug("blockIO ignored: no blkio controller mounted")
            return
        weight_file = "blkio.weight" if fs.has(d, "blkio.weight") else "blkio.bfq.weight"
        if b.get("weight"):
            if fs.has(d, weight_file):
                fs.write(d, weight_file, b["weight"])
            else:
                fs.debug("blockIO.weight ignored: no proportional I/O scheduler (cfq/bfq)")
        if b.get("leafWeight") and fs.has(d, "blkio.leaf_weight"):
            fs.write(d, "blkio.leaf_weight", b["leafWeight"])
        for dev in b.get("weightDevice") or []:
            if dev.get("weight") and fs.has(d, weight_file + "_device"):
                fs.write(d, weight_file + "_device", f"{dev['major']}:{dev['minor']} {dev['weight']}")
            elif dev.get("weight") and weight_file == "blkio.bfq.weight" and fs.has(d, weight_file):
                fs.write(d, weight_file, f"{dev['major']}:{dev['minor']} {dev['weight']}")
        for key, name in (
            ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
            ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
            ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
        ):
            for dev in b.get(key) or []:
                fs.write(d, name, f"{dev['major']}:{dev['minor']} {dev['rate']}")

    def _set_devices(self, rules: list[dict]) -> None:
        d = self.paths.get("devices")
        if d is None:
            fs.warn(f'container "{self.container_id}": device rules ignored: no devices controller mounted')
            return
        for rule in rules:
            line = convert.device_line(rule)
            fs.write(d, "devices.allow" if rule.get("allow") else "devices.deny", line)

    # -- freezer -----------------------------------------------------------------------

    def freeze(self) -> None:
        d = self.paths.get("freezer")
        if d is None:
            return self._v2_freeze(True)
        for i in range(1000):
            fs.write(d, "freezer.state", "FROZEN")
            if fs.read(d, "freezer.state") == "FROZEN":
                return
            time.sleep(0.001 if i < 100 else 0.01)
        fs.write(d, "freezer.state", "THAWED")
        raise FailedPrecondition(subject("container", self.container_id, "cannot be frozen (still FREEZING)"))

    def thaw(self) -> None:
        d = self.paths.get("freezer")
        if d is None:
            return self._v2_freeze(False)
        fs.write(d, "freezer.state", "THAWED")

    def state(self) -> str:
        d = self.paths.get("freezer")
        if d is None:
            u = self.paths.get("unified")
            return "frozen" if u and fs.read_or(u, "cgroup.freeze") == "1" else "thawed"
        return "frozen" if fs.read_or(d, "freezer.state") == "FROZEN" else "thawed"

    def _v2_freeze(self, on: bool) -> None:
        u = self.paths.get("unified")
        if u is None:
            raise FailedPrecondition(subject("container", self.container_id, "no freezer available"))
        from seabox.runtime.cgroups.v2 import wait_frozen

        fs.write(u, "cgroup.freeze", "1" if on else "0")
        wait_frozen(u, on, self.container_id)

    # -- reading -----------------------------------------------------------------------

    def pids(self) -> list[int]:
        for key in ("pids", "freezer", "memory", "cpu", "cpuacct", "devices", "name=systemd", "unified"):
            d = self.paths.get(key)
            if d and os.path.isdir(d):
                return sorted(set(fs.procs(d)))
        return []

    def stats(self) -> dict:
        from seabox.runtime.cgroups import stats

        return stats.v1(self.paths)

    def exists(self) -> bool:
        return any(os.path.isdir(p) for _k, _m, p in self._unique())


def _cpuset_inherit(parent: str, child: str) -> None:
    """A new v1 cpuset cgroup starts with empty cpus/mems: copy the parent's (as clone_children would)."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if fs.has(child, name) and not fs.read_or(child, name):
            value = fs.read_or(parent, name)
            if value:
                fs.write(child, name, value)


def _cpuset_fill(path: str, mount: str) -> None:
    chain = []
    p = path
    while os.path.normpath(p) != os.path.normpath(mount):
        chain.append(p)
        p = os.path.dirname(p)
    for child in reversed(chain):
        try:
            _cpuset_inherit(os.path.dirname(child), child)
        except SeaboxError as e:
            if isinstance(e.__context__, OSError) and e.__context__.errno == errno.EBUSY:
                continue
            raise
