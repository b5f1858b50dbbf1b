"""Pull against the fixture registries: tags, digests, dialects, zstd, platforms, mirrors, auth, TLS."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from seabox import errdefs
from seabox.content.store import ContentStore
from seabox.images.pull import ProgressEvent, pull
from seabox.images.registry.client import RegistryClient, login
from seabox.images.registry.credentials import CredentialStore
from seabox.oci import image as oci
from seabox.oci import platform as platforms
from seabox.snapshots.overlay import OverlaySnapshotter

pytestmark = [pytest.mark.e2e, pytest.mark.root]


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


@pytest.fixture
def snap(tmp_path: Path) -> Any:
    s = OverlaySnapshotter(tmp_path / "snapshots")
    yield s
    s.close()


class Recorder:
    """A RegistryClient whose transport records every endpoint it connects to."""

    def __init__(self, **kw: Any) -> None:
        self.client = RegistryClient(**kw)
        self.netlocs: list[str] = []
        send = self.client.transport.send

        def rec(method: str, scheme: str, netloc: str, *a: Any, **k: Any) -> Any:
            self.netlocs.append(netloc)
            return send(method, scheme, netloc, *a, **k)

        self.client.transport.send = rec  # type: ignore[method-assign]


def test_pull_by_tag_unpacks_busybox(fixtures_info: dict, store: ContentStore, snap: Any) -> None:
    fx = fixtures_info["images"]["busybox"]
    events: list[ProgressEvent] = []
    img = pull(fx["ref"], content_store=store, snapshotter=snap, progress=events.append)
    assert img.target.digest == fx["digest"]
    assert img.target.media_type == oci.DOCKER_MANIFEST
    assert img.config_descriptor.digest == fx["config"]
    assert [x.digest for x in img.manifest.layers] == [x["digest"] for x in fx["layers"]]
    root = snap.path_of(img.snapshot)
    assert (root / "bin" / "busybox").is_file()
    want = sorted(p.name for p in Path(fixtures_info["rootfs"]["busybox"]).iterdir())
    assert sorted(p.name for p in root.iterdir()) == want
    kinds = [e.kind for e in events]
    assert kinds[0] == "resolved" and "downloading" in kinds and "extracting" in kinds and kinds[-1] == "done"
    for d in [fx["digest"], fx["config"], *(x["digest"] for x in fx["layers"])]:
        assert store.exists(d)
    labels = store.info(fx["layers"][0]["digest"]).labels
    assert labels["containerd.io/uncompressed"] == img.config.diff_ids[0]
    assert labels["containerd.io/distribution.source.127.0.0.1:5000"] == "library/busybox"
    # a second pull finds everything in place
    events.clear()
    again = pull(fx["ref"], content_store=store, snapshotter=snap, progress=events.append)
    assert again.snapshot == img.snapshot
    assert "downloading" not in [e.kind for e in events] and "extracting" not in [e.kind for e in events]
    assert "already-exists" in [e.kind for e in events]


def test_pull_by_digest(fixtures_info: dict, store: ContentStore) -> None:
    fx = fixtures_info["images"]["busybox"]
    name = fx["ref"].rsplit(":", 1)[0]
    img = pull(f"{name}@{fx['digest']}", content_store=store)
    assert img.target.digest == fx["digest"] and img.snapshot is None
    bad = fx["digest"][:-6] + "000000"
    with pytest.raises(errdefs.NotFound, match="not found"):
        pull(f"{name}@{bad}", content_store=store)


@pytest.mark.parametrize("name", ["busybox-oci", "busybox-zstd"])
def test_pull_oci_and_zstd(fixtures_info: dict, store: ContentStore, snap: Any, name: str) -> None:
    fx = fixtures_info["images"][name]
    img = pull(fx["ref"], content_store=store, snapshotter=snap)
    assert img.target.media_type == oci.OCI_MANIFEST
    if name == "busybox-zstd":
        assert oci.layer_compression(img.manifest.layers[0].media_type) == "zstd"
    assert (snap.path_of(img.snapshot) / "bin" / "busybox").is_file()


def test_multi_platform_index(fixtures_info: dict, store: ContentStore, snap: Any) -> None:
    fx = fixtures_info["images"]["busybox-multi"]
    img = pull(fx["ref"], content_store=store, snapshotter=snap)
    assert img.target.media_type == oci.OCI_INDEX and img.target.digest == fx["digest"]
    assert platforms.only(platforms.host()).match(img.platform)
    assert img.config.architecture == platforms.host().architecture
    arm = pull(fx["ref"], content_store=store, platform="linux/arm64")
    assert arm.config.architecture == "arm64"
    assert arm.manifest_descriptor.digest != img.manifest_descriptor.digest
    with pytest.raises(errdefs.NotFound, match="no manifest for platform linux/s390x"):
        pull(fx["ref"], content_store=store, platform="linux/s390x")
    every = pull(fx["ref"], content_store=store, platform="all")
    assert len(every.other_platforms) >= 1
    for d in [every.manifest_descriptor, *every.other_platforms]:
        assert store.exists(d.digest)
        m = oci.parse_manifest(store.read_bytes(d.digest))
        assert all(store.exists(x.digest) for x in [m.config, *m.layers])


def test_single_platform_image_and_an_explicit_platform(fixtures_info: dict, store: ContentStore) -> None:
    fx = fixtures_info["images"]["busybox"]  # one manifest, no index: the host's platform
    host = platforms.display(platforms.host())
    assert pull(fx["ref"], content_store=store, platform=host).config.architecture == platforms.host().architecture
    with pytest.raises(errdefs.NotFound, match=f"is for {host}, not the requested linux/s390x"):
        pull(fx["ref"], content_store=store, platform="linux/s390x")
    assert pull(fx["ref"], content_store=store).target.digest == fx["digest"]  # no platform asked: taken as it is


def test_docker_io_through_mirror(fixtures_info: dict, store: ContentStore, tmp_path: Path) -> None:
    hosts = tmp_path / "certs.d"
    (hosts / "docker.io").mkdir(parents=True)
    (hosts / "docker.io" / "hosts.toml").write_text(
        'server = "https://registry-1.docker.io"\n\n'
        f'[host."http://127.0.0.1:{_free_port()}"]\n  capabilities = ["pull", "resolve"]\n\n'
        '[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n'
    )
    rec = Recorder(hosts_dir=hosts)
    img = pull("busybox:latest", content_store=store, client=rec.client)
    assert img.name == "docker.io/library/busybox:latest"
    assert img.target.digest == fixtures_info["images"]["busybox"]["digest"]
    assert "127.0.0.1:5000" in rec.netlocs
    assert "registry-1.docker.io" not in rec.netlocs  # the dead mirror was skipped, upstream never asked
    rec.client.close()


def test_mirror_404_falls_through_to_next_host(fixtures_info: dict, store: ContentStore, tmp_path: Path) -> None:
    # the auth registry has no library/busybox: the mirror answers 404/401, the next host serves it
    hosts = tmp_path / "certs.d"
    (hosts / "docker.io").mkdir(parents=True)
    (hosts / "docker.io" / "hosts.toml").write_text(
        'server = "http://127.0.0.1:5000"\n[host."http://127.0.0.1:5001"]\n  capabilities = ["pull", "resolve"]\n'
    )
    img = pull("docker.io/library/busybox:oci", content_store=store, hosts_dir=hosts)
    assert img.target.digest == fixtures_info["images"]["busybox-oci"]["digest"]


def _free_port() -> int:
    from seabox.images.registry.testing import free_port

    return free_port()


def test_auth_registry(fixtures_info: dict, store: ContentStore, tmp_path: Path) -> None:
    fx = fixtures_info["images"]["auth-busybox"]
    reg = fixtures_info["registries"]["auth"]
    cfg = tmp_path / "docker" / "config.json"
    with pytest.raises(errdefs.Unauthorized) as ei:
        pull(fx["ref"], content_store=store, credentials=CredentialStore(cfg))
    assert "unauthorized: authentication required for 127.0.0.1:5001/infra/busybox" in str(ei.value)
    with pytest.raises(errdefs.Unauthorized, match=r"login to 127\.0\.0\.1:5001 failed"):
        login(reg["host"], reg["username"], "wrong", config_path=cfg)
    assert not cfg.exists()
    assert login(reg["host"], reg["username"], reg["password"], config_path=cfg) == cfg
    assert oct(cfg.stat().st_mode & 0o777) == "0o600"
    assert json.loads(cfg.read_text())["auths"]["127.0.0.1:5001"]["auth"]
    img = pull(fx["ref"], content_store=store, credentials=CredentialStore(cfg))
    assert img.target.digest == fx["digest"]


def _tls_hosts(tmp_path: Path, body: str) -> Path:
    d = tmp_path / "hosts" / "127.0.0.1:5002"
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text('server = "https://127.0.0.1:5002"\n' + body)
    return tmp_path / "hosts"


def test_tls_registry(fixtures_info: dict, store: ContentStore, tmp_path: Path) -> None:
    fx = fixtures_info["images"]["tls-busybox"]
    ca = fixtures_info["registries"]["tls"]["ca"]
    with pytest.raises(errdefs.Unavailable) as ei:
        pull(fx["ref"], content_store=store)
    assert "certificate" in str(ei.value) and "127.0.0.1:5002" in str(ei.value)
    img = pull(fx["ref"], content_store=store, hosts_dir=_tls_hosts(tmp_path / "a", f'ca = "{ca}"\n'))
    assert img.target.digest == fx["digest"]
    s2 = ContentStore(tmp_path / "c2")
    img = pull(fx["ref"], content_store=s2, hosts_dir=_tls_hosts(tmp_path / "b", "skip_verify = true\n"))
    assert img.target.digest == fx["digest"]
    s3 = ContentStore(tmp_path / "c3")
    img = pull(fx["ref"], content_store=s3, skip_verify=True)
    assert img.target.digest == fx["digest"]
    # docker's certs.d layout (ca.crt, no hosts.toml) works too
    s4 = ContentStore(tmp_path / "c4")
    certs = Path(fixtures_info["registries"]["tls"]["cert_dir"])
    if certs.name != "127.0.0.1:5002":
        d = tmp_path / "dockercerts" / "127.0.0.1:5002"
        d.mkdir(parents=True)
        (d / "ca.crt").write_bytes(Path(ca).read_bytes())
        certs = d
    img = pull(fx["ref"], content_store=s4, hosts_dir=certs.parent)
    assert img.target.digest == fx["digest"]


def test_unknown_repository_and_tag(fixtures_info: dict, store: ContentStore) -> None:
    with pytest.raises(errdefs.NotFound, match="not found"):
        pull(f"127.0.0.1:5000/sbt-{secrets.token_hex(4)}/none:latest", content_store=store)
    with pytest.raises(errdefs.NotFound, match=r"127\.0\.0\.1:5000/library/busybox:no-such-tag"):
        pull("127.0.0.1:5000/library/busybox:no-such-tag", content_store=store)
