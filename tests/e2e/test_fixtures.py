"""The fixture registries and images that ``make fixtures`` builds (tools/fixtures.py).

These talk plain HTTP to the registries with urllib only: neither skopeo (which built the
fixtures) nor seabox's own registry client (which these fixtures exist to test) is used, so a
fault in either cannot hide itself here.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import json
import ssl
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT_ALL = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
EM_X86_64 = 62
EM_AARCH64 = 183

IMAGES = [
    "busybox",
    "busybox-oci",
    "busybox-zstd",
    "busybox-multi",
    "nginx",
    "auth-busybox",
    "auth-nginx",
    "tls-busybox",
]


class Response:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def request(
    reg: dict[str, Any],
    path: str,
    *,
    accept: str | None = None,
    creds: tuple[str, str] | bool | None = True,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One HTTP request; ``creds=True`` uses the registry's recorded credentials, if any."""
    url = path if path.startswith("http") else reg["url"] + path
    req = urllib.request.Request(url, method=method, data=data, headers=dict(headers or {}))
    if accept:
        req.add_header("Accept", accept)
    if creds is True:
        creds = (reg["username"], reg["password"]) if "username" in reg else None
    if creds:
        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context(cafile=reg["ca"]) if "ca" in reg else None
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def fetch_blob(fixtures_info: dict) -> Any:
    """Blob bytes by (registry name, repository, digest), fetched once per session."""

    @functools.cache
    def fetch(reg_name: str, repo: str, digest: str) -> bytes:
        r = request(fixtures_info["registries"][reg_name], f"/v2/{repo}/blobs/{digest}")
        assert r.status == 200, f"{reg_name} {repo}@{digest}: HTTP {r.status}"
        return r.body

    return fetch


def image(info: dict, name: str) -> tuple[dict, dict]:
    img = info["images"][name]
    return img, info["registries"][img["registry"]]


def manifest(info: dict, name: str, ref: str | None = None) -> tuple[dict, bytes, Response]:
    img, reg = image(info, name)
    r = request(reg, f"/v2/{img['repository']}/manifests/{ref or img['tag']}", accept=img["mediaType"])
    assert r.status == 200, f"{name}: HTTP {r.status} {r.body[:200]!r}"
    return json.loads(r.body), r.body, r


def layer_tar(data: bytes, media_type: str) -> bytes:
    if media_type.endswith("zstd"):
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    if media_type.endswith("gzip"):
        return gzip.decompress(data)
    return data


