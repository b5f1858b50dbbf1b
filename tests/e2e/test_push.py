"""Push to the fixture registries and read the result back with skopeo (the oracle)."""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.content.store import ContentStore
from seabox.images.pull import pull
from seabox.images.push import PushEvent, push
from seabox.images.registry.credentials import CredentialStore
from seabox.oci import image as oci

pytestmark = pytest.mark.e2e


def skopeo_raw(ref: str, *extra: str) -> bytes:
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", *extra, f"docker://{ref}"],
                         check=True, capture_output=True, timeout=60)  # fmt: skip
    return out.stdout


def skopeo_inspect(ref: str, *extra: str) -> dict:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{ref}"],
                         check=True, capture_output=True, text=True, timeout=60)  # fmt: skip
    return json.loads(out.stdout)


@pytest.fixture
def repos() -> Iterator[list[tuple[str, str, str]]]:
    """Unique repository names; their manifests are deleted afterwards (best effort)."""
    made: list[tuple[str, str, str]] = []  # (host, repo, digest)
    yield made
    for host, repo, digest in made:
        try:
            c = http.client.HTTPConnection(host, timeout=5)
            c.request("DELETE", f"/v2/{repo}/manifests/{digest}")
            c.getresponse().read()
            c.close()
        except OSError:
            pass


def _name() -> str:
    return f"sbt-{secrets.token_hex(4)}"


def test_push_chunked_then_exists_then_mount(fixtures_info: dict, tmp_path: Path, repos: list) -> None:
    fx = fixtures_info["images"]["busybox"]
    store = ContentStore(tmp_path / "c")
    img = pull(fx["ref"], content_store=store)
    repo = f"{_name()}/busybox"
    dest = f"127.0.0.1:5000/{repo}:t1"
    events: list[PushEvent] = []
    res = push(dest, img.target, content_store=store, chunk_size=64 * 1024, cross_repo_mount=False,
               progress=events.append)  # fmt: skip
    repos.append(("127.0.0.1:5000", repo, img.target.digest))
    assert set(res.uploaded) == {img.manifest.config.digest, *(x.digest for x in img.manifest.layers)}
    layer = img.manifest.layers[0]
    ups = [e.current for e in events if e.kind == "uploading" and e.digest == layer.digest]
    assert len(ups) == -(-layer.size // (64 * 1024)) and ups[-1] == layer.size  # one event per PATCH chunk
    assert skopeo_raw(dest) == store.read_bytes(img.target.digest)
    info = skopeo_inspect(dest)
    assert info["Digest"] == img.target.digest and info["Architecture"] == img.config.architecture
    # the same repository again: every blob exists
    res = push(f"127.0.0.1:5000/{repo}:t2", img.target, content_store=store)
    assert layer.digest in res.existed and res.uploaded == () and res.mounted == ()
    # another repository: blobs are mounted from library/busybox (pull labelled their source)
    repo2 = f"{_name()}/busybox"
    res = push(f"127.0.0.1:5000/{repo2}:t1", img.target, content_store=store)
    repos.append(("127.0.0.1:5000", repo2, img.target.digest))
    assert layer.digest in res.mounted and res.uploaded == ()
    assert skopeo_inspect(f"127.0.0.1:5000/{repo2}:t1")["Digest"] == img.target.digest


def test_push_monolithic_index(fixtures_info: dict, tmp_path: Path, repos: list) -> None:
    fx = fixtures_info["images"]["busybox-multi"]
    store = ContentStore(tmp_path / "c")
    img = pull(fx["ref"], content_store=store, platform="all")
    repo = f"{_name()}/multi"
    dest = f"127.0.0.1:5000/{repo}:v1"
    res = push(dest, img.target, content_store=store, cross_repo_mount=False)
    repos.append(("127.0.0.1:5000", repo, img.target.digest))
    assert res.descriptor.digest == fx["digest"]
    raw = skopeo_raw(dest)
    assert json.loads(raw)["mediaType"] == oci.OCI_INDEX
    assert raw == store.read_bytes(img.target.digest)
    arm = skopeo_inspect(dest, "--override-arch", "arm64")
    assert arm["Architecture"] == "arm64"


def test_push_single_platform_of_an_index(fixtures_info: dict, tmp_path: Path, repos: list) -> None:
    fx = fixtures_info["images"]["busybox-multi"]
    store = ContentStore(tmp_path / "c")
    img = pull(fx["ref"], content_store=store)  # only the host's platform is in the store
    repo = f"{_name()}/one"
    res = push(f"127.0.0.1:5000/{repo}:v1", img.target, content_store=store)
    repos.append(("127.0.0.1:5000", repo, res.descriptor.digest))
    assert res.descriptor.digest == img.manifest_descriptor.digest
    raw = skopeo_raw(f"127.0.0.1:5000/{repo}:v1")
    assert raw == store.read_bytes(img.manifest_descriptor.digest)
    assert "manifests" not in json.loads(raw) and "layers" in json.loads(raw)


def test_push_to_auth_registry(fixtures_info: dict, tmp_path: Path) -> None:
    fx = fixtures_info["images"]["busybox"]
    reg = fixtures_info["registries"]["auth"]
    store = ContentStore(tmp_path / "c")
    img = pull(fx["ref"], content_store=store)
    dest = f"{reg['host']}/{_name()}/busybox:v1"
    with pytest.raises(errdefs.Unauthorized, match=r"unauthorized: authentication required for 127\.0\.0\.1:5001/sbt-"):
        push(dest, img.target, content_store=store)
    creds = CredentialStore(tmp_path / "config.json")
    creds.store(reg["host"], reg["username"], reg["password"])
    res = push(dest, img.target, content_store=store, credentials=creds, chunk_size=256 * 1024)
    assert res.descriptor.digest == img.target.digest
    info = skopeo_inspect(dest, "--creds", f"{reg['username']}:{reg['password']}")
    assert info["Digest"] == img.target.digest


def test_push_missing_content(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "c")
    d = oci.Descriptor(oci.OCI_MANIFEST, "sha256:" + "0" * 64, 10)
    with pytest.raises(errdefs.NotFound, match="not in the store"):
        push("127.0.0.1:5000/sbt-x/y:z", d, content_store=store)
