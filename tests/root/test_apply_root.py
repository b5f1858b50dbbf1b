"""Layer apply where root is needed: ownership, devices, trusted xattrs, overlay whiteout devices."""

import io
import os
import stat

import pytest

from seabox.snapshots.apply import apply_layer
from seabox.testing.layers import Entry, build_tar

pytestmark = pytest.mark.root


def test_ownership_setuid_devices(tmp_path):
    tar = build_tar([
        Entry("d", "dir", uid=1000, gid=1001, mode=0o2750),
        Entry("d/suid", data=b"x", uid=1000, gid=1001, mode=0o6755),
        Entry("d/l", "symlink", linkname="suid", uid=7, gid=8),
        Entry("dev/null", "char", major=1, minor=3, mode=0o666),
        Entry("dev/sda9", "block", major=8, minor=9, mode=0o600),
        Entry("f", data=b"", xattrs={"trusted.sbt": b"1", "security.capability": b"\x01\x00\x00\x02" + b"\0" * 16}),
    ])
    apply_layer(io.BytesIO(tar), tmp_path, overlay_whiteouts=False)
    st = os.stat(tmp_path / "d" / "suid")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o6755)
    st = os.stat(tmp_path / "d")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o2750)
    assert os.lstat(tmp_path / "d" / "l").st_uid == 7
    st = os.lstat(tmp_path / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3) and stat.S_IMODE(st.st_mode) == 0o666
    assert stat.S_ISBLK(os.lstat(tmp_path / "dev" / "sda9").st_mode)
    assert os.getxattr(tmp_path / "f", "trusted.sbt") == b"1"
    assert os.getxattr(tmp_path / "f", "security.capability")[:4] == b"\x01\x00\x00\x02"


def test_overlay_whiteout_conversion(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "stale").write_text("upper leftovers")
    tar = build_tar([Entry("a/.wh.b"), Entry("d/.wh..wh..opq"), Entry("d/n", data=b"n"), Entry(".wh.top")])
    apply_layer(io.BytesIO(tar), tmp_path, overlay_whiteouts=True)
    for p in (tmp_path / "a" / "b", tmp_path / "top"):
        st = os.lstat(p)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "d", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(tmp_path / "d")) == ["n", "stale"]  # opaque hides lower layers, not the upper
