"""A --rm container's bundle: its overlay mounted ``volatile`` (no sync of the upper filesystem at
unmount), and after a clean unmount the same upper/work dirs can be mounted again (the kernel's
``work/incompat/volatile`` marker is removed by ``bundle.remove``)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from seabox.daemon.tasks import bundle
from seabox.snapshots.mount import Mount, is_mountpoint

pytestmark = pytest.mark.root


def _mountinfo_options(path: Path) -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == str(path):
                return line
    return ""


def test_volatile_overlay_mounts_and_can_be_mounted_again(fixtures_info: dict) -> None:
    work = Path(tempfile.mkdtemp(prefix="sbt-"))
    b = work / "bundle"
    try:
        upper, wd = work / "upper", work / "work"
        upper.mkdir()
        wd.mkdir()
        lower = fixtures_info["rootfs"]["busybox"]
        m = Mount("overlay", "overlay", [f"lowerdir={lower}", f"upperdir={upper}", f"workdir={wd}"])
        bundle.create(b, {"process": {"args": ["true"]}}, [m], volatile=True)
        rootfs = b / bundle.ROOTFS
        assert is_mountpoint(rootfs)
        assert "volatile" in _mountinfo_options(rootfs)
        assert (wd / "work" / "incompat" / "volatile").is_dir()
        (rootfs / "written").write_text("x")
        assert json.loads((b / "config.json").read_text())["root"] == {"path": "rootfs"}
        bundle.remove(b)
        assert not b.exists()
        assert not (wd / "work" / "incompat" / "volatile").exists()
        assert (upper / "written").read_text() == "x"
        bundle.create(b, {"process": {"args": ["true"]}}, [m])  # plain mount of the same dirs: allowed again
        assert is_mountpoint(b / bundle.ROOTFS)
        assert "volatile" not in _mountinfo_options(b / bundle.ROOTFS)
        assert (b / bundle.ROOTFS / "written").read_text() == "x"
        bundle.remove(b)
        assert not b.exists()
    finally:
        if b.exists():
            bundle.remove(b)
        shutil.rmtree(work, ignore_errors=True)
