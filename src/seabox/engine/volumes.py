"""Named volumes: ``<root>/volumes/<name>/_data`` plus a small ``meta.json``.

Design reason: docker's local driver is a directory; the engine keeps the same layout so a
volume survives the container.  A volume is *filled* from the image's content at its mount
path the first time it is mounted empty (docker's copy-up), and ``remove`` refuses a volume a
container still references.  Anonymous volumes (an image ``VOLUME`` or ``-v /path``) get a
random 64-hex name and the ``com.docker.volume.anonymous`` label; ``rm -v`` removes them.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.engine.records import now

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ANON_LABEL = "com.docker.volume.anonymous"


class Volumes:
    def __init__(self, root: Path, in_use: Callable[[str], list[str]]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o711)
        self.in_use = in_use  # volume name → ids of containers referencing it
        self.lock = threading.RLock()

    def _meta(self, name: str) -> Path:
        return self.root / name / "meta.json"

    def data(self, name: str) -> Path:
        return self.root / name / "_data"

    def create(self, name: str = "", labels: dict[str, str] | None = None, driver: str = "local",
               opts: dict[str, str] | None = None, *, anonymous: bool = False) -> dict[str, Any]:
        if driver not in ("", "local"):
            raise errdefs.InvalidArgument(f'volume driver "{driver}": not supported (only local)')
        if not name:
            name = secrets.token_hex(32)
            anonymous = True
        if not NAME_RE.match(name):
            raise errdefs.InvalidArgument(
                f'create {name}: "{name}" includes invalid characters for a local volume name, '
                "only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")
        with self.lock:
            if self._meta(name).exists():
                return self.inspect(name)
            self.data(name).mkdir(parents=True, exist_ok=True, mode=0o755)
            lab = dict(labels or {})
            if anonymous:
                lab[ANON_LABEL] = ""
            meta = {"Name": name, "Driver": "local", "CreatedAt": now(), "Labels": lab, "Options": dict(opts or {}),
                    "Filled": False}
            self._meta(name).write_text(json.dumps(meta))
            return self.inspect(name)

    def exists(self, name: str) -> bool:
        return self._meta(name).exists()

    def _load(self, name: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._meta(name).read_text()))
        except (OSError, ValueError):
            raise errdefs.NotFound(f"get {name}: no such volume") from None

    def inspect(self, name: str) -> dict[str, Any]:
        m = self._load(name)
        return {"Name": m["Name"], "Driver": "local", "Mountpoint": str(self.data(name)), "CreatedAt": m["CreatedAt"],
                "Labels": m.get("Labels") or {}, "Scope": "local", "Options": m.get("Options") or {}}

    def list(self) -> builtins.list[dict[str, Any]]:
        out = []
        for n in sorted(os.listdir(self.root)):
            try:
                out.append(self.inspect(n))
            except errdefs.NotFound:
                continue
        return out

    def remove(self, name: str, *, force: bool = False) -> None:
        with self.lock:
            self._load(name)
            users = self.in_use(name)
            if users:
                raise errdefs.AlreadyExists(
                    f"remove {name}: volume is in use - [{', '.join(users)}]")
            shutil.rmtree(self.root / name)

    def prune(self, *, all_named: bool = False) -> builtins.list[str]:
        gone = []
        for v in self.list():
            if not all_named and ANON_LABEL not in v["Labels"]:
                continue
            if self.in_use(v["Name"]):
                continue
            shutil.rmtree(self.root / v["Name"], ignore_errors=True)
            gone.append(v["Name"])
        return gone

    def fill_once(self, name: str, source: Path) -> None:
        """Copy the image's content at the mount path into an empty, never-filled volume."""
        with self.lock:
            m = self._load(name)
            if m.get("Filled"):
                return
            dst = self.data(name)
            if source.is_dir() and not any(dst.iterdir()):
                copy_tree(source, dst)
            m["Filled"] = True
            self._meta(name).write_text(json.dumps(m))


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory's content keeping modes, owners, times and symlinks."""
    st = os.lstat(src)
    os.chmod(dst, st.st_mode & 0o7777)
    os.chown(dst, st.st_uid, st.st_gid)
    for entry in os.scandir(src):
        s = Path(entry.path)
        d = dst / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(s), d)
            os.lchown(d, *_owner(s))
        elif entry.is_dir(follow_symlinks=False):
            d.mkdir()
            copy_tree(s, d)
        elif entry.is_file(follow_symlinks=False):
            shutil.copy2(s, d, follow_symlinks=False)
            os.chown(d, *_owner(s))


def _owner(p: Path) -> tuple[int, int]:
    st = os.lstat(p)
    return st.st_uid, st.st_gid
