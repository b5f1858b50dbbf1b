"""Image-spec parsing: docker schema2 and OCI manifests, indexes, configs, chain IDs."""

from __future__ import annotations

import hashlib
import json

import pytest

from seabox import errdefs
from seabox.oci import image as oci

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def docker_manifest() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": oci.DOCKER_MANIFEST,
        "config": {"mediaType": oci.DOCKER_CONFIG, "size": 10, "digest": D1},
        "layers": [
            {"mediaType": oci.DOCKER_LAYER_GZIP, "size": 20, "digest": D2},
            {"mediaType": oci.DOCKER_LAYER_GZIP, "size": 30, "digest": D3},
        ],
    }


def test_docker_schema2_manifest() -> None:
    m = oci.parse_manifest(json.dumps(docker_manifest()).encode(), name="x")
    assert m.media_type == oci.DOCKER_MANIFEST
    assert m.config == oci.Descriptor(oci.DOCKER_CONFIG, D1, 10)
    assert [x.digest for x in m.layers] == [D2, D3]
    assert [oci.layer_compression(x.media_type) for x in m.layers] == ["gzip", "gzip"]
    assert oci.parse_manifest(m.to_json()) == m


def test_oci_manifest_without_media_type_field_uses_content_type() -> None:
    obj = docker_manifest()
    del obj["mediaType"]
    obj["config"]["mediaType"] = oci.OCI_CONFIG
    obj["layers"][0]["mediaType"] = oci.OCI_LAYER_ZSTD
    obj["annotations"] = {"a": "b"}
    m = oci.parse_manifest(obj, media_type=oci.OCI_MANIFEST)
    assert m.media_type == oci.OCI_MANIFEST
    assert m.annotations == {"a": "b"}
    assert oci.layer_compression(m.layers[0].media_type) == "zstd"


@pytest.mark.parametrize(
    ("mutate", "field_name"),
    [
        (lambda o: o["layers"][1].update(digest="sha256:xyz"), "layers[1].digest"),
        (lambda o: o["layers"][0].pop("size"), "layers[0].size"),
        (lambda o: o["layers"][0].update(size=-1), "layers[0].size"),
        (lambda o: o["layers"][0].update(size="5"), "layers[0].size"),
        (lambda o: o["config"].pop("mediaType"), "config.mediaType"),
        (lambda o: o.pop("config"), "config"),
        (lambda o: o.update(schemaVersion=3), "schemaVersion"),
        (lambda o: o.update(layers={}), "layers"),
        (lambda o: o.update(mediaType=oci.OCI_INDEX), "mediaType"),
        (lambda o: o["layers"][0].update(annotations={"k": 1}), "layers[0].annotations"),
    ],
)
def test_manifest_errors_name_the_field(mutate, field_name: str) -> None:  # type: ignore[no-untyped-def]
    obj = docker_manifest()
    mutate(obj)
    with pytest.raises(errdefs.InvalidArgument) as ei:
        oci.parse_manifest(obj, name="sha256:abc")
    assert f'field "{field_name}"' in str(ei.value)
    assert str(ei.value).startswith('manifest "sha256:abc"')


def test_schema1_refused_clearly() -> None:
    with pytest.raises(errdefs.InvalidArgument, match="schema1"):
        oci.parse_manifest({"schemaVersion": 1, "name": "x", "fsLayers": []})


def test_invalid_json() -> None:
    with pytest.raises(errdefs.InvalidArgument, match="invalid JSON"):
        oci.parse_manifest(b"{nope", name="m")


def test_index_and_manifest_list_with_platforms() -> None:
    obj = {
        "schemaVersion": 2,
        "mediaType": oci.DOCKER_MANIFEST_LIST,
        "manifests": [
            {"mediaType": oci.DOCKER_MANIFEST, "size": 1, "digest": D1, "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": oci.DOCKER_MANIFEST, "size": 2, "digest": D2,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ],
    }  # fmt: skip
    idx = oci.parse_index(json.dumps(obj))
    assert idx.media_type == oci.DOCKER_MANIFEST_LIST
    assert [str(m.platform) for m in idx.manifests] == ["linux/amd64", "linux/arm64/v8"]
    assert oci.parse_index(idx.to_json()) == idx
    assert isinstance(oci.parse_any(json.dumps(obj).encode()), oci.Index)
    obj["manifests"][1]["platform"].pop("os")
    with pytest.raises(errdefs.InvalidArgument, match=r'field "manifests\[1\].platform.os": missing'):
        oci.parse_index(obj)


def test_parse_any_by_shape() -> None:
    m = docker_manifest()
    del m["mediaType"]
    assert isinstance(oci.parse_any(m), oci.Manifest)
    assert isinstance(oci.parse_any({"schemaVersion": 2, "manifests": []}), oci.Index)


def test_config() -> None:
    cfg = {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
        "config": {"Env": ["A=1"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [D2, D3]},
        "history": [{"created_by": "x"}, {"created_by": "y", "empty_layer": True}],
    }
    c = oci.parse_config(json.dumps(cfg))
    assert c.diff_ids == (D2, D3)
    assert c.config["Cmd"] == ["sh"]
    assert str(c.platform) == "linux/arm64/v8"
    assert c.history[1].empty_layer
    cfg["rootfs"]["diff_ids"] = [D2, "nope"]
    with pytest.raises(errdefs.InvalidArgument, match=r'field "rootfs.diff_ids\[1\]"'):
        oci.parse_config(cfg, name="cfg")
    cfg["rootfs"] = {"type": "other", "diff_ids": []}
    with pytest.raises(errdefs.InvalidArgument, match=r'field "rootfs.type"'):
        oci.parse_config(cfg)


def test_chain_ids_follow_the_spec() -> None:
    assert oci.chain_ids([]) == []
    assert oci.chain_ids([D1]) == [D1]
    c2 = "sha256:" + hashlib.sha256(f"{D1} {D2}".encode()).hexdigest()
    c3 = "sha256:" + hashlib.sha256(f"{c2} {D3}".encode()).hexdigest()
    assert oci.chain_ids([D1, D2, D3]) == [D1, c2, c3]


def test_unknown_layer_type_refused() -> None:
    with pytest.raises(errdefs.InvalidArgument, match="unsupported"):
        oci.layer_compression("application/x-foo")
