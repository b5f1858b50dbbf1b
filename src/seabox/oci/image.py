"""Typed image-spec objects: descriptors, manifests, indexes, image configs, platforms.

Registries and layouts hand us JSON in two dialects that describe the same thing:
docker's schema2 (manifest and manifest list) and OCI's (manifest and index).
Both parse into the same dataclasses here, keeping the media type they came with,
so the rest of seabox never branches on dialect except to pick a decompressor.
Parsing is strict about the fields seabox relies on and lenient about the rest:
an error names the document and the bad field (``manifest "sha256:…": field
"layers[1].digest": ...``); unknown fields are ignored, as the spec requires.

Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from seabox import errdefs

# -- media types ---------------------------------------------------------------
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})
#: What a resolver asks a registry for, most specific first.
MANIFEST_ACCEPT = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

# layer media type → compression ("gzip", "zstd" or "")
LAYER_COMPRESSION: dict[str, str] = {
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_FOREIGN_LAYER_GZIP: "gzip",
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_LAYER: "",
    OCI_LAYER: "",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "",
    OCI_LAYER_NONDIST_GZIP: "gzip",
    OCI_LAYER_NONDIST_ZSTD: "zstd",
}

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_layer(media_type: str) -> bool:
    return media_type in LAYER_COMPRESSION


def layer_compression(media_type: str) -> str:
    """``"gzip"``, ``"zstd"`` or ``""`` for a layer media type; InvalidArgument otherwise."""
    try:
        return LAYER_COMPRESSION[media_type]
    except KeyError:
        raise errdefs.InvalidArgument(errdefs.subject("layer media type", media_type, "unsupported"))


# -- parsing helpers ------------------------------------------------------------


class _Fields:
    """Reads typed fields from a JSON object, naming the document and path on error."""

    def __init__(self, kind: str, name: str, obj: object, path: str = "") -> None:
        self.kind, self.name, self.path = kind, name, path
        if not isinstance(obj, dict):
            raise self.error("", "must be a JSON object")
        self.obj: dict[str, Any] = obj

    def error(self, key: str, why: str) -> errdefs.InvalidArgument:
        where = self.path + ("." if self.path and key else "") + key
        loc = f'field "{where}": ' if where else ""
        return errdefs.InvalidArgument(errdefs.subject(self.kind, self.name, loc + why))

    def sub(self, key: str, obj: object) -> _Fields:
        return _Fields(self.kind, self.name, obj, self.path + ("." if self.path else "") + key)

    def text(self, key: str, required: bool = False, default: str = "") -> str:
        v = self.obj.get(key)
        if v is None:
            if required:
                raise self.error(key, "missing")
            return default
        if not isinstance(v, str):
            raise self.error(key, f"must be a string, got {type(v).__name__}")
        return v

    def num(self, key: str, required: bool = False) -> int:
        v = self.obj.get(key)
        if v is None:
            if required:
                raise self.error(key, "missing")
            return 0
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise self.error(key, "must be a non-negative integer")
        return v

    def strlist(self, key: str) -> list[str]:
        v = self.obj.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(key, "must be a list of strings")
        return list(v)

    def strmap(self, key: str) -> dict[str, str]:
        v = self.obj.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise self.error(key, "must be a map of strings")
        return dict(v)

    def items(self, key: str, required: bool = False) -> list[Any]:
        v = self.obj.get(key)
        if v is None:
            if required:
                raise self.error(key, "missing")
            return []
        if not isinstance(v, list):
            raise self.error(key, "must be a list")
        return v


def _loads(kind: str, name: str, data: bytes | str | dict) -> object:
    if isinstance(data, dict):
        return data
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise errdefs.InvalidArgument(errdefs.subject(kind, name, f"invalid JSON: {e}"))


def _check_digest(f: _Fields, key: str, value: str) -> None:
    algo, sep, enc = value.partition(":")
    lengths = {"sha256": 64, "sha384": 96, "sha512": 128}
    if not sep or algo not in lengths or len(enc) != lengths[algo] or any(c not in "0123456789abcdef" for c in enc):
        raise f.error(key, f"invalid digest {value!r}")


# -- types ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Platform:
    """Where an image runs: ``os/architecture[/variant]`` (+ Windows version and features)."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return s + (f"/{self.variant}" if self.variant else "")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        if self.variant:
            d["variant"] = self.variant
        return d

    @classmethod
    def _from(cls, f: _Fields) -> Platform:
        return cls(
            os=f.text("os", required=True),
            architecture=f.text("architecture", required=True),
            variant=f.text("variant"),
            os_version=f.text("os.version"),
            os_features=tuple(f.strlist("os.features")),
        )


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A typed pointer to content: media type, digest, size (+ optional extras)."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            d["urls"] = list(self.urls)
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform is not None:
            d["platform"] = self.platform.to_dict()
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        return d

    @classmethod
    def from_dict(cls, obj: object, *, kind: str = "descriptor", name: str = "") -> Descriptor:
        return cls._from(_Fields(kind, name, obj))

    @classmethod
    def _from(cls, f: _Fields) -> Descriptor:
        digest = f.text("digest", required=True)
        _check_digest(f, "digest", digest)
        if "size" not in f.obj:
            raise f.error("size", "missing")
        p = f.obj.get("platform")
        return cls(
            media_type=f.text("mediaType", required=True),
            digest=digest,
            size=f.num("size", required=True),
            urls=tuple(f.strlist("urls")),
            annotations=f.strmap("annotations"),
            platform=Platform._from(f.sub("platform", p)) if p is not None else None,
            artifact_type=f.text("artifactType"),
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest (docker schema2 or OCI): one config and ordered layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str = ""
    schema_version: int = 2

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        d["config"] = self.config.to_dict()
        d["layers"] = [x.to_dict() for x in self.layers]
        if self.subject is not None:
            d["subject"] = self.subject.to_dict()
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Index:
    """An image index or docker manifest list: manifests, usually one per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str = ""
    schema_version: int = 2

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        d["manifests"] = [x.to_dict() for x in self.manifests]
        if self.subject is not None:
            d["subject"] = self.subject.to_dict()
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class RootFS:
    type: str
    diff_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class History:
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The image configuration: platform, rootfs diff IDs, history and the run config.

    ``config`` is kept as the JSON object it came as (``Env``, ``Cmd``, ``Entrypoint``,
    ``WorkingDir``, ``User``, ``ExposedPorts``, ``Volumes``, ``Labels``, ``StopSignal``...):
    its consumers (container create, build) read the keys they need.
    """

    architecture: str
    os: str
    rootfs: RootFS
    variant: str = ""
    os_version: str = ""
    created: str = ""
    author: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: tuple[History, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant, self.os_version)

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return self.rootfs.diff_ids


# -- parsers ----------------------------------------------------------------------


def parse_manifest(data: bytes | str | dict, *, name: str = "", media_type: str = "") -> Manifest:
    """Parse an image manifest.  ``media_type`` is the Content-Type it came with, if any."""
    f = _Fields("manifest", name, _loads("manifest", name, data))
    mt = f.text("mediaType") or media_type
    if mt in (DOCKER_MANIFEST_SCHEMA1, DOCKER_MANIFEST_SCHEMA1_SIGNED) or f.obj.get("schemaVersion") == 1:
        raise f.error("schemaVersion", "docker schema1 manifests are not supported")
    if f.obj.get("schemaVersion") != 2:
        raise f.error("schemaVersion", f"must be 2, got {f.obj.get('schemaVersion')!r}")
    if not mt:
        mt = OCI_MANIFEST  # the OCI spec makes mediaType optional in manifests
    if mt not in MANIFEST_TYPES:
        raise f.error("mediaType", f"not an image manifest: {mt!r}")
    if "manifests" in f.obj:
        raise f.error("manifests", "present in an image manifest (is this an index?)")
    if "config" not in f.obj:
        raise f.error("config", "missing")
    config = Descriptor._from(f.sub("config", f.obj["config"]))
    layers = tuple(Descriptor._from(f.sub(f"layers[{i}]", x)) for i, x in enumerate(f.items("layers")))
    subj = f.obj.get("subject")
    return Manifest(
        media_type=mt,
        config=config,
        layers=layers,
        annotations=f.strmap("annotations"),
        subject=Descriptor._from(f.sub("subject", subj)) if subj is not None else None,
        artifact_type=f.text("artifactType"),
    )


def parse_index(data: bytes | str | dict, *, name: str = "", media_type: str = "") -> Index:
    """Parse an OCI image index or a docker manifest list."""
    f = _Fields("index", name, _loads("index", name, data))
    if f.obj.get("schemaVersion") != 2:
        raise f.error("schemaVersion", f"must be 2, got {f.obj.get('schemaVersion')!r}")
    mt = f.text("mediaType") or media_type or OCI_INDEX
    if mt not in INDEX_TYPES:
        raise f.error("mediaType", f"not an image index: {mt!r}")
    if "manifests" not in f.obj:
        raise f.error("manifests", "missing")
    manifests = tuple(Descriptor._from(f.sub(f"manifests[{i}]", x)) for i, x in enumerate(f.items("manifests")))
    subj = f.obj.get("subject")
    return Index(
        media_type=mt,
        manifests=manifests,
        annotations=f.strmap("annotations"),
        subject=Descriptor._from(f.sub("subject", subj)) if subj is not None else None,
        artifact_type=f.text("artifactType"),
    )


def detect_media_type(data: bytes | dict, *, name: str = "") -> str:
    """The media type of a manifest-or-index document (its own field, else by shape)."""
    obj = _loads("manifest", name, data)
    if not isinstance(obj, dict):
        raise errdefs.InvalidArgument(errdefs.subject("manifest", name, "must be a JSON object"))
    mt = obj.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if "manifests" in obj:
        return OCI_INDEX
    if "config" in obj:
        return OCI_MANIFEST
    if obj.get("schemaVersion") == 1:
        return DOCKER_MANIFEST_SCHEMA1
    raise errdefs.InvalidArgument(errdefs.subject("manifest", name, "cannot tell manifest from index"))


def parse_any(data: bytes | dict, *, name: str = "", media_type: str = "") -> Manifest | Index:
    """Parse a manifest or an index, by its own mediaType, else by Content-Type, else by shape."""
    obj = _loads("manifest", name, data)
    mt = ""
    if isinstance(obj, dict) and isinstance(obj.get("mediaType"), str):
        mt = obj["mediaType"]
    mt = mt or media_type
    if not mt and isinstance(obj, dict):
        mt = detect_media_type(obj, name=name)
    if mt in INDEX_TYPES:
        return parse_index(obj if isinstance(obj, dict) else data, name=name, media_type=mt)
    return parse_manifest(obj if isinstance(obj, dict) else data, name=name, media_type=mt)


def parse_config(data: bytes | str | dict, *, name: str = "") -> ImageConfig:
    """Parse an image configuration (docker or OCI; the same JSON shape)."""
    f = _Fields("image config", name, _loads("image config", name, data))
    if "rootfs" not in f.obj:
        raise f.error("rootfs", "missing")
    rf = f.sub("rootfs", f.obj["rootfs"])
    rtype = rf.text("type", required=True)
    if rtype != "layers":
        raise rf.error("type", f"must be \"layers\", got {rtype!r}")
    diff_ids = rf.strlist("diff_ids")
    for i, d in enumerate(diff_ids):
        _check_digest(rf, f"diff_ids[{i}]", d)
    cfg = f.obj.get("config")
    if cfg is not None and not isinstance(cfg, dict):
        raise f.error("config", "must be a JSON object")
    history = []
    for i, h in enumerate(f.items("history")):
        hf = f.sub(f"history[{i}]", h)
        el = hf.obj.get("empty_layer", False)
        if not isinstance(el, bool):
            raise hf.error("empty_layer", "must be a boolean")
        history.append(
            History(
                created=hf.text("created"),
                created_by=hf.text("created_by"),
                author=hf.text("author"),
                comment=hf.text("comment"),
                empty_layer=el,
            )
        )
    return ImageConfig(
        architecture=f.text("architecture", required=True),
        os=f.text("os", required=True),
        variant=f.text("variant"),
        os_version=f.text("os.version"),
        rootfs=RootFS(rtype, tuple(diff_ids)),
        created=f.text("created"),
        author=f.text("author"),
        config=dict(cfg or {}),
        history=tuple(history),
        raw=f.obj,
    )


def chain_ids(diff_ids: list[str] | tuple[str, ...]) -> list[str]:
    """Chain IDs per the image spec: ``ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n))``."""
    import hashlib

    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out
