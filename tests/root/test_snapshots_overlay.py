"""The overlay snapshotter against the real kernel: mounts, whiteouts through overlayfs, deep chains."""

import errno
import io
import os
import stat
from contextlib import contextmanager

import pytest

from seabox import errdefs
from seabox.snapshots import Kind, mount_all, unmount
from seabox.snapshots.apply import apply_layer
from seabox.snapshots.diff import write_diff
from seabox.snapshots.mount import is_mountpoint
from seabox.snapshots.overlay import OverlaySnapshotter
from seabox.testing.layers import Entry, build_tar, tree_state

pytestmark = pytest.mark.root


@pytest.fixture
def snap(tmp_path):
    s = OverlaySnapshotter(tmp_path / "sbt-overlay")
    yield s
    s.close()


@contextmanager
def mounted(mounts, target):
    target.mkdir(exist_ok=True)
    mount_all(mounts, target)
    try:
        yield target
    finally:
        unmount(target, detach=True)
        assert not is_mountpoint(target)


def layer(snap, name, parent, entries):
    key = f"extract-{name}"
    snap.prepare(key, parent)
    apply_layer(io.BytesIO(build_tar(entries)), snap.upper_dir(key), overlay_whiteouts=True,
                parents=snap.lower_dirs(key))
    snap.commit(name, key)
    return name


def test_no_parent_bind_then_view(snap, tmp_path):
    m = snap.prepare("a", None, labels={"x": "1"})
    assert m[0].type == "bind" and "rw" in m[0].options
    with mounted(m, tmp_path / "mnt") as t:
        (t / "hello").write_text("hi")
    info = snap.commit("base", "a", labels={"y": "2"})
    assert info.kind == Kind.COMMITTED and info.labels == {"x": "1", "y": "2"}
    with pytest.raises(errdefs.NotFound, match='"a"'):
        snap.stat("a")
    v = snap.view("v", "base")
    assert v[0].type == "bind" and "ro" in v[0].options
    assert v[0].source == str(snap.path_of("base"))
    with mounted(v, tmp_path / "ro") as t:
        assert (t / "hello").read_text() == "hi"
        with pytest.raises(OSError) as e:
            (t / "new").write_text("x")
        assert e.value.errno == errno.EROFS


