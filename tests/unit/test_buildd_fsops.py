"""fsops: paths resolved inside a root as a chroot would, user lookup, COPY source expansion, tar safety."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from seabox import errdefs
from seabox.buildd import fsops


def test_resolve_in_root_confines_absolute_and_relative_links(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../..", root / "up")
    assert fsops.resolve_in_root(str(root), "/abs/passwd") == str(root / "etc" / "passwd")
    assert fsops.resolve_in_root(str(root), "/up/etc") == str(root / "etc")
    assert fsops.resolve_in_root(str(root), "/../../x") == str(root / "x")
    assert fsops.resolve_in_root(str(root), "/abs", follow_last=False) == str(root / "abs")


def test_resolve_in_root_refuses_link_loops(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(errdefs.InvalidArgument, match="too many levels"):
        fsops.resolve_in_root(str(tmp_path), "/a/x")


def test_resolve_user_names_ids_and_groups(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nsvc:x:1000:1001::/home/svc:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nsvc:x:1001:\nextra:x:2000:svc\n")
    assert fsops.resolve_user(str(tmp_path), "") == (0, 0, [])
    assert fsops.resolve_user(str(tmp_path), "svc") == (1000, 1001, [2000])
    assert fsops.resolve_user(str(tmp_path), "1000") == (1000, 1001, [2000])
    assert fsops.resolve_user(str(tmp_path), "svc:extra")[:2] == (1000, 2000)
    assert fsops.resolve_user(str(tmp_path), "4242:7") == (4242, 7, [])
    with pytest.raises(errdefs.NotFound, match='user "nobody"'):
        fsops.resolve_user(str(tmp_path), "nobody")
    with pytest.raises(errdefs.NotFound, match='group "nogroup"'):
        fsops.resolve_user(str(tmp_path), "svc:nogroup")


def test_expand_sources_globs_and_filter(tmp_path):
    for n in ("a.conf", "b.conf", "c.txt", "hidden.conf"):
        (tmp_path / n).write_text(n)
    allowed = lambda rel: rel != "hidden.conf"  # noqa: E731
    assert fsops.expand_sources(str(tmp_path), ["*.conf"], allowed=allowed) == ["a.conf", "b.conf"]
    assert fsops.expand_sources(str(tmp_path), ["nomatch*"], allowed=allowed) == []
    with pytest.raises(errdefs.NotFound):
        fsops.expand_sources(str(tmp_path), ["hidden.conf"], allowed=allowed)
    with pytest.raises(errdefs.NotFound):
        fsops.expand_sources(str(tmp_path), ["missing"], allowed=None)


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data else None)
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def test_extract_stream_stays_inside_dest(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    link = tarfile.TarInfo("escape")
    link.type = tarfile.SYMTYPE
    link.linkname = str(outside)
    evil = tarfile.TarInfo("escape/pwned")
    evil.size = 2
    dots = tarfile.TarInfo("../../dots")
    dots.size = 2
    ok = tarfile.TarInfo("dir/ok.txt")
    ok.size = 2
    ok.mode = 0o640
    ok.uid = os.getuid()
    ok.gid = os.getgid()
    for t in (link, evil, dots):
        t.uid, t.gid = os.getuid(), os.getgid()
    fsops.extract_stream(_tar([(link, b""), (evil, b"xx"), (dots, b"yy"), (ok, b"ok")]), str(dest))
    assert not (outside / "pwned").exists()
    assert (dest / str(outside).lstrip("/") / "pwned").read_text() == "xx"  # written under dest, as in a chroot
    assert (dest / "dots").read_text() == "yy"
    assert (dest / "dir/ok.txt").read_text() == "ok"
    assert (dest / "dir/ok.txt").stat().st_mode & 0o777 == 0o640
