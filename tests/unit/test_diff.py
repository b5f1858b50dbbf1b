"""Diff: apply(diff(lower, upper)) onto lower reproduces upper; output is deterministic."""

import gzip
import io
import os
import shutil
import tarfile

import pytest
import zstandard

from seabox.oci.digest import from_bytes
from seabox.snapshots.apply import apply_layer
from seabox.snapshots.diff import write_diff
from seabox.snapshots.fsutil import copy_tree
from seabox.testing.layers import Entry, build_tar, tree_state

BASE = [
    Entry("etc", "dir", mode=0o755),
    Entry("etc/passwd", data=b"root:x:0:0\n"),
    Entry("etc/keep", data=b"same"),
    Entry("bin/sh", data=b"sh" * 1000, mode=0o755),
    Entry("bin/ash", "hardlink", linkname="bin/sh"),
    Entry("bin/ls", "symlink", linkname="sh"),
    Entry("var/lib/data/a", data=b"a"),
    Entry("var/lib/data/b", data=b"b"),
    Entry("opt/app/x", data=b"x"),
    Entry("tmp", "dir", mode=0o1777),
]


def names_of(raw: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        return tf.getnames()


def make_base(path):
    path.mkdir()
    apply_layer(io.BytesIO(build_tar(BASE)), path, overlay_whiteouts=False)


def mutate(upper):
    (upper / "etc" / "passwd").write_bytes(b"root:x:0:0\nuser:x:1000:1000\n")
    os.utime(upper / "etc" / "passwd", (1_800_000_000.5, 1_800_000_000.5))
    os.unlink(upper / "var" / "lib" / "data" / "a")
    shutil.rmtree(upper / "opt" / "app")
    (upper / "opt" / "app").write_bytes(b"now a file")
    os.chmod(upper / "bin" / "sh", 0o700)
    (upper / "new" / "deep").mkdir(parents=True)
    (upper / "new" / "deep" / "f").write_bytes(b"new")
    os.link(upper / "new" / "deep" / "f", upper / "new" / "f2")
    os.symlink("/etc/passwd", upper / "new" / "abs")
    os.setxattr(upper / "etc" / "keep", "user.k", b"v")


def test_native_roundtrip(tmp_path):
    lower = tmp_path / "lower"
    make_base(lower)
    upper = tmp_path / "upper"
    upper.mkdir()
    copy_tree(lower, upper)
    assert tree_state(upper) == tree_state(lower)
    mutate(upper)
    buf = io.BytesIO()
    res = write_diff(lower, upper, buf)
    data = buf.getvalue()
    assert res.digest == from_bytes(data) and res.size == len(data)
    raw = gzip.decompress(data)
    assert res.diff_id == from_bytes(raw)
    assert res.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    names = names_of(raw)
    assert "var/lib/data/.wh.a" in names and "etc/passwd" in names
    assert "etc/keep" in names  # xattr change
    assert "bin/ls" not in names and "tmp" not in names  # unchanged
    # apply the diff onto another copy of the lower tree
    target = tmp_path / "target"
    target.mkdir()
    copy_tree(lower, target)
    applied = apply_layer(io.BytesIO(raw), target, overlay_whiteouts=False)
    assert applied.diff_id == res.diff_id
    assert tree_state(target) == tree_state(upper)


def test_no_changes_gives_empty_layer(tmp_path):
    lower = tmp_path / "lower"
    make_base(lower)
    upper = tmp_path / "upper"
    upper.mkdir()
    copy_tree(lower, upper)
    buf = io.BytesIO()
    res = write_diff(lower, upper, buf, compression="none")
    assert names_of(buf.getvalue()) == []
    assert res.media_type.endswith(".tar")


def test_first_layer_diff_from_nothing(tmp_path):
    tree = tmp_path / "tree"
    make_base(tree)
    buf = io.BytesIO()
    res = write_diff(None, tree, buf, compression="zstd")
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(buf.getvalue())).read()
    assert res.diff_id == from_bytes(raw) and res.media_type.endswith("+zstd")
    out = tmp_path / "out"
    out.mkdir()
    apply_layer(io.BytesIO(raw), out, overlay_whiteouts=False)
    assert tree_state(out) == tree_state(tree)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_deterministic(tmp_path, compression):
    tree = tmp_path / "tree"
    make_base(tree)
    a, b = io.BytesIO(), io.BytesIO()
    ra = write_diff(None, tree, a, compression=compression)
    rb = write_diff(None, tree, b, compression=compression)
    assert a.getvalue() == b.getvalue() and ra == rb


def test_native_diff_from_bind_mounts(tmp_path):
    from seabox.snapshots import Mount

    lower = tmp_path / "lower"
    make_base(lower)
    upper = tmp_path / "upper"
    upper.mkdir()
    copy_tree(lower, upper)
    (upper / "added").write_bytes(b"1")
    buf = io.BytesIO()
    write_diff([Mount("bind", str(lower), ["ro", "rbind"])], upper, buf, compression="none")
    assert names_of(buf.getvalue()) == ["added"]


def test_diff_snapshot_native(tmp_path):
    from seabox.snapshots.diff import diff_snapshot
    from seabox.snapshots.native import NativeSnapshotter

    snaps = NativeSnapshotter(tmp_path / "native")
    try:
        snaps.prepare("a", None)
        apply_layer(io.BytesIO(build_tar(BASE)), snaps.path_of("a"), overlay_whiteouts=False)
        first = io.BytesIO()
        r1 = diff_snapshot(snaps, "a", first, compression="none")
        snaps.commit("base", "a")
        snaps.prepare("b", "base")
        os.unlink(snaps.path_of("b") / "etc" / "keep")
        second = io.BytesIO()
        diff_snapshot(snaps, "b", second, compression="none")
        assert names_of(second.getvalue()) == ["etc", "etc/.wh.keep"]
        out = tmp_path / "out"
        out.mkdir()
        assert apply_layer(io.BytesIO(first.getvalue()), out, overlay_whiteouts=False).diff_id == r1.diff_id
        apply_layer(io.BytesIO(second.getvalue()), out, overlay_whiteouts=False)
        assert tree_state(out) == tree_state(snaps.path_of("b"))
    finally:
        snaps.close()
