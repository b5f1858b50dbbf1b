"""Remote build contexts: a git repository or an HTTP(S) tarball or Dockerfile, as ``docker build`` takes.

Design reason: the context is fetched on the client's side into a temp dir and then built like
a local directory, as docker's classic builder does — buildd stays a builder of directories and
needs no network access of its own.  The URL forms follow docker's:

* git: ``git://…``, ``git@host:…``, ``github.com/…``, or ``http(s)://…`` whose path ends in
  ``.git`` (before any ``#``); ``#<ref>:<subdir>`` picks a branch, tag or commit and a
  directory inside the repository.  The ref is fetched shallowly (``git fetch --depth 1``) with
  submodules, using the ``git`` binary (the protocol is git's own business, not ours).
* any other ``http(s)://`` URL: a tar archive (plain, gzip, bzip2 or xz, detected from its
  first bytes) is the context; anything else is taken as the Dockerfile's text with an empty
  context.

Extraction goes through the image layer applier (``seabox.snapshots.apply``), which resolves
every path inside the context directory, so no entry or link can write outside it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from seabox import errdefs

MAX_DOWNLOAD = 1 << 30
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass
class Fetched:
    context_dir: str
    dockerfile: str  # "" = the context's own Dockerfile


def is_git(url: str) -> bool:
    if url.startswith(("git://", "git@", "github.com/")):
        return True
    if url.startswith(("http://", "https://")):
        return url.split("#", 1)[0].rstrip("/").endswith(".git")
    return False


def is_remote(context: str) -> bool:
    return is_git(context) or context.startswith(("http://", "https://"))


def split_fragment(url: str) -> tuple[str, str, str]:
    """``repo#ref:subdir`` → (repo, ref, subdir); subdir must stay inside the repository."""
    repo, _, frag = url.partition("#")
    ref, _, subdir = frag.partition(":")
    subdir = subdir.strip("/")
    if subdir and (os.path.isabs(subdir) or ".." in subdir.split("/")):
        raise errdefs.InvalidArgument(f"build context {url}: subdirectory {subdir!r} leaves the repository")
    if repo.startswith("github.com/"):
        repo = "https://" + repo
    return repo, ref, subdir


def _git(args: list[str], cwd: str, url: str, allow_file: bool = False) -> None:
    # no prompts; "user" transports (file://, and so a submodule pointing at the client's own
    # repositories) stay off unless a caller (tests) allows them
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PROTOCOL_FROM_USER": "1" if allow_file else "0"}
    try:
        p = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise errdefs.FailedPrecondition(f"build context {url}: git is not installed") from None
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or ["failed"])[-1]
        raise errdefs.FailedPrecondition(f"build context {url}: git {args[0]}: {why}")


def fetch_git(url: str, dest: str, *, allow_file: bool = False) -> str:
    """Clone ``url``'s ref into ``dest``; returns the context directory (the subdir, if any)."""
    repo, ref, subdir = split_fragment(url)

    def git(*args: str) -> None:
        _git(list(args), dest, url, allow_file)

    git("init", "-q")
    git("remote", "add", "origin", repo)
    want = ref or "HEAD"
    try:
        git("fetch", "-q", "--depth", "1", "origin", want)
    except errdefs.FailedPrecondition:
        if not _SHA.match(want):
            raise
        git("fetch", "-q", "origin")  # a commit the server will not serve shallowly by id
    git("-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD" if not _SHA.match(want) else want)
    if os.path.exists(os.path.join(dest, ".gitmodules")):
        git("submodule", "update", "-q", "--init", "--recursive", "--depth", "1")
    shutil.rmtree(os.path.join(dest, ".git"), ignore_errors=True)
    ctx = os.path.realpath(os.path.join(dest, subdir)) if subdir else dest
    if not (ctx == dest or ctx.startswith(dest + os.sep)) or not os.path.isdir(ctx):
        raise errdefs.NotFound(errdefs.subject("build context", url, f"no directory {subdir!r} in the repository"))
    return ctx


def _compression(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return ""


def _is_tar(data: bytes) -> bool:
    return len(data) >= 262 and data[257:262] == b"ustar"


def fetch_url(url: str, dest: str) -> Fetched:
    """Download ``url``: a tarball becomes the context, anything else the Dockerfile."""
    from urllib.parse import urlsplit

    # http(s) only (see is_remote); a loopback host is never sent through the environment's proxy
    host = urlsplit(url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if host in ("localhost", "::1") or host.startswith("127.") else []
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=60) as resp:
            data = resp.read(MAX_DOWNLOAD + 1)
    except urllib.error.HTTPError as e:
        raise errdefs.FailedPrecondition(f"build context {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise errdefs.FailedPrecondition(f"build context {url}: {getattr(e, 'reason', e)}") from None
    if len(data) > MAX_DOWNLOAD:
        raise errdefs.InvalidArgument(f"build context {url}: larger than {MAX_DOWNLOAD >> 20} MiB")
    comp = _compression(data[:6])
    if comp:
        import bz2
        import gzip
        import lzma

        try:
            plain = {"gz": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress}[comp](data)
        except (OSError, EOFError, ValueError, lzma.LZMAError) as e:
            raise errdefs.InvalidArgument(f"build context {url}: bad {comp} data: {e}") from None
    else:
        plain = data
    if not _is_tar(plain):
        if comp:
            raise errdefs.InvalidArgument(f"build context {url}: compressed, but not a tar archive")
        with open(os.path.join(dest, "Dockerfile"), "wb") as f:
            f.write(plain)
        return Fetched(dest, os.path.join(dest, "Dockerfile"))
    from pathlib import Path

    from seabox.snapshots.apply import apply_layer

    try:  # the layer applier: every path resolved inside dest, links included
        apply_layer(io.BytesIO(plain), Path(dest), overlay_whiteouts=False)
    except (errdefs.SeaboxError, tarfile.TarError, OSError) as e:
        raise errdefs.InvalidArgument(f"build context {url}: {e}") from None
    return Fetched(dest, "")


@contextlib.contextmanager
def fetched(context: str, tmp_root: str | None = None) -> Iterator[Fetched]:
    """The remote context in a temp dir for the length of the build."""
    tmp = tempfile.mkdtemp(prefix="seabox-context-", dir=tmp_root)
    try:
        if is_git(context):
            yield Fetched(fetch_git(context, tmp), "")
        else:
            yield fetch_url(context, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