def tar_members(tar: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return {m.name.removeprefix("./").rstrip("/"): m for m in t.getmembers()}


def tar_file(tar: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        for m in t.getmembers():
            if m.name.removeprefix("./") == name:
                f = t.extractfile(m)
                assert f is not None
                return f.read()
    raise AssertionError(f"{name} not in layer")


def image_layer(info: dict, fetch_blob: Any, name: str) -> tuple[dict, bytes]:
    """(config, uncompressed tar of the single layer) of a single-platform image."""
    img, _ = image(info, name)
    m, _, _ = manifest(info, name)
    config = json.loads(fetch_blob(img["registry"], img["repository"], m["config"]["digest"]))
    assert len(m["layers"]) == 1
    layer = m["layers"][0]
    return config, layer_tar(
        fetch_blob(img["registry"], img["repository"], layer["digest"]), layer["mediaType"]
    )


# ------------------------------------------------------------------ every registry serves its images


@pytest.mark.parametrize("name", IMAGES)
def test_manifest_by_tag_has_recorded_digest_and_media_type(fixtures_info: dict, name: str) -> None:
    img, _ = image(fixtures_info, name)
    m, body, r = manifest(fixtures_info, name)
    assert sha(body) == img["digest"]
    assert r.headers["Docker-Content-Digest"] == img["digest"]
    assert r.headers["Content-Type"] == img["mediaType"]
    assert m["schemaVersion"] == 2
    assert m.get("mediaType", img["mediaType"]) == img["mediaType"]
    assert (
        img["ref"]
        == f"{fixtures_info['registries'][img['registry']]['host']}/{img['repository']}:{img['tag']}"
    )


@pytest.mark.parametrize("name", IMAGES)
def test_manifest_by_digest_and_head(fixtures_info: dict, name: str) -> None:
    img, reg = image(fixtures_info, name)
    _, body, _ = manifest(fixtures_info, name, img["digest"])
    assert sha(body) == img["digest"]
    head = request(
        reg, f"/v2/{img['repository']}/manifests/{img['tag']}", accept=img["mediaType"], method="HEAD"
    )
    assert head.status == 200
    assert head.headers["Docker-Content-Digest"] == img["digest"]


@pytest.mark.parametrize("name", IMAGES)
def test_every_referenced_blob_is_served_and_matches_its_digest(
    fixtures_info: dict, fetch_blob: Any, name: str
) -> None:
    img, reg = image(fixtures_info, name)
    m, _, _ = manifest(fixtures_info, name)
    manifests = [m]
    for child in m.get("manifests", []):
        r = request(reg, f"/v2/{img['repository']}/manifests/{child['digest']}", accept=child["mediaType"])
        assert r.status == 200
        assert sha(r.body) == child["digest"] and len(r.body) == child["size"]
        manifests.append(json.loads(r.body))
    blobs = [d for mm in manifests for d in ([mm["config"], *mm["layers"]] if "config" in mm else [])]
    assert blobs
    for desc in blobs:
        data = fetch_blob(img["registry"], img["repository"], desc["digest"])
        assert sha(data) == desc["digest"]
        assert len(data) == desc["size"]


@pytest.mark.parametrize("name", ["busybox", "busybox-oci", "busybox-zstd", "nginx"])
def test_layer_diff_ids_match_config(fixtures_info: dict, fetch_blob: Any, name: str) -> None:
    img, _ = image(fixtures_info, name)
    m, _, _ = manifest(fixtures_info, name)
    config = json.loads(fetch_blob(img["registry"], img["repository"], m["config"]["digest"]))
    tars = [
        layer_tar(fetch_blob(img["registry"], img["repository"], d["digest"]), d["mediaType"])
        for d in m["layers"]
    ]
    assert config["rootfs"]["diff_ids"] == [sha(t) for t in tars]


# ------------------------------------------------------------------ the auth registry


def test_auth_registry_refuses_anonymous(fixtures_info: dict) -> None:
    img, reg = image(fixtures_info, "auth-busybox")
    for path in ("/v2/", f"/v2/{img['repository']}/manifests/{img['tag']}"):
        r = request(reg, path, accept=ACCEPT_ALL, creds=None)
        assert r.status == 401, path
        assert r.headers["WWW-Authenticate"].startswith("Basic "), r.headers["WWW-Authenticate"]
        assert 'realm="' in r.headers["WWW-Authenticate"]


def test_auth_registry_refuses_a_wrong_password(fixtures_info: dict) -> None:
    img, reg = image(fixtures_info, "auth-nginx")
    r = request(
        reg, f"/v2/{img['repository']}/manifests/{img['tag']}", accept=ACCEPT_ALL, creds=("admin", "nope")
    )
    assert r.status == 401


def test_auth_registry_accepts_admin(fixtures_info: dict) -> None:
    reg = fixtures_info["registries"]["auth"]
    assert (reg["username"], reg["password"]) == ("admin", "Harbor12345")
    r = request(reg, "/v2/", creds=("admin", "Harbor12345"))
    assert r.status == 200
    for name in ("auth-busybox", "auth-nginx"):
        img, _ = image(fixtures_info, name)
        assert img["ref"].startswith("127.0.0.1:5001/infra/")


def test_open_registry_needs_no_credentials(fixtures_info: dict) -> None:
    img, reg = image(fixtures_info, "busybox")
    r = request(reg, f"/v2/{img['repository']}/manifests/{img['tag']}", accept=img["mediaType"], creds=None)
    assert r.status == 200


# ------------------------------------------------------------------ the variants


def test_busybox_latest_is_docker_schema2(fixtures_info: dict) -> None:
    m, _, _ = manifest(fixtures_info, "busybox")
    assert m["mediaType"] == DOCKER_MANIFEST
    assert m["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert [x["mediaType"] for x in m["layers"]] == ["application/vnd.docker.image.rootfs.diff.tar.gzip"]
    assert fixtures_info["images"]["busybox"]["ref"] == "127.0.0.1:5000/library/busybox:latest"


def test_busybox_oci_is_an_oci_manifest(fixtures_info: dict) -> None:
    img, _ = image(fixtures_info, "busybox-oci")
    assert img["mediaType"] == OCI_MANIFEST
    m, _, _ = manifest(fixtures_info, "busybox-oci")
    assert m["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [x["mediaType"] for x in m["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]


def test_busybox_zstd_layers_are_zstd(fixtures_info: dict, fetch_blob: Any) -> None:
    img, _ = image(fixtures_info, "busybox-zstd")
    assert img["mediaType"] == OCI_MANIFEST
    m, _, _ = manifest(fixtures_info, "busybox-zstd")
    assert m["layers"]
    for layer in m["layers"]:
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
        data = fetch_blob(img["registry"], img["repository"], layer["digest"])
        assert data[:4] == ZSTD_MAGIC
    # same filesystem as the gzip variant
    _, tar_zstd = image_layer(fixtures_info, fetch_blob, "busybox-zstd")
    _, tar_gzip = image_layer(fixtures_info, fetch_blob, "busybox-oci")
    assert sha(tar_zstd) == sha(tar_gzip)


def test_busybox_multi_is_an_index_of_amd64_and_arm64(fixtures_info: dict, fetch_blob: Any) -> None:
    img, reg = image(fixtures_info, "busybox-multi")
    assert img["mediaType"] == OCI_INDEX
    idx, _, _ = manifest(fixtures_info, "busybox-multi")
    assert idx["mediaType"] == OCI_INDEX
    platforms = {f"{d['platform']['os']}/{d['platform']['architecture']}": d for d in idx["manifests"]}
    assert sorted(platforms) == ["linux/amd64", "linux/arm64"]
    assert {p: d["digest"] for p, d in platforms.items()} == img["platforms"]
    for platform, desc in platforms.items():
        arch = platform.split("/")[1]
        r = request(reg, f"/v2/{img['repository']}/manifests/{desc['digest']}", accept=desc["mediaType"])
        assert r.status == 200
        m = json.loads(r.body)
        config = json.loads(fetch_blob(img["registry"], img["repository"], m["config"]["digest"]))
        assert (config["os"], config["architecture"]) == ("linux", arch)
        (layer,) = m["layers"]
        tar = layer_tar(fetch_blob(img["registry"], img["repository"], layer["digest"]), layer["mediaType"])
        elf = tar_file(tar, "bin/busybox")
        assert elf[:4] == b"\x7fELF"
        e_machine = int.from_bytes(elf[18:20], "little")
        assert e_machine == {"amd64": EM_X86_64, "arm64": EM_AARCH64}[arch], (platform, e_machine)
        assert tar_file(tar, "etc/seabox-fixture").decode().strip() == f"busybox {platform}"


def test_busybox_image_contents(fixtures_info: dict, fetch_blob: Any) -> None:
    config, tar = image_layer(fixtures_info, fetch_blob, "busybox")
    assert config["config"]["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") for e in config["config"]["Env"])
    members = tar_members(tar)
    assert members["bin/busybox"].isfile()
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].isdir() and members["tmp"].mode & 0o7777 == 0o1777
    for d in ("proc", "sys", "dev", "etc", "root", "home"):
        assert members[d].isdir(), d
    passwd = tar_file(tar, "etc/passwd").decode()
    assert "root:x:0:0:" in passwd
    assert "nobody:x:65534:65534:" in passwd
    group = tar_file(tar, "etc/group").decode()
    assert "root:x:0:" in group and ":65534:" in group
    assert tar_file(tar, "etc/seabox-fixture").decode().strip() == "busybox linux/amd64"


def test_nginx_image(fixtures_info: dict, fetch_blob: Any) -> None:
    img, _ = image(fixtures_info, "nginx")
    assert img["ref"] == "127.0.0.1:5000/library/nginx:1.26"
    assert img["mediaType"] == DOCKER_MANIFEST
    config, tar = image_layer(fixtures_info, fetch_blob, "nginx")
    cfg = config["config"]
    assert cfg["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert "80/tcp" in cfg["ExposedPorts"]
    assert any(e.startswith("PATH=") for e in cfg["Env"])
    members = tar_members(tar)
    assert members["usr/sbin/nginx"].isfile()
    assert members["var/log/nginx/access.log"].linkname == "/dev/stdout"
    assert members["var/log/nginx/error.log"].linkname == "/dev/stderr"
    assert "bookworm" in tar_file(tar, "etc/os-release").decode()
    assert not [n for n in members if n.startswith("var/lib/apt/lists/") and n.endswith("_Packages")]


def test_auth_images_match_the_open_ones(fixtures_info: dict) -> None:
    imgs = fixtures_info["images"]
    assert imgs["auth-busybox"]["digest"] == imgs["busybox"]["digest"]
    assert imgs["auth-nginx"]["digest"] == imgs["nginx"]["digest"]
    assert imgs["tls-busybox"]["digest"] == imgs["busybox"]["digest"]


# ------------------------------------------------------------------ the TLS registry


def test_tls_registry_verifies_against_the_generated_ca(fixtures_info: dict) -> None:
    reg = fixtures_info["registries"]["tls"]
    assert reg["url"].startswith("https://")
    ctx = ssl.create_default_context(cafile=reg["ca"])
    for url in (reg["url"] + "/v2/", "https://localhost:5002/v2/"):
        with urllib.request.urlopen(url, context=ctx, timeout=30) as r:
            assert r.status == 200
            assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_tls_registry_is_not_trusted_without_the_ca(fixtures_info: dict) -> None:
    reg = fixtures_info["registries"]["tls"]
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(reg["url"] + "/v2/", context=ssl.create_default_context(), timeout=30)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)


def test_tls_registry_answers_only_over_tls(fixtures_info: dict) -> None:
    host = fixtures_info["registries"]["tls"]["host"]
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=30) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except urllib.error.URLError:
        status = 0
    assert status != 200


