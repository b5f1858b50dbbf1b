"""Busybox root filesystems and OCI bundles for the runtime's tests, made in milliseconds.

The runtime's root tests need a rootfs and a config.json many times over; pulling and
unpacking an image for each would make them slow and would make the runtime's tests depend
on the image code.  So the rootfs is made straight from the host's static busybox
(Debian's busybox-static, /bin/busybox) with the same layout as the ``busybox`` fixture image
that tools/fixtures.py builds with umoci: /bin/busybox, one symlink per applet, /etc/passwd
and /etc/group with root and nobody (65534), /tmp 1777, and empty /proc /sys /dev mount points.
It needs no root and writes only under the given directory.

The bundle's config.json follows what ``runc spec`` (runc 1.1) writes: pid, network, ipc, uts
and mount namespaces; proc, /dev tmpfs, devpts, shm, mqueue, sysfs and cgroup mounts; the
three default capabilities; runc's masked and read-only paths; RLIMIT_NOFILE 1024 (the
values of :mod:`seabox.oci.spec_defaults`).  It differs where tests need it to:
``process.terminal`` is false (tests have no tty), ``root.readonly`` is false (tests write
files), and the hostname is ``seabox``.

``fd_at`` hands a runtime an extra fd at a fixed number (``--preserve-fds``) without losing
what the test process had there: under pytest, fd 3 is pytest's saved copy of stdin, and
closing it makes pytest fail at exit (``os.dup2(saved, 0)``: Bad file descriptor).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.oci import spec_defaults

HOST_BUSYBOX = Path("/bin/busybox")
DEFAULT_PATH = spec_defaults.DEFAULT_PATH

# directory -> mode, as in the fixture image
_DIRS: tuple[tuple[str, int], ...] = (
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o555),
    ("root", 0o700),
    ("run", 0o755),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("var", 0o755),
    ("var/tmp", 0o1777),
)

_FILES: dict[str, tuple[str, int]] = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    ),
    "etc/group": ("root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n", 0o644),
    "etc/shadow": ("root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o640),
    "etc/hostname": ("busybox\n", 0o644),
    "etc/hosts": ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644),
}

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le"}

DEFAULT_CAPABILITIES: tuple[str, ...] = spec_defaults.RUNC_CAPS
MASKED_PATHS: tuple[str, ...] = spec_defaults.MASKED_PATHS
READONLY_PATHS: tuple[str, ...] = spec_defaults.READONLY_PATHS


@functools.cache
def busybox_applets(busybox: Path = HOST_BUSYBOX) -> tuple[str, ...]:
    """The applet names ``busybox --list`` prints (run once per process)."""
    if not busybox.is_file():
        raise errdefs.NotFound(
            errdefs.subject("busybox", str(busybox), "not found (apt-get install busybox-static)")
        )
    out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout
    return tuple(sorted({a for a in out.split() if a and "/" not in a and a != "busybox"}))


def make_busybox_rootfs(dest: Path, busybox: Path = HOST_BUSYBOX) -> Path:
    """Fill ``dest`` (created if missing) with a busybox root filesystem; return ``dest``.

    Same layout as the fixture image: /bin/busybox (a copy of ``busybox``), a relative symlink
    /bin/<applet> -> busybox for every applet, /etc/passwd and /etc/group with root and nobody
    (uid/gid 65534, group also named nogroup), /etc/seabox-fixture naming the platform, and the
    usual directories (/tmp and /var/tmp mode 1777, /root 0700, empty /proc /sys /dev).
    """
    applets = busybox_applets(busybox)
    dest.mkdir(parents=True, exist_ok=True)
    for rel, mode in _DIRS:
        d = dest / rel
        d.mkdir(exist_ok=True)
        os.chmod(d, mode)
    target = dest / "bin" / "busybox"
    shutil.copyfile(busybox, target)
    os.chmod(target, 0o755)
    bindir = dest / "bin"
    for applet in applets:
        link = bindir / applet
        if not link.is_symlink() and not link.exists():
            os.symlink("busybox", link)
    files = dict(_FILES)
    arch = _GOARCH.get(platform.machine(), platform.machine())
    files["etc/seabox-fixture"] = (f"busybox linux/{arch}\n", 0o644)
    for rel, (text, mode) in files.items():
        path = dest / rel
        path.write_text(text)
        os.chmod(path, mode)
    return dest


def default_spec(args: list[str]) -> dict[str, Any]:
    """A runc-spec-like OCI runtime config (a fresh dict) running ``args``."""
    return spec_defaults.default_spec(
        oci_version="1.0.2",
        caps=DEFAULT_CAPABILITIES,
        cap_sets=spec_defaults.RUNC_CAP_SETS,
        namespace_types=("pid", "network", "ipc", "uts", "mount"),  # runc's but for cgroup
        mounts=spec_defaults.default_mounts(proc_options=False, cgroup=True, run=False),
        args=args,
        env=[DEFAULT_PATH, spec_defaults.TERM_ENV],
        terminal=False,
        root_readonly=False,
        hostname="seabox",
    )


def make_bundle(dest: Path, args: list[str], **overrides: Any) -> Path:
    """Write an OCI bundle at ``dest`` running ``args``; return ``dest``.

    ``dest/config.json`` is :func:`default_spec` with ``overrides`` applied as a shallow merge:
    every key replaces the top-level key of the same name (``hostname="x"``, ``linux={...}``,
    ``mounts=[...]``), except ``process``, whose keys replace keys of ``process`` one by one
    (``process={"terminal": True, "user": {"uid": 65534, "gid": 65534}}`` keeps args, env, ...).
    A key whose value is ``None`` is removed.  The rootfs (``root.path``, relative to ``dest``)
    is made with :func:`make_busybox_rootfs` unless it already exists.
    """
    spec = default_spec(args)
    for key, value in overrides.items():
        if key == "process" and isinstance(value, dict):
            for pkey, pvalue in value.items():
                if pvalue is None:
                    spec["process"].pop(pkey, None)
                else:
                    spec["process"][pkey] = copy.deepcopy(pvalue)
        elif value is None:
            spec.pop(key, None)
        else:
            spec[key] = copy.deepcopy(value)
    dest.mkdir(parents=True, exist_ok=True)
    root = spec.get("root", {}).get("path", "rootfs")
    rootfs = Path(root) if os.path.isabs(root) else dest / root
    if not rootfs.exists():
        make_busybox_rootfs(rootfs)
    (dest / "config.json").write_text(json.dumps(spec, indent=2) + "\n")
    return dest


@contextlib.contextmanager
def fd_at(target: int, path: str | os.PathLike[str]) -> Iterator[int]:
    """Open ``path`` read-only at fd ``target`` (inheritable) for the block; then put back what was there.

    Whatever the process held at ``target`` is saved with dup and restored with dup2, so an fd
    that belongs to someone else (pytest's saved stdin, a logging handler's file) survives."""
    try:
        inheritable = os.get_inheritable(target)
        saved = os.dup(target)
    except OSError:
        inheritable, saved = False, -1  # nothing open there
    fd = os.open(path, os.O_RDONLY)
    try:
        if fd != target:
            os.dup2(fd, target)  # inheritable by default
            os.close(fd)
        else:
            os.set_inheritable(fd, True)
        yield target
    finally:
        if saved >= 0:
            os.dup2(saved, target, inheritable=inheritable)
            os.close(saved)
        else:
            os.close(target)
