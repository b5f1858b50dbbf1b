"""create + start + wait + delete of busybox ``true``: seabox-runc vs runc vs crun.

One prepared bundle (the host's static busybox as rootfs, a runc-spec-like config with
pid/ipc/uts/mount/network namespaces, the usual mounts, masked/readonly paths and a
cgroupsPath) is run by each runtime, interleaved (A B C, B C A, ...) by
``bench.harness.compare``: 3 warm-ups, then ``SEABOX_BENCH_RUNS`` (default 25) timed runs each.

One timed run is four commands: ``create --bundle B --pid-file P id``, ``start id``,
wait for the container's init to exit, ``delete id``.  The bench process is a child
subreaper (PR_SET_CHILD_SUBREAPER), so the container's init — orphaned when
``create`` returns — is re-parented to it and the wait is an exact ``waitpid``, not a
poll.  Each runtime keeps its state under its own temp ``--root``.

Run: ``.venv/bin/python -m bench.run runc_lifecycle`` (root).  JSON: bench/results/runc_lifecycle.json.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.harness import Contender, compare

REPO = Path(__file__).resolve().parents[1]
PR_SET_CHILD_SUBREAPER = 36


def make_bundle(bundle: Path, cgroup_prefix: str) -> None:
    from seabox.testing.bundle import make_busybox_rootfs

    make_busybox_rootfs(bundle / "rootfs")
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["true"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}], "pids": {"limit": 100}},
            "cgroupsPath": cgroup_prefix,  # each run appends its id (see _lifecycle)
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }  # fmt: skip
    (bundle / "config.json").write_text(json.dumps(config, indent=1))


VERBS = ("create", "start", "wait", "delete")


class Lifecycle:
    """One runtime's create/start/wait/delete of a fresh container id per call."""

    def __init__(
        self, label: str, binary: str, tmp: Path, bundle: Path, preexec: Callable[[], None] | None = None
    ) -> None:
        self.label = label
        self.binary = binary
        self.extra: list[str] = []
        self.preexec = preexec or _nothing
        self.root = tmp / f"state-{label}"
        self.root.mkdir()
        self.bundle = bundle
        self.tmp = tmp
        self.n = 0

    def _cmd(self, *args: str) -> None:
        # stderr goes to a file, not a pipe: `create` hands its stdio to the container's
        # init, which would hold a pipe open until it exits (and `run` would never return).
        with open(self.tmp / f"{self.label}.err", "w+b") as err:
            res = subprocess.run([self.binary, *self.extra, "--root", str(self.root), *args], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err, preexec_fn=self.preexec)  # fmt: skip
            if res.returncode != 0:
                err.seek(0)
                msg = err.read().decode(errors="replace")[-400:]
                raise RuntimeError(f"{self.label} {' '.join(args)} exited {res.returncode}: {msg}")

    def __call__(self) -> None:
        self.timed()

    def timed(self) -> dict[str, float]:
        """One lifecycle; the milliseconds of each step (``VERBS``)."""
        self.n += 1
        cid = f"sbt-bench-{self.label}-{self.n}"
        pid_file = self.tmp / f"{cid}.pid"
        t0 = time.perf_counter()
        self._cmd("create", "--bundle", str(self.bundle), "--pid-file", str(pid_file), cid)
        t1 = time.perf_counter()
        pid = int(pid_file.read_text())
        self._cmd("start", cid)
        t2 = time.perf_counter()
        os.waitpid(pid, 0)  # we are the subreaper: the orphaned init is our child now
        t3 = time.perf_counter()
        self._cmd("delete", cid)
        t4 = time.perf_counter()
        pid_file.unlink()
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:  # any other orphan the runtime left
                pass
        return dict(zip(VERBS, ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3), strict=True))

    def cleanup(self) -> None:
        for d in self.root.iterdir() if self.root.exists() else []:
            subprocess.run(
                [self.binary, *self.extra, "--root", str(self.root), "delete", "--force", d.name],
                capture_output=True, preexec_fn=self.preexec,
            )  # fmt: skip