# ------------------------------------------------------------------ registry set-up


def test_registries_listen_on_loopback_only(fixtures_info: dict) -> None:
    listening: dict[int, set[str]] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":  # LISTEN
            addr, port = local.split(":")
            listening.setdefault(int(port, 16), set()).add(addr)
    for line in Path("/proc/net/tcp6").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":
            addr, port = local.split(":")
            listening.setdefault(int(port, 16), set()).add(addr)
    for reg in fixtures_info["registries"].values():
        port = int(reg["host"].split(":")[1])
        assert listening.get(port) == {"0100007F"}, (port, listening.get(port))


def test_open_registry_allows_deletes(fixtures_info: dict) -> None:
    reg = fixtures_info["registries"]["open"]
    repo = "seabox-tests/delete-check"
    data = b"seabox delete check\n"
    digest = sha(data)
    start = request(reg, f"/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    assert start.status == 202, start.body
    location = start.headers["Location"]
    if location.startswith("/"):
        location = reg["url"] + location
    sep = "&" if "?" in location else "?"
    put = request(
        reg,
        f"{location}{sep}digest={digest}",
        method="PUT",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status == 201, put.body
    assert request(reg, f"/v2/{repo}/blobs/{digest}").body == data
    delete = request(reg, f"/v2/{repo}/blobs/{digest}", method="DELETE")
    assert delete.status == 202, (delete.status, delete.body)
    assert request(reg, f"/v2/{repo}/blobs/{digest}", method="HEAD").status == 404


# ------------------------------------------------------------------ layouts and rootfs on disk


def test_layouts_and_rootfs_exist(fixtures_info: dict) -> None:
    layouts = fixtures_info["layouts"]
    assert {"busybox", "nginx"} <= set(layouts)
    for path in layouts.values():
        p = Path(path)
        assert json.loads((p / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"
        index = json.loads((p / "index.json").read_text())
        for desc in index["manifests"]:
            blob = p / "blobs" / "sha256" / desc["digest"].split(":")[1]
            assert sha(blob.read_bytes()) == desc["digest"]
    tags = {
        d["annotations"]["org.opencontainers.image.ref.name"]
        for d in json.loads((Path(layouts["busybox"]) / "index.json").read_text())["manifests"]
    }
    assert {"amd64", "arm64", "multi"} <= tags
    rootfs = fixtures_info["rootfs"]
    assert (Path(rootfs["busybox"]) / "bin" / "busybox").is_file()
    with tarfile.open(rootfs["nginx"]) as t:
        names = {n.removeprefix("./") for n in t.getnames()}
    assert "usr/sbin/nginx" in names


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = f"-> {p.readlink()}" if p.is_symlink() else ("dir" if p.is_dir() else "file")
    return out


def test_bundle_helper_rootfs_has_the_fixture_layout(fixtures_info: dict, tmp_path: Path) -> None:
    from seabox.testing.bundle import make_busybox_rootfs

    mine = _tree(make_busybox_rootfs(tmp_path / "rootfs"))
    fixture = _tree(Path(fixtures_info["rootfs"]["busybox"]))
    assert mine == fixture
