"""Remote build contexts: URL classification, git refs and subdirs, HTTP tarballs and Dockerfiles."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.build import remote
from seabox.errdefs import FailedPrecondition, InvalidArgument, NotFound


def test_classification() -> None:
    assert remote.is_git("git://h/r.git") and remote.is_git("git@github.com:o/r.git")
    assert remote.is_git("github.com/o/r") and remote.is_git("https://h/o/r.git#main:sub")
    assert not remote.is_git("https://h/ctx.tar.gz") and remote.is_remote("https://h/ctx.tar.gz")
    assert not remote.is_remote("./ctx") and not remote.is_remote("/srv/ctx")
    assert remote.split_fragment("github.com/o/r#v1:docs/") == ("https://github.com/o/r", "v1", "docs")
    with pytest.raises(InvalidArgument, match="leaves the repository"):
        remote.split_fragment("git://h/r.git#main:../x")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / "sub").mkdir(parents=True)
    (r / "Dockerfile").write_text("FROM scratch\n")
    (r / "sub" / "which").write_text("v1\n")
    _git(r, "init", "-q", "-b", "main")
    _git(r, "add", ".")
    _git(r, "commit", "-q", "-m", "one")
    _git(r, "tag", "v1")
    (r / "sub" / "which").write_text("main\n")
    _git(r, "commit", "-q", "-am", "two")
    return r


def test_git_ref_and_subdir(repo: Path, tmp_path: Path) -> None:
    for i, (frag, want) in enumerate((("", "main\n"), ("#v1", "v1\n"), ("#main:sub", "main\n"))):
        dest = tmp_path / f"clone{i}"
        dest.mkdir()
        ctx = Path(remote.fetch_git(f"{repo}{frag}", str(dest), allow_file=True))
        assert (ctx / ("which" if frag.endswith("sub") else "sub/which")).read_text() == want
        assert not (dest / ".git").exists()
    (tmp_path / "c3").mkdir()
    with pytest.raises(FailedPrecondition, match="git fetch"):
        remote.fetch_git(f"{repo}#nope", str(tmp_path / "c3"), allow_file=True)
    (tmp_path / "c5").mkdir()
    with pytest.raises(FailedPrecondition, match="not allowed"):  # file:// only when the caller allows it
        remote.fetch_git(str(repo), str(tmp_path / "c5"))
    (tmp_path / "c4").mkdir()
    with pytest.raises(NotFound, match="no directory"):
        remote.fetch_git(f"{repo}#main:missing", str(tmp_path / "c4"), allow_file=True)


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _tar(entries: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in entries.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_http_tarball_dockerfile_and_bad_archive(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "ctx.tar.gz").write_bytes(_tar({"Dockerfile": b"FROM scratch\n", "a/b.txt": b"hi\n"}))
    (www / "ctx.tar.xz").write_bytes(_tar({"Dockerfile": b"FROM scratch\n"}, "w:xz"))
    (www / "Dockerfile.web").write_bytes(b"FROM scratch\nLABEL from=web\n")
    (www / "evil.tar").write_bytes(_tar({"../escape": b"x"}, "w"))
    (www / "junk.gz").write_bytes(b"\x1f\x8bnot gzip at all")
    with serve(www) as base:
        with remote.fetched(f"{base}/ctx.tar.gz", str(tmp_path)) as got:
            assert (Path(got.context_dir) / "a/b.txt").read_text() == "hi\n" and got.dockerfile == ""
        assert not Path(got.context_dir).exists()  # removed after the build
        with remote.fetched(f"{base}/ctx.tar.xz", str(tmp_path)) as got:
            assert (Path(got.context_dir) / "Dockerfile").exists()
        with remote.fetched(f"{base}/Dockerfile.web", str(tmp_path)) as got:
            assert Path(got.dockerfile).read_text().endswith("LABEL from=web\n")
            assert os.listdir(got.context_dir) == ["Dockerfile"]
        with pytest.raises(InvalidArgument), remote.fetched(f"{base}/evil.tar", str(tmp_path)):
            pass
        assert not (tmp_path / "escape").exists()
        with pytest.raises(InvalidArgument, match="bad gz data"), remote.fetched(f"{base}/junk.gz", str(tmp_path)):
            pass
        with pytest.raises(FailedPrecondition, match="HTTP 404"), remote.fetched(f"{base}/nope.tar",
                                                                                      str(tmp_path)):
            pass
