"""seabox.ctr.leanrun's image checks never accept what the full path's parser
(seabox.oci.image) rejects, agree with it on what they accept, and compute the same chain
IDs; which runs it takes (the rest fall back to the full path)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest

from seabox.ctr import leanrun
from seabox.ctr.containers import CreateOptions
from seabox.ctr.run import RunOptions
from seabox.ctr.spec import SpecOptions
from seabox.oci import image as oci

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
D3 = "sha256:" + "c" * 64
CONFIG: dict[str, Any] = {
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"a": "b"}, "StopSignal": "SIGQUIT"},
    "rootfs": {"type": "layers", "diff_ids": [D1, D2, D3]},
    "history": [{"created_by": "x"}, {"empty_layer": True}],
}  # fmt: skip


def _variants() -> list[dict[str, Any]]:
    out = [copy.deepcopy(CONFIG)]
    for path, value in [
        (("rootfs", "type"), "other"), (("rootfs", "diff_ids"), ["sha256:short"]), (("rootfs", "diff_ids"), "x"),
        (("rootfs", "diff_ids"), [D1.upper()]), (("architecture",), ""), (("os",), 3), (("config",), ["x"]),
        (("config",), None), (("history",), "x"), (("history",), [1]), (("rootfs", "diff_ids"), []),
        (("history",), [{"empty_layer": "yes"}]), (("history",), [{"created": 5}]), (("created",), 5),
        (("variant",), 1), (("os.version",), None), (("rootfs", "diff_ids"), None),
    ]:  # fmt: skip
        c = copy.deepcopy(CONFIG)
        target = c
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
        out.append(c)
    for key in ("rootfs", "architecture", "config", "history"):
        c = copy.deepcopy(CONFIG)
        del c[key]
        out.append(c)
    return out


@pytest.mark.parametrize("config", _variants(), ids=range(len(_variants())))
def test_config_check_is_never_laxer_than_the_parser(config: dict[str, Any]) -> None:
    try:
        diff_ids = leanrun._check_config(config)
    except leanrun._NotLean:
        return  # the full path decides
    parsed = oci.parse_config(config)
    assert list(parsed.diff_ids) == diff_ids
    assert dict(config.get("config") or {}) == parsed.config


def test_the_usual_config_is_taken() -> None:
    assert leanrun._check_config(copy.deepcopy(CONFIG)) == [D1, D2, D3]


def test_chain_ids_are_the_image_specs() -> None:
    for ids in ([], [D1], [D1, D2], [D1, D2, D3, D1]):
        assert leanrun._chain_ids(list(ids)) == oci.chain_ids(list(ids))


def _opts(**kw: Any) -> RunOptions:
    spec = kw.pop("spec", SpecOptions(args=["true"]))
    return RunOptions(CreateOptions(image=kw.pop("image", "img"), id="c1", spec=spec, **kw))


@pytest.mark.parametrize(("opts", "lean"), [
    (_opts(), True), (_opts(config_path="/c.json"), False), (_opts(rootfs=True), False),
    (_opts(platform="linux/arm64"), False), (_opts(spec=SpecOptions(tty=True)), False), (_opts(image=""), False),
    (_opts(runtime_options=object()), False),
])  # fmt: skip
def test_which_runs_take_the_lean_path(opts: RunOptions, lean: bool) -> None:
    unix = SimpleNamespace(uses_h2=lambda: True)
    tcp = SimpleNamespace(uses_h2=lambda: False)
    assert leanrun.eligible(unix, opts) is lean  # type: ignore[arg-type]
    assert leanrun.eligible(tcp, opts) is False  # type: ignore[arg-type]


MT = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST: dict[str, Any] = {
    "schemaVersion": 2, "mediaType": MT,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D1, "size": 10},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": D2, "size": 20,
                "annotations": {"a": "b"}}],
}  # fmt: skip


def _manifest_variants() -> list[dict[str, Any]]:
    out = [copy.deepcopy(MANIFEST)]
    edits: list[tuple[tuple[Any, ...], Any]] = [
        (("schemaVersion",), 1), (("schemaVersion",), True), (("schemaVersion",), "2"), (("mediaType",), "x"),
        (("config", "digest"), "sha256:x"), (("config", "size"), -1), (("config", "size"), True),
        (("config", "size"), 1.5), (("config", "mediaType"), 3), (("layers",), {}), (("layers", 0, "digest"), D1[:-1]),
        (("layers", 0, "annotations"), {"a": 1}), (("layers", 0, "urls"), ["http://x"]), (("annotations",), {"k": "v"}),
        (("annotations",), ["x"]), (("manifests",), []), (("subject",), {"digest": D3}), (("config", "platform"), {}),
    ]  # fmt: skip
    for path, value in edits:
        m = copy.deepcopy(MANIFEST)
        target: Any = m
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
        out.append(m)
    for key in ("mediaType", "config", "layers"):
        m = copy.deepcopy(MANIFEST)
        del m[key]
        out.append(m)
    m = copy.deepcopy(MANIFEST)
    del m["config"]["size"]
    out.append(m)
    return out


@pytest.mark.parametrize("manifest", _manifest_variants(), ids=range(len(_manifest_variants())))
@pytest.mark.parametrize("media_type", [MT, "application/vnd.oci.image.manifest.v1+json"])
def test_manifest_check_is_never_laxer_than_the_parser(manifest: dict[str, Any], media_type: str) -> None:
    try:
        config_digest, n = leanrun._check_manifest(manifest, media_type)
    except leanrun._NotLean:
        return
    parsed = oci.parse_manifest(manifest, media_type=media_type)
    assert (parsed.config.digest, len(parsed.layers)) == (config_digest, n)


def test_the_usual_manifest_is_taken() -> None:
    assert leanrun._check_manifest(copy.deepcopy(MANIFEST), MT) == (D1, 1)
