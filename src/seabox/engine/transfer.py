"""Images in and out: push to a registry, save to a tar, load from a tar.

Design reason: these reuse the ctr library's client-side pieces over seaboxd's own API
(``seabox.ctr.archive`` export/import, ``seabox.images.push``), so the engine adds only
docker's progress lines and names.  Save/load go through temp files in the engine's state dir
(an image tar can be large; nothing is held in memory).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.engine.images import credentials_from_header, familiar, normalize


def _tmpdir(engine: Any) -> Path:
    d = Path(engine.settings.state) / "engine" / "tmp"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def push(engine: Any, ns: str, name: str, tag: str, auth: str) -> Iterator[bytes]:
    from seabox.ctr import images as ctrimages
    from seabox.images.push import push as do_push
    from seabox.images.registry.client import RegistryClient
    from seabox.oci import reference as references

    ref = normalize(f"{name}:{tag}" if tag else name)
    creds = credentials_from_header(auth) or engine.credentials()

    def stream() -> Iterator[bytes]:
        r = references.parse_with_default_tag(ref)
        yield json.dumps({"status": f"The push refers to repository [{familiar(f'{r.domain}/{r.path}')}]"}).encode() \
            + b"\r\n"
        c = engine.new_client(ns)
        rc = RegistryClient(hosts_dir=engine.settings.hosts_dir or None, credentials=creds)
        try:
            img = ctrimages.get(c, ref)
            desc = ctrimages._desc(img.target)
            do_push(r, desc, content_store=ctrimages.RemoteStore(c), client=rc)
            yield json.dumps({"status": f"{r.tag or 'latest'}: digest: {desc.digest} size: {desc.size}"}).encode() \
                + b"\r\n"
            yield json.dumps({"progressDetail": {}, "aux": {"Tag": r.tag or "latest", "Digest": desc.digest,
                                                            "Size": desc.size}}).encode() + b"\r\n"
        except Exception as e:
            msg = str(e)
            yield json.dumps({"errorDetail": {"message": msg}, "error": msg}).encode() + b"\r\n"
        finally:
            rc.close()
            c.close()

    return stream()


def save(engine: Any, ns: str, names: list[str]) -> Iterator[bytes]:
    from seabox.ctr import archive

    if not names:
        raise errdefs.InvalidArgument("images/get: at least one image name is required")
    refs = []
    for n in names:
        r = engine.images.resolve(ns, n)
        refs.append(r.name)
    fd, path = tempfile.mkstemp(prefix="save-", suffix=".tar", dir=_tmpdir(engine))
    os.close(fd)
    c = engine.new_client(ns)
    try:
        archive.export(c, path, refs)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        c.close()

    def stream() -> Iterator[bytes]:
        try:
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        return
                    yield chunk
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    return stream()


def load(engine: Any, ns: str, body: bytes, *, quiet: bool = False) -> bytes:
    from seabox.ctr import archive

    fd, path = tempfile.mkstemp(prefix="load-", suffix=".tar", dir=_tmpdir(engine))
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    out = io.StringIO()
    c = engine.new_client(ns)
    lines: list[dict[str, Any]] = []
    try:
        before = {r.name for r in engine.images.records(ns)}
        archive.import_(c, path, out, digests=True)
        after = {r.name for r in engine.images.records(ns)}
        for n in sorted(after - before) or sorted(after & _names(out.getvalue())):
            lines.append({"stream": f"Loaded image: {familiar(n)}\n"})
    except Exception as e:
        lines.append({"errorDetail": {"message": str(e)}, "error": str(e)})
    finally:
        c.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
    return b"".join(json.dumps(x).encode() + b"\r\n" for x in lines)


def _names(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        if line.startswith("unpacking "):
            out.add(line.split()[1])
    return out
