"""Layer apply into temp dirs (native mode, and overlay whiteout conversion where no root is needed)."""

import io
import os
import stat

import pytest

from seabox import errdefs
from seabox.oci.digest import from_bytes
from seabox.snapshots.apply import UnsafeEntry, apply_layer, clean_components
from seabox.testing.layers import Entry, build_tar, sparse_entry


def apply(tar: bytes, target, overlay=False, **kw):
    return apply_layer(io.BytesIO(tar), target, overlay_whiteouts=overlay, **kw)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    return r


def test_clean_components():
    assert clean_components("a/./b//c/") == ["a", "b", "c"]
    assert clean_components("/etc/passwd") == ["etc", "passwd"]
    assert clean_components("/../x") == ["x"]
    assert clean_components("a/../b") == ["b"]
    for bad in ("../x", "a/../../x", "./.."):
        with pytest.raises(UnsafeEntry, match="escapes"):
            clean_components(bad)


def test_basic_tree_and_diff_id(root):
    tar = build_tar([
        Entry("bin", "dir", mode=0o755),
        Entry("bin/sh", data=b"#!shell", mode=0o4755),
        Entry("bin/ash", "hardlink", linkname="bin/sh"),
        Entry("bin/link", "symlink", linkname="sh"),
        Entry("etc/", "dir", mode=0o750, mtime=1_600_000_000),
        Entry("etc/conf", data=b"x=1", mode=0o600, mtime=1_650_000_000),
        Entry("run/fifo", "fifo", mode=0o640),
    ])
    res = apply(tar, root)
    assert res.diff_id == from_bytes(tar) and res.size == len(tar) and res.entries == 7
    sh = root / "bin" / "sh"
    assert sh.read_bytes() == b"#!shell"
    assert stat.S_IMODE(sh.stat().st_mode) == 0o4755
    assert os.stat(root / "bin" / "ash").st_ino == sh.stat().st_ino
    assert os.readlink(root / "bin" / "link") == "sh"
    assert stat.S_IMODE((root / "etc").stat().st_mode) == 0o750
    assert (root / "etc").stat().st_mtime == 1_600_000_000  # set after its children
    assert (root / "etc" / "conf").stat().st_mtime == 1_650_000_000
    assert stat.S_ISFIFO(os.lstat(root / "run" / "fifo").st_mode)
    assert stat.S_IMODE((root / "run").stat().st_mode) == 0o755  # implied parent


def test_xattrs_preserved(root):
    tar = build_tar([Entry("f", data=b"1", xattrs={"user.test": b"v\xff1"})])
    apply(tar, root)
    assert os.getxattr(root / "f", "user.test") == b"v\xff1"


def test_overlay_xattrs_from_tar_dropped(root):
    tar = build_tar([Entry("d", "dir", xattrs={"trusted.overlay.redirect": b"/etc"})])
    apply(tar, root, overlay=True)
    assert "trusted.overlay.redirect" not in os.listxattr(root / "d")


def test_native_whiteouts(root):
    apply(build_tar([Entry("a/keep", data=b"k"), Entry("a/gone", data=b"g"), Entry("d/x/y", data=b"1"),
                     Entry("d/z", data=b"2"), Entry("tree/deep/f", data=b"3")]), root)
    apply(build_tar([Entry("a/.wh.gone"), Entry("d/.wh..wh..opq"), Entry("d/new", data=b"n"),
                     Entry(".wh.tree"), Entry(".wh.never-existed")]), root)
    assert sorted(os.listdir(root / "a")) == ["keep"]
    assert sorted(os.listdir(root / "d")) == ["new"]
    assert not (root / "tree").exists()


def test_native_opaque_keeps_entries_of_same_layer(root):
    apply(build_tar([Entry("d/old", data=b"o")]), root)
    apply(build_tar([Entry("d", "dir"), Entry("d/new", data=b"n"), Entry("d/.wh..wh..opq")]), root)
    assert os.listdir(root / "d") == ["new"]


def test_replace_types(root):
    apply(build_tar([Entry("x/y", data=b"1"), Entry("f", data=b"1"), Entry("s", "symlink", linkname="f")]), root)
    apply(build_tar([Entry("x", data=b"now a file"), Entry("f", "dir"), Entry("s", data=b"plain")]), root)
    assert (root / "x").read_bytes() == b"now a file"
    assert (root / "f").is_dir()
    assert not (root / "s").is_symlink() and (root / "s").read_bytes() == b"plain"


def test_absolute_names_land_inside(root, tmp_path):
    host = tmp_path / "host-abs"
    tar = build_tar([Entry(str(host / "f"), data=b"inside"), Entry("/../up", data=b"u")])
    apply(tar, root)
    assert not host.exists()
    assert (root / str(host).lstrip("/") / "f").read_bytes() == b"inside"
    assert (root / "up").read_bytes() == b"u"


def test_sparse_file_stays_sparse(root):
    tar = build_tar([sparse_entry("s", 64 << 20, [(0, b"a" * 512), ((32 << 20), b"b" * 1024)])])
    apply(tar, root)
    st = (root / "s").stat()
    assert st.st_size == 64 << 20 and st.st_blocks * 512 < (1 << 20)
    with open(root / "s", "rb") as f:
        assert f.read(512) == b"a" * 512
        f.seek(32 << 20)
        assert f.read(1024) == b"b" * 1024


def test_invalid_tar(root):
    with pytest.raises(errdefs.InvalidArgument, match="invalid tar"):
        apply(b"not a tar" * 100, root)


def test_kernel_errors_name_the_entry(root):
    from seabox.snapshots.apply import ApplyFailed

    name = "d/" + "n" * 300  # over NAME_MAX: the kernel refuses
    with pytest.raises(ApplyFailed, match=f'"{name}": File name too long'):
        apply(build_tar([Entry(name, data=b"x")]), root)
    with pytest.raises(errdefs.InvalidArgument, match='"f": xattr'):
        apply(build_tar([Entry("f", data=b"x", xattrs={"user." + "n" * 300: b"v"})]), root)
