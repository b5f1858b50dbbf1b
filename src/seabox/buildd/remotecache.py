"""Build cache shared through a registry or a directory: ``--cache-to`` and ``--cache-from``.

Design reason: a CI runner starts with an empty buildd, so its local cache never hits.
Cache keys are content-addressed (``seabox.build.cachekey``: base image digests, context
checksums, instruction text), hence the same on every machine; what a step produced is a
layer chain.  So the exported cache is one OCI artifact: a manifest whose layers are the
layer blobs of the exported steps and whose config (media type ``CONFIG_TYPE``) maps each
step key to its chain of layer digests.  Importing fetches only that small config; a step
whose key is listed is a cache hit, and only then are its missing layer blobs downloaded and
unpacked into snapshots named by chain ID, as a pulled image's are.  ``mode=min`` (the
default, as in BuildKit) exports the steps on the final image's chain, ``mode=max`` every
step of every stage the build ran.  The format is seabox's own; BuildKit's cache manifests
are not read (a ref holding anything else is skipped with a warning, as a missing one is).

Backends: ``type=registry,ref=<name>`` (pushed/pulled with the build's registry logins) and
``type=local,dest=<dir>`` / ``type=local,src=<dir>`` (an OCI image layout, tag ``latest`` or
``tag=``).  A plain ``--cache-from <ref>`` means ``type=registry,ref=<ref>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seabox import errdefs
from seabox.buildd.cache import Layer, Record
from seabox.oci import image as oci

CONFIG_TYPE = "application/vnd.seabox.buildcache.config.v1+json"
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
_TO_OCI = {oci.DOCKER_LAYER_GZIP: oci.OCI_LAYER_GZIP, oci.DOCKER_LAYER: oci.OCI_LAYER}

Credentials = Callable[[str], "tuple[str, str] | None"]
Log = Callable[[str], None]


def parse_spec(text: str, *, exporting: bool) -> dict[str, str]:
    """``type=registry,ref=R,mode=max`` (or a bare ref) → a dict; errors name the flag."""
    flag = "--cache-to" if exporting else "--cache-from"
    if "=" not in text.split(",", 1)[0]:
        return {"type": "registry", "ref": text}
    spec: dict[str, str] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k:
            raise errdefs.InvalidArgument(f"{flag} {text}: expected key=value pairs, got {part!r}")
        spec[k.strip()] = v.strip()
    return check(spec, exporting=exporting, text=text)


def check(spec: dict[str, str], *, exporting: bool, text: str = "") -> dict[str, str]:
    """Validate a parsed spec (also what buildd does with one a client sent)."""
    flag = "--cache-to" if exporting else "--cache-from"
    text = text or ",".join(f"{k}={v}" for k, v in spec.items())
    if not isinstance(spec, dict) or not all(isinstance(v, str) for v in spec.values()):
        raise errdefs.InvalidArgument(f"{flag}: a cache spec is a table of strings")
    spec = dict(spec)
    kind = spec.setdefault("type", "registry")
    if kind == "registry":
        if not spec.get("ref"):
            raise errdefs.InvalidArgument(f"{flag} {text}: type=registry needs ref=<name>")
    elif kind == "local":
        need = "dest" if exporting else "src"
        if not spec.get(need):
            raise errdefs.InvalidArgument(f"{flag} {text}: type=local needs {need}=<dir>")
    else:
        raise errdefs.InvalidArgument(f"{flag} {text}: unsupported type {kind!r} (registry or local)")
    if spec.get("mode", "min") not in ("min", "max"):
        raise errdefs.InvalidArgument(f"{flag} {text}: mode must be min or max")
    return spec


@dataclass
class RemoteRecord:
    key: str
    layers: list[Layer]
    created: float
    description: str
    source: str  # where it came from, for messages


# -- export -------------------------------------------------------------------------------------


def select(records: list[Record], final_layers: list[Layer], mode: str) -> list[Record]:
    """The records to export: all (max) or those whose chain is a prefix of the image's (min)."""
    if mode == "max":
        return records
    final = [x.digest for x in final_layers]
    return [r for r in records if [x.digest for x in r.layers] == final[: len(r.layers)]]


