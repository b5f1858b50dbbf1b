"""Import/export of docker-save and OCI-layout tars, on synthetic archives and the fixture layout."""

import gzip
import io
import json
import os
import tarfile

import pytest

from seabox import errdefs
from seabox.content import ContentStore
from seabox.images.archive import ArchiveImage, export_docker, export_oci, import_archive
from seabox.oci import image as oci
from seabox.oci.digest import from_bytes
from seabox.oci.image import Platform
from seabox.testing.layers import Entry, build_tar


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "content")


def tar_of(files: list[tuple[str, bytes | str]], symlinks=()) -> bytes:
    """files: (name, data); symlinks: (name, target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files:
            if isinstance(data, str):
                data = data.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in symlinks:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
    return buf.getvalue()


def tar_dir(path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in sorted(os.listdir(path)):
            tf.add(os.path.join(path, name), arcname=name)
    return buf.getvalue()


def docker_save(layers_per_image=((b"L1", b"L2"), (b"L1",)), tags=(["busybox:latest", "me/app:v1"], [])):
    """A docker-save (pre-25) archive; identical layers are symlinked, manifest.json comes last."""
    files, links, manifest, repos = [], [], [], {}
    seen = {}
    for n, (contents, repo_tags) in enumerate(zip(layers_per_image, tags, strict=True)):
        layer_tars = [build_tar([Entry(f"f{i}", data=c)]) for i, c in enumerate(contents)]
        diff_ids = [str(from_bytes(t)) for t in layer_tars]
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        cfg_name = f"{from_bytes(config).hex}.json"
        files.append((cfg_name, config))
        paths = []
        for i, t in enumerate(layer_tars):
            lid = f"{n}{i}" + "0" * 62
            if t in seen:
                links.append((f"{lid}/layer.tar", f"../{seen[t]}/layer.tar"))
            else:
                seen[t] = lid
                files.append((f"{lid}/layer.tar", t))
            files.append((f"{lid}/VERSION", "1.0"))
            paths.append(f"{lid}/layer.tar")
        manifest.append({"Config": cfg_name, "RepoTags": repo_tags, "Layers": paths})
        for tag in repo_tags:
            repo, _, t = tag.rpartition(":")
            repos.setdefault(repo, {})[t] = paths[-1].split("/")[0]
    files.append(("repositories", json.dumps(repos)))
    files.append(("manifest.json", json.dumps(manifest)))
    return tar_of(files, links)


def test_import_docker_save(store):
    images = import_archive(io.BytesIO(docker_save()), store)
    names = [i.name for i in images]
    assert names == ["docker.io/library/busybox:latest", "docker.io/me/app:v1", ""]
    assert images[0].target == images[1].target and images[0].target.media_type == oci.DOCKER_MANIFEST
    man = oci.parse_manifest(store.read_bytes(images[0].target.digest))
    assert man.media_type == oci.DOCKER_MANIFEST and man.config.media_type == oci.DOCKER_CONFIG
    assert [layer.media_type for layer in man.layers] == [oci.DOCKER_LAYER, oci.DOCKER_LAYER]
    cfg = oci.parse_config(store.read_bytes(man.config.digest))
    assert [layer.digest for layer in man.layers] == list(cfg.diff_ids)
    labels = store.info(images[0].target.digest).labels
    assert labels["containerd.io/gc.ref.content.config"] == man.config.digest
    assert labels["containerd.io/gc.ref.content.l.1"] == man.layers[1].digest
    assert images[0].target.platform == Platform("linux", "amd64")
    # the second image's only layer is a symlink to the first image's first layer
    man2 = oci.parse_manifest(store.read_bytes(images[2].target.digest))
    assert man2.layers[0].digest == man.layers[0].digest
    # nothing but blobs: no stray VERSION files, no ingests
    assert store.statuses() == []
    assert len(store.list()) == 2 + 2 + 2  # two configs, two layers, two manifests


def test_import_docker_save_gzip_layers(store):
    layer = build_tar([Entry("x", data=b"x")])
    gz = gzip.compress(layer, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [str(from_bytes(layer))]}}).encode()
    tar = tar_of([("c.json", config), ("l/layer.tar", gz),
                  ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]))])
    [img] = import_archive(io.BytesIO(tar), store)
    man = oci.parse_manifest(store.read_bytes(img.target.digest))
    assert man.layers[0].media_type == oci.DOCKER_LAYER_GZIP
    assert store.info(man.layers[0].digest).labels["containerd.io/uncompressed"] == str(from_bytes(layer))


def test_import_docker_save_wrong_diff_id(store):
    layer = build_tar([Entry("x", data=b"x")])
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}, "os": "linux",
                         "architecture": "amd64"}).encode()
    tar = tar_of([("c.json", config), ("l/layer.tar", layer),
                  ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": [], "Layers": ["l/layer.tar"]}]))])
    with pytest.raises(errdefs.InvalidArgument, match="does not match diff_id"):
        import_archive(io.BytesIO(tar), store)


def test_import_fixture_layout(store, fixtures_info):
    layout = fixtures_info["layouts"]["busybox"]
    images = import_archive(io.BytesIO(tar_dir(layout)), store)
    by_ref = {i.ref_name: i for i in images}
    assert set(by_ref) >= {"amd64", "arm64", "multi"}
    assert all(i.name == "" for i in images)  # bare tags are not image names
    multi = by_ref["multi"].target
    assert multi.media_type == oci.OCI_INDEX
    labels = store.info(multi.digest).labels
    assert any(k.startswith("containerd.io/gc.ref.content.m.") for k in labels)
    for name in os.listdir(os.path.join(layout, "blobs", "sha256")):
        assert store.exists("sha256:" + name)


def test_import_rejects_corrupt_blob(store):
    good = b'{"schemaVersion":2}'
    wrong = "sha256:" + "1" * 64
    idx = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "digest": wrong, "size": len(good)}]})
    tar = tar_of([("oci-layout", '{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx),
                  (f"blobs/sha256/{'1' * 64}", good)])
    with pytest.raises(errdefs.InvalidArgument, match="does not match its name"):
        import_archive(io.BytesIO(tar), store)


def test_import_rejects_missing_blob_and_unknown_format(store):
    idx = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": 3}]})
    tar = tar_of([("oci-layout", '{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx)])
    with pytest.raises(errdefs.InvalidArgument, match="missing"):
        import_archive(io.BytesIO(tar), store)
    with pytest.raises(errdefs.InvalidArgument, match="neither"):
        import_archive(io.BytesIO(tar_of([("hello", "world")])), store)
    with pytest.raises(errdefs.InvalidArgument, match="invalid tar"):
        import_archive(io.BytesIO(b"\x01" * 2048), store)


def test_export_oci_roundtrip(store, tmp_path, fixtures_info):
    images = import_archive(io.BytesIO(tar_dir(fixtures_info["layouts"]["busybox"])), store)
    multi = next(i for i in images if i.ref_name == "multi")
    out = io.BytesIO()
    export_oci([ArchiveImage("docker.io/library/busybox:multi", multi.target)], store, out)
    other = ContentStore(tmp_path / "other")
    [back] = import_archive(io.BytesIO(out.getvalue()), other)
    assert back.name == "docker.io/library/busybox:multi" and back.target.digest == multi.target.digest
    assert {i.digest for i in other.list()} <= {i.digest for i in store.list()}
    assert len(other.list()) == 1 + 2 * 3  # index + (manifest, config, layer) per platform
    # one platform only
    out2 = io.BytesIO()
    export_oci([ArchiveImage("docker.io/library/busybox:multi", multi.target)], store, out2,
               platform=Platform("linux", "arm64"))
    third = ContentStore(tmp_path / "third")
    [arm] = import_archive(io.BytesIO(out2.getvalue()), third)
    assert arm.target.media_type == oci.OCI_MANIFEST and arm.target.platform.architecture == "arm64"
    assert len(third.list()) == 3


def test_export_docker_shape(store, fixtures_info):
    images = import_archive(io.BytesIO(tar_dir(fixtures_info["layouts"]["busybox"])), store)
    multi = next(i for i in images if i.ref_name == "multi")
    out = io.BytesIO()
    export_docker([ArchiveImage("docker.io/library/busybox:sbt", multi.target)], store, out,
                  platform=Platform("linux", "amd64"))
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        repos = json.load(tf.extractfile("repositories"))
        names = set(tf.getnames())
    [entry] = manifest
    assert entry["RepoTags"] == ["busybox:sbt"]
    assert entry["Config"] in names and all(p in names for p in entry["Layers"])
    assert "oci-layout" in names and "index.json" in names
    assert list(repos) == ["busybox"]
    # and it imports back, under its name
    [back] = import_archive(io.BytesIO(out.getvalue()), store)
    assert back.name == "docker.io/library/busybox:sbt"


def test_export_missing_platform(store, fixtures_info):
    images = import_archive(io.BytesIO(tar_dir(fixtures_info["layouts"]["busybox"])), store)
    multi = next(i for i in images if i.ref_name == "multi")
    with pytest.raises(errdefs.NotFound, match="s390x"):
        export_docker([ArchiveImage("x:1", multi.target)], store, io.BytesIO(), platform=Platform("linux", "s390x"))
