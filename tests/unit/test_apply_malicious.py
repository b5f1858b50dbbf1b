"""The malicious-layer corpus: each layer is refused with an error naming the entry, and the host
side (a sibling ``outside`` directory holding a "secret") is checked to be untouched afterwards."""

import io
import os

import pytest

from seabox.snapshots.apply import UnsafeEntry, apply_layer
from seabox.testing.layers import Entry, build_tar, sparse_entry


@pytest.fixture
def box(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    before = snapshot(tmp_path, root)
    yield root, outside
    assert snapshot(tmp_path, root) == before, "something outside the root changed"


def snapshot(tmp_path, root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        if dirpath == str(root) or dirpath.startswith(str(root) + os.sep):
            continue
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if p == str(root):
                continue
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_nlink, st.st_mtime_ns, st.st_uid)
    return out


def refused(tar, root, match, overlay=False, **kw):
    with pytest.raises(UnsafeEntry, match=match):
        apply_layer(io.BytesIO(tar), root, overlay_whiteouts=overlay, **kw)


@pytest.mark.parametrize("overlay", [False, True])
def test_dotdot_traversal(box, overlay):
    root, _ = box
    refused(build_tar([Entry("../outside/evil", data=b"x")]), root, r'"\.\./outside/evil".*escapes', overlay)
    refused(build_tar([Entry("a/../../outside/evil", data=b"x")]), root, "escapes", overlay)
    refused(build_tar([Entry("../outside/.wh.secret")]), root, "escapes", overlay)
    refused(build_tar([Entry("../outside/.wh..wh..opq")]), root, "escapes", overlay)


def test_absolute_path_is_relative_to_root(box):
    root, outside = box
    apply_layer(io.BytesIO(build_tar([Entry(str(outside / "secret"), data=b"pwned")])), root,
                overlay_whiteouts=False)
    assert (outside / "secret").read_bytes() == b"secret"
    assert (root / str(outside).lstrip("/") / "secret").read_bytes() == b"pwned"


@pytest.mark.parametrize("target", ["ABS", "../outside", "../../../../../../../../tmp"])
def test_write_through_symlink_entry(box, target):
    root, outside = box
    link = str(outside) if target == "ABS" else target
    tar = build_tar([Entry("lnk", "symlink", linkname=link), Entry("lnk/secret", data=b"pwned")])
    refused(tar, root, r'"lnk/secret".*parent .lnk. is a symlink')
    assert os.readlink(root / "lnk") == link  # the symlink itself is fine


def test_symlinked_parent_in_lower_tree(box):
    root, outside = box
    os.symlink(str(outside), root / "etc")  # an earlier layer made /etc a symlink out
    for entries in ([Entry("etc/secret", data=b"pwned")], [Entry("etc/sub/x", data=b"pwned")],
                    [Entry("etc/.wh.secret")], [Entry("etc/.wh..wh..opq")], [Entry("etc/dev", "char", major=1, minor=3)],
                    [Entry("etc/d", "dir")], [Entry("etc/l", "symlink", linkname="/")]):
        refused(build_tar(entries), root, "parent 'etc' is a symlink")


def test_symlinked_parent_overlay_whiteout(box):
    root, outside = box
    os.symlink(str(outside), root / "etc")
    refused(build_tar([Entry("etc/.wh.secret")]), root, "symlink", overlay=True)
    refused(build_tar([Entry("etc/.wh..wh..opq")]), root, "symlink", overlay=True)


def test_final_symlink_is_replaced_not_followed(box):
    root, outside = box
    os.symlink(str(outside / "secret"), root / "file")
    apply_layer(io.BytesIO(build_tar([Entry("file", data=b"new")])), root, overlay_whiteouts=False)
    assert not (root / "file").is_symlink() and (root / "file").read_bytes() == b"new"


@pytest.mark.parametrize("linkname", ["../outside/secret", "a/../../outside/secret"])
def test_hardlink_escaping(box, linkname):
    root, _ = box
    refused(build_tar([Entry("h", "hardlink", linkname=linkname)]), root, "escapes")


def test_hardlink_to_host_file_absolute(box):
    root, outside = box
    # absolute link names resolve inside the root, where no such file exists
    refused(build_tar([Entry("h", "hardlink", linkname=str(outside / "secret"))]), root, "not found")


def test_hardlink_through_symlink(box):
    root, outside = box
    tar = build_tar([Entry("lnk", "symlink", linkname=str(outside)), Entry("h", "hardlink", linkname="lnk/secret")])
    refused(tar, root, "symlink")
    assert (outside / "secret").stat().st_nlink == 1


def test_hardlink_to_symlink_links_the_symlink(box):
    root, outside = box
    tar = build_tar([Entry("s", "symlink", linkname=str(outside / "secret")), Entry("h", "hardlink", linkname="s")])
    apply_layer(io.BytesIO(tar), root, overlay_whiteouts=False)
    assert os.path.islink(root / "h") and (outside / "secret").stat().st_nlink == 1


def test_device_node_outside(box):
    root, _ = box
    refused(build_tar([Entry("../outside/null", "char", major=1, minor=3)]), root, "escapes")


def test_huge_sparse_header(box):
    root, _ = box
    tb = 2 << 40
    tar = build_tar([sparse_entry("huge", tb, [(tb - 512, b"z" * 512)])])
    refused(tar, root, r'"GNUSparseFile.0/huge"|"huge".*exceeds')
    assert not (root / "huge").exists()


def test_huge_declared_size(box):
    root, _ = box
    # a PAX size record claiming 3 TiB in front of four bytes of data
    tar = build_tar([Entry("big", data=b"tiny", pax={"size": str(3 << 40)})])
    refused(tar, root, '"big".*exceeds')
    assert not (root / "big").exists()


def test_sparse_map_beyond_size(box):
    root, _ = box
    refused(build_tar([sparse_entry("s", 1024, [(4096, b"x" * 512)])]), root, "invalid sparse map")


def test_whiteout_of_dotdot(box):
    root, _ = box
    refused(build_tar([Entry("d/.wh..."), ]), root, "invalid whiteout")


def test_huge_extended_header(box):
    root, _ = box
    # a PAX record of 2 MiB (a "comment" nobody needs): refused before it is buffered
    tar = build_tar([Entry("f", data=b"x", pax={"comment": "c" * (2 << 20)})])
    refused(tar, root, "extended header of")
    long_name = "d/" + "n" * 200 + "/" + "m" * 200  # ordinary long names still work
    apply_layer(io.BytesIO(build_tar([Entry(long_name, data=b"ok")])), root, overlay_whiteouts=False)
    assert (root / long_name).read_bytes() == b"ok"