def prepare_host(name: str) -> None:
    """Root, the bench process as child subreaper, and seabox byte-compiled (untimed)."""
    if os.geteuid() != 0:
        print(f"{name}: needs root", file=sys.stderr)
        raise SystemExit(2)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    # Untimed: byte-compile seabox once, as an installed package is.  Without this, a shell
    # with PYTHONDONTWRITEBYTECODE=1 makes every seabox-runc command recompile its modules.
    import compileall

    compileall.compile_dir(str(REPO / "src" / "seabox"), quiet=1)


@contextlib.contextmanager
def lifecycles() -> Iterator[list[tuple[Lifecycle, Callable[[], None]]]]:
    """seabox-runc, runc and crun, each with its own bundle (same content) and state root in a
    temp dir, paired with its untimed per-run step (a fresh cgroupsPath); all removed after."""
    prefix = f"sbt-{secrets.token_hex(3)}"
    runtimes: list[tuple[str, str, Callable[[], None] | None]] = [
        ("seabox-runc", str(REPO / ".venv" / "bin" / "seabox-runc"), None),
        ("runc", shutil.which("runc") or "/usr/sbin/runc", None),
        ("crun", shutil.which("crun") or "/usr/bin/crun", _crun_preexec()),
    ]
    with tempfile.TemporaryDirectory(prefix="sbt-bench-") as t:
        tmp = Path(t)
        out = []
        for label, binary, preexec in runtimes:
            bundle = tmp / f"bundle-{label}"
            make_bundle(bundle, f"/{prefix}-{label}")
            lc = Lifecycle(label, binary, tmp, bundle, preexec)
            out.append((lc, _per_run_cgroup(bundle, prefix, label, lc)))
        try:
            yield out
        finally:
            for lc, _ in out:
                lc.cleanup()
            for label, _, _ in runtimes:
                for cg in Path("/sys/fs/cgroup").glob(f"*/{prefix}-{label}*"):
                    with contextlib.suppress(OSError):
                        os.rmdir(cg)


def main() -> None:
    prepare_host("runc_lifecycle")
    runs = int(os.environ.get("SEABOX_BENCH_RUNS", "25"))
    with lifecycles() as pairs:
        contenders = [Contender(lc.label, lc, before=before) for lc, before in pairs]
        compare("runc_lifecycle", contenders, runs=runs, warmup=3, baseline="runc")


def _nothing() -> None:
    """The preexec of runc and seabox-runc: every runtime is spawned the same way (fork+exec)."""


def _crun_preexec() -> Callable[[], None] | None:
    """crun 1.8 refuses a hybrid host whose cgroup2 lists any controller ("cgroups in hybrid
    mode not supported, drop all controllers from cgroupv2"; here: hugetlb), even with
    --cgroup-manager=disabled.  Each crun command therefore runs in a private mount
    namespace with a tmpfs over /sys/fs/cgroup/unified: crun sees a plain v1 host and still
    does its cgroup work in the real v1 hierarchies.  The unshare is charged to crun."""
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if not unified.exists() or not unified.read_text().strip():
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def mask() -> None:
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
            os._exit(90)
        if libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
            os._exit(91)
        if libc.mount(b"tmpfs", b"/sys/fs/cgroup/unified", b"tmpfs", 0, None) != 0:
            os._exit(92)

    return mask


def _per_run_cgroup(bundle: Path, prefix: str, label: str, lc: Lifecycle):  # type: ignore[no-untyped-def]
    """Untimed, before each run: give the next container its own single-level cgroupsPath."""
    cfg_path = bundle / "config.json"

    def before() -> None:
        cfg = json.loads(cfg_path.read_text())
        cfg["linux"]["cgroupsPath"] = f"/{prefix}-{label}-{lc.n + 1}"
        cfg_path.write_text(json.dumps(cfg, indent=1))

    return before


if __name__ == "__main__":
    main()