def write_artifact(engine: Any, records: list[Record]) -> oci.Descriptor:
    """Store the cache config and manifest in buildd's content store; the manifest's descriptor."""
    blobs: dict[str, Layer] = {}
    for r in records:
        for x in r.layers:
            blobs.setdefault(x.digest, x)
    doc = {"version": 1, "records": [{"key": r.key, "layers": [x.digest for x in r.layers], "created": r.created,
                                      "description": r.description} for r in records]}
    cfg = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    cfg_digest = str(engine.content.put(cfg))
    manifest = {
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "artifactType": CONFIG_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": cfg_digest, "size": len(cfg)},
        "layers": [{"mediaType": _TO_OCI.get(x.media_type, x.media_type), "digest": x.digest, "size": x.size,
                    "annotations": {LABEL_UNCOMPRESSED: x.diff_id}} for x in blobs.values()],
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    labels = {"containerd.io/gc.ref.content.config": cfg_digest}
    labels.update({f"containerd.io/gc.ref.content.l.{i}": d for i, d in enumerate(blobs)})
    digest = engine.content.put(data, labels=labels)
    return oci.Descriptor(oci.OCI_MANIFEST, str(digest), len(data))


def export(engine: Any, spec: dict[str, str], records: list[Record], final_layers: list[Layer],
           credentials: Credentials, log: Log) -> None:
    chosen = select(records, final_layers, spec.get("mode", "min"))
    desc = write_artifact(engine, chosen)
    if spec["type"] == "registry":
        from seabox.images.push import push

        push(spec["ref"], desc, content_store=engine.content, credentials=credentials,
             hosts_dir=engine.hosts_dir or None)
        log(f"exported build cache ({len(chosen)} steps) to {spec['ref']}")
    else:
        _write_layout(engine, desc, spec["dest"], spec.get("tag") or "latest")
        log(f"exported build cache ({len(chosen)} steps) to {spec['dest']}")


def _write_layout(engine: Any, desc: oci.Descriptor, dest: str, tag: str) -> None:
    """An OCI image layout holding the cache manifest (index.json entry tagged ``tag``)."""
    m = json.loads(engine.content.read_bytes(desc.digest))
    blobs = os.path.join(dest, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    for d in [desc.digest, m["config"]["digest"], *(x["digest"] for x in m["layers"])]:
        path = os.path.join(blobs, d.split(":", 1)[1])
        if os.path.exists(path):
            continue
        tmp = path + ".tmp"
        with engine.content.open(d) as src, open(tmp, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, path)
    with open(os.path.join(dest, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    index_path = os.path.join(dest, "index.json")
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []}
    with contextlib.suppress(OSError, ValueError), open(index_path) as f:
        index = json.load(f)
    ref_key = "org.opencontainers.image.ref.name"
    index["manifests"] = [d for d in index.get("manifests", []) if (d.get("annotations") or {}).get(ref_key) != tag]
    index["manifests"].append({"mediaType": desc.media_type, "digest": desc.digest, "size": desc.size,
                               "artifactType": CONFIG_TYPE, "annotations": {ref_key: tag}})
    with open(index_path + ".tmp", "w") as f:
        json.dump(index, f)
    os.replace(index_path + ".tmp", index_path)


# -- import -------------------------------------------------------------------------------------


class _Source:
    """Where an imported cache's blobs come from: a registry repository or a layout dir."""

    def __init__(self, spec: dict[str, str], engine: Any, credentials: Credentials) -> None:
        self.spec = spec
        self.engine = engine
        self.credentials = credentials
        self.name = spec.get("ref") or spec.get("src", "")
        self._client: Any = None
        self._ref: Any = None

    def _registry(self) -> tuple[Any, Any]:
        if self._client is None:
            from seabox.images.registry.client import RegistryClient
            from seabox.oci import reference as references

            self._ref = references.parse_with_default_tag(self.spec["ref"])
            self._client = RegistryClient(hosts_dir=self.engine.hosts_dir or None, credentials=self.credentials)
        return self._client, self._ref

    def manifest(self) -> tuple[oci.Descriptor, bytes]:
        if self.spec["type"] == "registry":
            c, ref = self._registry()
            res = c.resolve(ref)
            return res.descriptor, c.fetch_manifest(ref, res.descriptor)
        src, tag = self.spec["src"], self.spec.get("tag") or "latest"
        try:
            with open(os.path.join(src, "index.json")) as f:
                index = json.load(f)
        except (OSError, ValueError) as e:
            raise errdefs.NotFound(errdefs.subject("cache", src, f"no OCI layout index.json: {e}")) from None
        for d in index.get("manifests", []):
            if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name", "latest") == tag:
                desc = oci.Descriptor(d.get("mediaType", oci.OCI_MANIFEST), d["digest"], int(d["size"]))
                return desc, self.blob(desc)
        raise errdefs.NotFound(errdefs.subject("cache", src, f"no manifest tagged {tag!r}"))

    def blob(self, desc: oci.Descriptor) -> bytes:
        if self.spec["type"] == "registry":
            c, ref = self._registry()
            return bytes(c.fetch_blob(ref, desc))
        from seabox.oci import digest as digests

        with open(os.path.join(self.spec["src"], "blobs", *desc.digest.split(":", 1)), "rb") as f:
            data = f.read()
        if digests.from_bytes(data) != desc.digest:
            raise errdefs.FailedPrecondition(errdefs.subject("cache blob", desc.digest,
                                                             f"content in {self.spec['src']} does not match"))
        return data

    def copy_blob(self, desc: oci.Descriptor, diff_id: str) -> None:
        """Download one layer blob into buildd's content store (verified by the store's writer)."""
        w = self.engine.content.writer(f"buildd-cache-{desc.digest}", expected=desc.digest, total=desc.size)
        try:
            if w.offset:
                w.truncate(0)
            if self.spec["type"] == "registry":
                c, ref = self._registry()
                with c.open_blob(ref, desc) as r:
                    while chunk := r.read(1 << 20):
                        w.write(chunk)
            else:
                with open(os.path.join(self.spec["src"], "blobs", *desc.digest.split(":", 1)), "rb") as r:
                    while chunk := r.read(1 << 20):
                        w.write(chunk)
            with contextlib.suppress(errdefs.AlreadyExists):
                w.commit(desc.size, desc.digest, {LABEL_UNCOMPRESSED: diff_id})
        finally:
            w.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class Imported:
    """The records of every ``--cache-from`` source, and turning a hit into a local snapshot."""

    def __init__(self, engine: Any, specs: list[dict[str, str]], credentials: Credentials, log: Log) -> None:
        self.engine = engine
        self.records: dict[str, tuple[RemoteRecord, _Source]] = {}
        self.sources: list[_Source] = []
        self._lock = threading.Lock()
        for spec in specs:
            src = _Source(spec, engine, credentials)
            self.sources.append(src)
            try:
                n = self._load(src)
            except (errdefs.SeaboxError, OSError, ValueError, KeyError, TypeError) as e:
                log(f"WARNING: cache from {src.name} not used: {e}")  # as BuildKit: a missing cache is no error
                continue
            log(f"importing build cache from {src.name}: {n} steps")

    def _load(self, src: _Source) -> int:
        _desc, data = src.manifest()
        m = json.loads(data)
        if (m.get("config") or {}).get("mediaType") != CONFIG_TYPE:
            raise errdefs.InvalidArgument(f"not a seabox build cache (config media type "
                                          f"{(m.get('config') or {}).get('mediaType')!r})")
        blobs = {x["digest"]: Layer(x["digest"], int(x["size"]), (x.get("annotations") or {})[LABEL_UNCOMPRESSED],
                                    x["mediaType"]) for x in m.get("layers", [])}
        cfg_desc = oci.Descriptor(CONFIG_TYPE, m["config"]["digest"], int(m["config"]["size"]))
        doc = json.loads(src.blob(cfg_desc))
        n = 0
        for r in doc.get("records", []):
            layers = [blobs[d] for d in r["layers"]]
            self.records.setdefault(r["key"], (RemoteRecord(r["key"], layers, float(r.get("created") or 0),
                                                            str(r.get("description") or ""), src.name), src))
            n += 1
        return n

    def get(self, key: str) -> RemoteRecord | None:
        hit = self.records.get(key)
        return hit[0] if hit else None

    def materialize(self, key: str) -> str | None:
        """Fetch the hit's missing layer blobs and unpack its chain; the top snapshot's name."""
        from seabox.images.pull import unpack

        rec, src = self.records[key]
        for x in rec.layers:
            if not self.engine.content.exists(x.digest):
                with self._lock:  # one download of a blob shared by several steps
                    if not self.engine.content.exists(x.digest):
                        src.copy_blob(oci.Descriptor(x.media_type, x.digest, x.size), x.diff_id)
        if not rec.layers:
            return None
        manifest = oci.Manifest(oci.OCI_MANIFEST, oci.Descriptor(CONFIG_TYPE, "", 0),
                                tuple(oci.Descriptor(x.media_type, x.digest, x.size) for x in rec.layers))
        config = oci.ImageConfig("", "linux", oci.RootFS("layers", tuple(x.diff_id for x in rec.layers)))
        with self.engine.snap_lock:
            return str(unpack(manifest, config, store=self.engine.content, snapshotter=self.engine.snapshotter,
                              name=f"cache {rec.source}"))

    def close(self) -> None:
        for s in self.sources:
            s.close()
