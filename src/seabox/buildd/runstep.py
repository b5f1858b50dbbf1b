"""RUN: one process in the step's rootfs, through ``seabox-runc run``.

Each RUN gets a fresh OCI bundle whose ``root.path`` is the already-mounted active
snapshot, so the process's writes land in the snapshot's upper dir and become the
step's layer.  The spec is the runtime's default (``seabox.testing.bundle.default_spec``:
proc, dev, devpts, shm, mqueue, sysfs, masked paths, default capabilities) with the
step's argv, env, cwd and user, and *no network namespace*: RUN shares the host
network, as ``docker build --network=host`` does — no per-step CNI setup, and
package managers reach the same mirrors the host does (``RUN --network=none`` gets a
network namespace of its own with only loopback).  The host's resolv.conf
and a small hosts file are bind-mounted read-only over the image's own (when it has them).  ``--mount`` options become
bind mounts: cache dirs (persistent under buildd's root), context/stage binds
(read-only), secrets (a file on buildd's tmpfs state dir) and tmpfs.  Mount
targets the process did not have before are removed again so they do not end up
in the layer.  Output lines are handed to ``on_line`` as they arrive.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seabox import errdefs
from seabox.buildd.fsops import mkdir_p, resolve_in_root


@dataclass
class BindSpec:
    source: str
    target: str
    readonly: bool = False
    tmpfs: bool = False
    file: bool = False


@dataclass
class RunRequest:
    rootfs: str
    argv: list[str]
    env: list[str]
    cwd: str
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    binds: list[BindSpec] = field(default_factory=list)
    hostname: str = "buildkitsandbox"
    network: str = "default"  # default/host: the host's network; none: a network namespace with only lo


def runc_command() -> list[str]:
    exe = shutil.which("seabox-runc", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "seabox.cli.runc"]


def _spec(req: RunRequest, bundle: Path) -> dict[str, object]:
    """The step's OCI config: containerd's default capabilities (what a RUN step gets under
    docker build and BuildKit), runc's default mounts without /sys/fs/cgroup."""
    from seabox.oci import spec_defaults as sd

    spec = sd.default_spec(
        oci_version="1.0.2",
        caps=sd.CONTAINERD_CAPS,
        cap_sets=sd.CONTAINERD_CAP_SETS,
        namespace_types=("pid", "network", "ipc", "uts", "mount"),
        mounts=sd.default_mounts(proc_options=False, cgroup=False, run=False),
        args=req.argv,
        env=req.env,
        terminal=False,
        root_readonly=False,
        hostname=req.hostname,
    )
    proc = spec["process"]
    assert isinstance(proc, dict)
    proc["cwd"] = req.cwd or "/"
    user: dict[str, object] = {"uid": req.uid, "gid": req.gid}
    if req.additional_gids:
        user["additionalGids"] = req.additional_gids
    proc["user"] = user
    proc["noNewPrivileges"] = False
    spec["root"] = {"path": req.rootfs, "readonly": False}
    linux = spec["linux"]
    assert isinstance(linux, dict)
    mounts = spec["mounts"]
    assert isinstance(mounts, list)
    if req.network != "none":
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
        # host network: sysfs cannot be mounted fresh outside a netns of our own; bind the host's read-only
        for m in mounts:
            if m["destination"] == "/sys":
                m.update({"type": "bind", "source": "/sys", "options": ["rbind", "ro", "nosuid", "noexec", "nodev"]})
    for b in req.binds:
        if b.tmpfs:
            mounts.append({"destination": b.target, "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev", "mode=1777"]})
        else:
            opts = ["rbind", "ro" if b.readonly else "rw"]
            mounts.append({"destination": b.target, "type": "bind", "source": b.source, "options": opts})
    return spec


def _prepare_targets(req: RunRequest) -> list[str]:
    """Create mount targets that are missing in the rootfs; return those created (to remove afterwards)."""
    created: list[str] = []
    for b in req.binds:
        host = resolve_in_root(req.rootfs, b.target)
        if os.path.lexists(host):
            continue
        # create the topmost missing component and remember it
        parts = [p for p in b.target.split("/") if p]
        cur = ""
        for p in parts:
            cur += "/" + p
            if not os.path.lexists(resolve_in_root(req.rootfs, cur)):
                created.append(cur)
                break
        if b.file:
            mkdir_p(req.rootfs, os.path.dirname(b.target))
            open(host, "w").close()
        else:
            mkdir_p(req.rootfs, b.target)
    # /etc/hosts and /etc/resolv.conf are bound only over files the image has: creating
    # them would touch /etc and put it in the layer
    return created


def _remove(rootfs: str, created: list[str]) -> None:
    for path in reversed(created):
        host = resolve_in_root(rootfs, path, follow_last=False)
        if os.path.isdir(host) and not os.path.islink(host):
            shutil.rmtree(host, ignore_errors=True)
        elif os.path.lexists(host):
            os.unlink(host)


def run(req: RunRequest, *, work: Path, runc_root: Path, cid: str, on_line: Callable[[str], None],
        cancel: threading.Event | None = None) -> int:
    """Run the process; returns its exit code (the caller turns non-zero into Docker's message).

    Setting ``cancel`` kills the container (the client went away): ``run`` then returns.
    """
    bundle = work / cid
    bundle.mkdir(parents=True)
    etc: dict[str, str] = {}
    if os.path.exists("/etc/resolv.conf"):
        etc["/etc/resolv.conf"] = os.path.realpath("/etc/resolv.conf")
    hosts = bundle / "hosts"
    hosts.write_text(f"127.0.0.1\tlocalhost {req.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    etc["/etc/hosts"] = str(hosts)
    created = _prepare_targets(req)
    try:
        spec = _spec(req, bundle)
        mounts = spec["mounts"]
        assert isinstance(mounts, list)
        for target, src in etc.items():
            if os.path.lexists(resolve_in_root(req.rootfs, target)):
                mounts.append({"destination": target, "type": "bind", "source": src, "options": ["rbind", "ro"]})
        (bundle / "config.json").write_text(json.dumps(spec))
        cmd = [*runc_command(), "--root", str(runc_root), "run", "--bundle", str(bundle), cid]
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        except OSError as e:
            raise errdefs.Unavailable(errdefs.subject("runtime", "seabox-runc", f"cannot start: {e}")) from None
        assert p.stdout is not None
        finished = threading.Event()

        def watch() -> None:
            assert cancel is not None
            while not finished.is_set():
                if cancel.wait(0.2):
                    subprocess.run([*runc_command(), "--root", str(runc_root), "kill", cid, "KILL"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                    return

        watcher = threading.Thread(target=watch, daemon=True) if cancel is not None else None
        if watcher is not None:
            watcher.start()
        for raw in p.stdout:
            on_line(raw.decode("utf-8", "replace").rstrip("\n"))
        code = p.wait()
        finished.set()
        if (runc_root / cid).exists():  # `run` deletes its container; only a crashed run leaves one
            subprocess.run([*runc_command(), "--root", str(runc_root), "delete", "--force", cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return code
    finally:
        _remove(req.rootfs, created)
        shutil.rmtree(bundle, ignore_errors=True)
