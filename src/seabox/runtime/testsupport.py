"""A harness for driving ``seabox-runc`` in root tests: own state root, unique ids, cleanup.

Design reason (trio's habit of shipping test helpers with the library): every root test of the
runtime needs the same things — a private ``--root``, container ids with a random ``sbt-``
suffix, busybox bundles in temp dirs, the CLI run as a subprocess with stdio that never keeps a
pipe open behind a detached container, and a teardown that force-deletes every container it
made even when the test failed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

RUNC = [sys.executable, "-m", "seabox.cli.runc"]


def open_path_for_others(path: Path) -> None:
    """Make every directory from / to ``path`` searchable (user-namespace tests need it)."""
    p = path.resolve()
    for d in [p, *p.parents]:
        mode = d.stat().st_mode & 0o7777
        if mode & 0o011 != 0o011:
            os.chmod(d, mode | 0o011)


def cgroup_lines(text: str) -> dict[str, str]:
    """/proc/PID/cgroup's text as hierarchy key (the v1 controllers, or "unified") → path."""
    out = {}
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        out[ctrls or "unified"] = path
    return out


class Runc:
    def __init__(self, tmp: Path, binary: list[str] | None = None) -> None:
        self.tmp = Path(tmp)
        self.root = self.tmp / "state"
        self.cmdline = binary or RUNC
        self.ids: list[str] = []
        self._n = 0

    def new_id(self) -> str:
        cid = "sbt-" + secrets.token_hex(4)
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str], **overrides: Any) -> Path:
        from seabox.testing.bundle import make_bundle

        self._n += 1
        return make_bundle(self.tmp / f"bundle{self._n}", args, **overrides)

    def userns_bundle(self, args: list[str], linux: dict[str, Any], base: int) -> Path:
        """A bundle whose container gets a new user namespace with ids 0-65535 mapped to
        ``base``...: ``linux`` gains the namespace and the mappings (and loses resources), the
        rootfs is chowned to ``base`` and the bundle's path opened for it."""
        mapping = [{"containerID": 0, "hostID": base, "size": 65536}]
        linux = {**linux, "namespaces": [*linux["namespaces"], {"type": "user"}], "uidMappings": mapping,
                 "gidMappings": [dict(m) for m in mapping]}
        linux.pop("resources", None)
        bundle = self.bundle(args, linux=linux)
        for dirpath, dirnames, filenames in os.walk(bundle / "rootfs"):
            os.lchown(dirpath, base, base)
            for n in dirnames + filenames:
                os.lchown(os.path.join(dirpath, n), base, base)
        open_path_for_others(bundle)
        return bundle

    def cmd(self, *args: str, input: str | None = None, timeout: float = 60,
            **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.cmdline, "--root", str(self.root), *args], input=input, text=True,
                              capture_output=True, timeout=timeout, **kw)

    def run(self, bundle: Path, cid: str | None = None, *extra: str,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Foreground ``run``: returns when the container exits; output captured."""
        return self.cmd("run", "--bundle", str(bundle), *extra, cid or self.new_id(), timeout=timeout)

    def create(self, bundle: Path, cid: str, *extra: str, out: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``create`` with the container's stdio on files (no pipe outlives the command)."""
        out = out or self.tmp / f"{cid}.out"
        err = self.tmp / f"{cid}.err"
        with open(out, "w") as f, open(err, "w") as e, open(os.devnull) as devnull:
            proc = subprocess.run([*self.cmdline, "--root", str(self.root), "create", "--bundle", str(bundle),
                                   *extra, cid], stdin=devnull, stdout=f, stderr=e, text=True, timeout=60)
        proc.stderr = err.read_text()
        return proc

    def output(self, cid: str) -> str:
        return (self.tmp / f"{cid}.out").read_text()

    def state(self, cid: str) -> dict[str, Any]:
        r = self.cmd("state", cid)
        assert r.returncode == 0, r.stderr
        doc: dict[str, Any] = json.loads(r.stdout)
        return doc

    def cleanup(self) -> None:
        for cid in self.ids:
            try:
                self.cmd("delete", "--force", cid, timeout=30)
            except subprocess.TimeoutExpired:
                pass