def test_whiteouts_through_real_overlay(snap, tmp_path):
    l1 = layer(snap, "l1", None, [Entry("etc/passwd", data=b"root"), Entry("etc/gone", data=b"g"),
                                  Entry("data/old1", data=b"1"), Entry("data/old2", data=b"2"),
                                  Entry("tmp", "dir", mode=0o1777)])
    l2 = layer(snap, "l2", l1, [Entry("etc/.wh.gone"), Entry("data", "dir"), Entry("data/.wh..wh..opq"),
                                Entry("data/new", data=b"n"), Entry("tmp/x", data=b"x")])
    upper2 = snap.path_of("l2")
    st = os.lstat(upper2 / "etc" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(upper2 / "data", "trusted.overlay.opaque") == b"y"
    # implied dir "tmp" in the upper got the lower's mode, so the merged view keeps 1777
    assert stat.S_IMODE(os.stat(upper2 / "tmp").st_mode) == 0o1777
    mounts = snap.prepare("ctr", l2)
    assert mounts[0].type == "overlay"
    with mounted(mounts, tmp_path / "rootfs") as t:
        assert sorted(os.listdir(t / "etc")) == ["passwd"]
        assert sorted(os.listdir(t / "data")) == ["new"]
        assert stat.S_IMODE(os.stat(t / "tmp").st_mode) == 0o1777
        os.unlink(t / "etc" / "passwd")
        (t / "etc" / "shadow").write_text("s")
    # the container's changes, as a layer, then applied natively, equal the overlay's merged view
    buf = io.BytesIO()
    res = write_diff(None, snap.upper_dir("ctr"), buf, compression="none")
    raw = buf.getvalue()
    assert b"etc/.wh.passwd" in raw
    snap.commit("l3", "ctr")
    native = tmp_path / "native"
    native.mkdir()
    for name in ("l1", "l2"):
        buf2 = io.BytesIO()
        write_diff(None, snap.path_of(name), buf2, compression="none")
        apply_layer(io.BytesIO(buf2.getvalue()), native, overlay_whiteouts=False)
    assert apply_layer(io.BytesIO(raw), native, overlay_whiteouts=False).diff_id == res.diff_id
    snap.view("check", "l3")
    with mounted(snap.mounts("check"), tmp_path / "view") as t:
        assert tree_state(t, mtimes=False) == tree_state(native, mtimes=False)


def test_view_over_several_layers_is_readonly_overlay(snap, tmp_path):
    a = layer(snap, "a", None, [Entry("a", data=b"a")])
    b = layer(snap, "b", a, [Entry("b", data=b"b")])
    m = snap.view("v", b)
    assert m[0].type == "overlay" and not any(o.startswith("upperdir=") for o in m[0].options)
    with mounted(m, tmp_path / "v") as t:
        assert sorted(os.listdir(t)) == ["a", "b"]
        with pytest.raises(OSError):
            (t / "c").write_text("c")


def test_deep_chain_120_layers(snap, tmp_path):
    parent = None
    for i in range(120):
        parent = layer(snap, f"layer-{i:03d}", parent, [Entry(f"f{i:03d}", data=str(i).encode())])
    mounts = snap.prepare("top", parent)
    data = ",".join(mounts[0].options)
    assert len(data) > 4096, "the chain should exceed one page with absolute paths"
    with mounted(mounts, tmp_path / "deep") as t:
        names = sorted(os.listdir(t))
        assert names == [f"f{i:03d}" for i in range(120)]
        assert (t / "f000").read_text() == "0" and (t / "f119").read_text() == "119"
        (t / "top-file").write_text("rw")
    assert os.listdir(snap.upper_dir("top")) == ["top-file"]


def test_metadata_semantics(snap):
    base = layer(snap, "base", None, [Entry("f", data=b"x" * 100_000)])
    snap.prepare("act", base)
    with pytest.raises(errdefs.AlreadyExists, match='"act"'):
        snap.prepare("act", base)
    with pytest.raises(errdefs.FailedPrecondition, match="not committed"):
        snap.prepare("child", "act")
    with pytest.raises(errdefs.FailedPrecondition, match="has children"):
        snap.remove("base")
    with pytest.raises(errdefs.FailedPrecondition, match="only Active"):
        snap.commit("again", "base")
    with pytest.raises(errdefs.NotFound, match='"nope"'):
        snap.prepare("x", "nope")
    (snap.upper_dir("act") / "big").write_bytes(b"y" * (1 << 20))
    u = snap.usage("act")
    assert u.size >= 1 << 20 and u.inodes == 2
    assert snap.usage("base").size >= 100_000 and snap.usage("base").inodes == 2
    info = snap.stat("act")
    info.labels = {"a": "1", "b": "2"}
    assert snap.update(info, ["labels.a"]).labels == {"a": "1"}
    assert snap.update(info).labels == {"a": "1", "b": "2"}
    info.labels = {}
    assert snap.update(info, ["labels.b"]).labels == {"a": "1"}
    assert {i.name: i.kind for i in snap.walk()} == {"base": Kind.COMMITTED, "act": Kind.ACTIVE}
    d = snap.upper_dir("act").parent
    snap.remove("act")
    assert not d.exists()
    snap.remove("base")
    assert list(snap.walk()) == []
    assert os.listdir(snap.snapshots_dir) == []


def test_metadata_survives_reopen(snap, tmp_path):
    layer(snap, "base", None, [Entry("f", data=b"1")])
    snap.prepare("act", "base", labels={"k": "v"})
    again = OverlaySnapshotter(snap.root)
    try:
        assert again.stat("act").labels == {"k": "v"} and again.stat("act").parent == "base"
        assert again.mounts("act") == snap.mounts("act")
    finally:
        again.close()
    assert (snap.root / "metadata.db").exists()


def test_apply_and_diff_through_mounts(snap, tmp_path):
    from seabox.snapshots.apply import apply_to_mounts
    from seabox.snapshots.diff import diff_mounts

    base = layer(snap, "base", None, [Entry("etc/a", data=b"a"), Entry("etc/b", data=b"b"),
                                      Entry("srv", "dir", mode=0o750)])
    mounts = snap.prepare("next", base)
    tar = build_tar([Entry("etc/.wh.a"), Entry("srv/new", data=b"n")])
    res = apply_to_mounts(mounts, io.BytesIO(tar))
    assert stat.S_ISCHR(os.lstat(snap.upper_dir("next") / "etc" / "a").st_mode)
    assert stat.S_IMODE(os.stat(snap.upper_dir("next") / "srv").st_mode) == 0o750  # from the lowerdir
    buf = io.BytesIO()
    d = diff_mounts(snap.view("base-view", base), mounts, buf, compression="none")
    assert d.media_type.endswith(".tar") and res.entries == 2
    assert b"etc/.wh.a" in buf.getvalue() and b"srv/new" in buf.getvalue()
    with pytest.raises(errdefs.InvalidArgument, match="read-only"):
        apply_to_mounts(snap.view("v2", base), io.BytesIO(tar))


def test_implied_dir_over_lower_symlink_is_refused(snap, tmp_path):
    from seabox.snapshots.apply import UnsafeEntry

    base = layer(snap, "usrmerge", None, [Entry("usr/bin/sh", data=b"sh"), Entry("bin", "symlink", linkname="usr/bin"),
                                          Entry("gone/x", data=b"x")])
    snap.prepare("next", base)
    with pytest.raises(UnsafeEntry, match="parent 'bin' is a symlink in a lower layer"):
        apply_layer(io.BytesIO(build_tar([Entry("bin/tool", data=b"t")])), snap.upper_dir("next"),
                    overlay_whiteouts=True, parents=snap.lower_dirs("next"))
    # a path whited out below is simply created anew
    wh = layer(snap, "wh", base, [Entry(".wh.gone")])
    snap.prepare("after", wh)
    apply_layer(io.BytesIO(build_tar([Entry("gone/y", data=b"y")])), snap.upper_dir("after"),
                overlay_whiteouts=True, parents=snap.lower_dirs("after"))
    with mounted(snap.mounts("after"), tmp_path / "m") as t:
        assert os.listdir(t / "gone") == ["y"]
        assert (t / "bin" / "sh").read_bytes() == b"sh"
