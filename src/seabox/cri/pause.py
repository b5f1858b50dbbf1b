"""The built-in pause: the process that holds a pod's namespaces, with no image to pull.

Design reason: containerd pulls ``registry.k8s.io/pause``; seabox must work offline and has no
compiler at hand, so the pause rootfs is made on the fly under the CRI root from the host's
statically linked busybox (Debian's busybox-static): ``/bin/busybox`` plus the empty mount
points the runtime needs.  The process is ``busybox sleep`` with a very long time; it does
nothing but exist, is PID 1 of the pod's PID namespace, and is stopped with SIGKILL (as
containerd stops pause).  The rootfs is shared read-only by every pod, rebuilt if the host's
busybox changed, and swapped into place atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

from seabox.errdefs import FailedPrecondition

PAUSE_ARGS = ["/bin/busybox", "sleep", "2147483647"]
_DIRS = ("bin", "dev", "proc", "sys", "etc", "tmp", "run")


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_static(path: str) -> bool:
    """An ELF file without a PT_INTERP segment (no dynamic loader needed)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff = int.from_bytes(head[32:40], "little")
        phentsize = int.from_bytes(head[54:56], "little")
        phnum = int.from_bytes(head[56:58], "little")
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(int.from_bytes(table[i * phentsize:i * phentsize + 4], "little") != pt_interp for i in range(phnum))


def ensure_rootfs(base: Path, busybox: str = "/bin/busybox") -> Path:
    """``<base>/rootfs`` with a static busybox in it; built once per busybox version."""
    if not os.path.exists(busybox):
        raise FailedPrecondition(f'pause "{busybox}": not found (install busybox-static)')
    if not is_static(busybox):
        raise FailedPrecondition(f'pause "{busybox}": not statically linked (install busybox-static)')
    want = _digest(busybox)
    rootfs = base / "rootfs"
    stamp = base / "busybox.sha256"
    if rootfs.is_dir() and stamp.exists() and stamp.read_text() == want:
        return rootfs
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".rootfs.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o755)
    for d in _DIRS:
        (tmp / d).mkdir(mode=0o755)
    shutil.copy2(busybox, tmp / "bin" / "busybox")
    os.chmod(tmp / "bin" / "busybox", 0o755)
    (tmp / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (tmp / "etc" / "group").write_text("root:x:0:\n")
    if rootfs.exists():
        old = base / f".old.{os.getpid()}"
        os.rename(rootfs, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, rootfs)
    stamp.write_text(want)
    return rootfs


def write_image_archive(path: Path, name: str, busybox: str = "/bin/busybox") -> None:
    """The built-in pause as an OCI image archive named ``name`` (for ``sandbox_image``, or for
    another runtime such as containerd that must not pull one from the internet)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        for d in _DIRS:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        t.add(busybox, "bin/busybox")
    raw = layer.getvalue()
    gz = gzip.compress(raw, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": PAUSE_ARGS},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}
                        ).encode()
    blobs = {"config": config, "layer": gz}
    dig = {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": f"sha256:{dig['config']}", "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": f"sha256:{dig['layer']}", "size": len(gz)}]}).encode()
    mdig = hashlib.sha256(manifest).hexdigest()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{mdig}", "size": len(manifest),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}}]}).encode()
    with tarfile.open(path, "w") as t:
        def add(member: str, data: bytes) -> None:
            ti = tarfile.TarInfo(member)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add("index.json", index)
        add(f"blobs/sha256/{mdig}", manifest)
        for k, v in blobs.items():
            add(f"blobs/sha256/{dig[k]}", v)
