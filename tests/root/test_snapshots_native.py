"""The native snapshotter: full copies that keep owners, modes, xattrs, hardlinks and devices."""

import errno
import io
import os
import stat

import pytest

from seabox.snapshots import mount_all, unmount
from seabox.snapshots.apply import apply_layer
from seabox.snapshots.native import NativeSnapshotter
from seabox.testing.layers import Entry, build_tar, tree_state

pytestmark = pytest.mark.root


@pytest.fixture
def snap(tmp_path):
    s = NativeSnapshotter(tmp_path / "sbt-native")
    yield s
    s.close()


def test_copy_preserves_everything(snap, tmp_path):
    m = snap.prepare("a", None)
    assert m[0].type == "bind"
    apply_layer(io.BytesIO(build_tar([
        Entry("usr/bin/su", data=b"su", mode=0o4755, uid=0, gid=0),
        Entry("home/u", "dir", mode=0o700, uid=1234, gid=5678),
        Entry("home/u/f", data=b"f", uid=1234, gid=5678, xattrs={"trusted.sbt": b"t", "user.a": b"b"}),
        Entry("home/u/h", "hardlink", linkname="home/u/f"),
        Entry("dev/null", "char", major=1, minor=3, mode=0o666),
        Entry("dev/loopx", "block", major=7, minor=200, mode=0o660),
        Entry("run/p", "fifo"),
        Entry("lnk", "symlink", linkname="/nowhere", uid=42, gid=42),
    ])), snap.path_of("a"), overlay_whiteouts=False)
    snap.commit("base", "a")
    snap.prepare("b", "base")
    assert tree_state(snap.path_of("b")) == tree_state(snap.path_of("base"))
    f = snap.path_of("b") / "home" / "u" / "f"
    assert os.stat(f).st_ino == os.stat(snap.path_of("b") / "home" / "u" / "h").st_ino
    assert os.lstat(snap.path_of("b") / "lnk").st_uid == 42
    v = snap.view("v", "base")
    target = tmp_path / "mnt"
    target.mkdir()
    mount_all(v, target)
    try:
        assert (target / "usr" / "bin" / "su").read_bytes() == b"su"
        with pytest.raises(OSError) as e:
            (target / "x").write_text("x")
        assert e.value.errno == errno.EROFS
    finally:
        unmount(target, detach=True)
    st = os.lstat(snap.path_of("v") / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1


def test_concurrent_commits_to_one_name(snap):
    import threading

    from seabox import errdefs

    snap.prepare("a", None)
    (snap.path_of("a") / "f").write_text("x")
    snap.commit("base", "a")
    outcomes = []

    def unpack(i: int) -> None:
        key = f"extract-{i}"
        snap.prepare(key, "base")
        (snap.path_of(key) / "g").write_text(str(i))
        try:
            snap.commit("chain", key)
            outcomes.append("ok")
        except errdefs.AlreadyExists:
            snap.remove(key)
            outcomes.append("exists")

    threads = [threading.Thread(target=unpack, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["exists"] * 7 + ["ok"]
    assert sorted(i.name for i in snap.walk()) == ["base", "chain"]
    assert len(os.listdir(snap.snapshots_dir)) == 2


def test_cleanup_removes_orphan_dirs(snap):
    snap.prepare("a", None)
    (snap.snapshots_dir / "999").mkdir()
    (snap.snapshots_dir / "999" / "fs").mkdir()
    removed = snap.cleanup()
    assert [p.name for p in removed] == ["999"]
    assert snap.path_of("a").exists()


def test_apply_and_diff_through_mounts(snap):
    from seabox.snapshots.apply import apply_to_mounts
    from seabox.snapshots.diff import diff_mounts

    apply_to_mounts(snap.prepare("a", None), io.BytesIO(build_tar([Entry("x", data=b"1"), Entry("y", data=b"2")])))
    snap.commit("base", "a")
    m = snap.prepare("b", "base")
    apply_to_mounts(m, io.BytesIO(build_tar([Entry(".wh.x"), Entry("z", data=b"3")])))
    assert sorted(os.listdir(snap.path_of("b"))) == ["y", "z"]
    buf = io.BytesIO()
    diff_mounts(snap.view("bv", "base"), m, buf, compression="none")
    assert b".wh.x" in buf.getvalue()
    out = snap.path_of("bv").parent / "check"
    out.mkdir()
    for t in (build_tar([Entry("x", data=b"1"), Entry("y", data=b"2")]), buf.getvalue()):
        apply_layer(io.BytesIO(t), out, overlay_whiteouts=False)
    assert tree_state(out) == tree_state(snap.path_of("b"))
