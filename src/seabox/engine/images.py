"""Images for the Engine API: pull with docker's JSON progress, list, inspect, tag, remove.

Design reason: the engine is a client of seaboxd's own containerd API (over the internal gRPC
socket), as dockerd is of containerd's: image records, content ownership, leases and snapshot
records stay in the one place that keeps them consistent (DM's services), and the engine adds
only docker's names and shapes.  Names are normalized as docker does
(``busybox`` → ``docker.io/library/busybox:latest``); docker-facing output shows the familiar form.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

from seabox import errdefs
from seabox.oci import reference as references


def normalize(ref: str) -> str:
    try:
        return str(references.parse_with_default_tag(ref))
    except errdefs.SeaboxError:
        raise errdefs.InvalidArgument(f"invalid reference format: {ref}") from None


def familiar(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _ts(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def credentials_from_header(header: str) -> Any:
    """X-Registry-Auth (base64url JSON {username, password, serveraddress}) → a lookup function."""
    if not header:
        return None
    import base64

    try:
        pad = "=" * (-len(header) % 4)
        doc = json.loads(base64.urlsafe_b64decode(header + pad))
    except ValueError:
        raise errdefs.InvalidArgument("X-Registry-Auth: invalid") from None
    user, password = doc.get("username") or "", doc.get("password") or ""
    if doc.get("identitytoken"):
        user, password = "", doc["identitytoken"]
    if not user and not password:
        return None
    return lambda host: (user, password)


RESOLVED_CACHE = 64  # parsed manifests/configs kept, keyed by (namespace, name, target digest)


class Images:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        # Manifests and configs are content-addressed: once parsed for a target digest they never
        # change, so a lookup costs one Images.Get instead of several content reads and parses.
        self._resolved: dict[tuple[str, str, str], Any] = {}

    def client(self, ns: str) -> Any:
        return self.engine.client(ns)

    # -- lookups --------------------------------------------------------------------------------

    def resolve(self, ns: str, ref: str) -> Any:
        """The local image for ``ref`` (name, or an image id / digest prefix): a ctr Resolved."""
        from seabox.ctr import images as ctrimages

        c = self.client(ns)
        name = ref
        try:
            name = normalize(ref)
        except errdefs.InvalidArgument:
            pass
        try:
            return self._resolve_cached(c, ns, name)
        except errdefs.NotFound:
            pass
        want = ref.removeprefix("sha256:")
        if len(want) >= 4 and all(ch in "0123456789abcdef" for ch in want):
            for rec in self.records(ns):
                try:
                    r = ctrimages.resolve(c, rec.name)
                except errdefs.SeaboxError:
                    continue
                if r.manifest.config.digest.removeprefix("sha256:").startswith(want):
                    return r
        raise errdefs.NotFound(f"No such image: {ref}")

    def _resolve_cached(self, c: Any, ns: str, name: str) -> Any:
        from seabox.ctr import images as ctrimages

        img = ctrimages.get(c, name)
        key = (ns, name, img.target.digest)
        r = self._resolved.get(key)
        if r is None:
            r = ctrimages.resolve_local(ctrimages.RemoteStore(c), name, ctrimages._desc(img.target))
            if len(self._resolved) >= RESOLVED_CACHE:
                self._resolved.pop(next(iter(self._resolved)), None)
            self._resolved[key] = r
        return r

    def records(self, ns: str) -> list[Any]:
        from seabox.ctr import images as ctrimages

        pb = ctrimages._pb()
        return list(self.client(ns).images.List(pb.ListImagesRequest()).images)

    def ensure_unpacked(self, ns: str, ref: str) -> Any:
        from seabox.ctr import images as ctrimages

        r = self.resolve(ns, ref)
        if ctrimages.is_unpacked(self.client(ns), r):  # the shared client: no lease needed to look
            return r
        c = self.engine.new_client(ns)
        try:
            if not ctrimages.is_unpacked(c, r):
                from seabox.ctr import leases

                with leases.temporary(c):
                    ctrimages.unpack(c, r)
        finally:
            c.close()
        return r

    # -- pull -----------------------------------------------------------------------------------

    def pull(self, ns: str, ref: str, *, auth: str = "", platform: str = "") -> Iterator[bytes]:
        """Docker's progress stream (JSON lines) while the pull runs in a worker thread."""
        name = normalize(ref)
        creds = credentials_from_header(auth)
        q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        r = references.parse_with_default_tag(name)
        tag = name.rsplit(":", 1)[-1] if "@" not in name else name.split("@", 1)[1]
        path = familiar(f"{r.domain}/{r.path}") if hasattr(r, "domain") else familiar(name.rsplit(":", 1)[0])

        def progress(ev: Any) -> None:
            kind = ev.kind
            if kind == "resolved":
                return
            mt = ev.media_type or ""
            if "layer" not in mt and "rootfs" not in mt:
                return
            ident = short(ev.digest)
            if kind == "downloading":
                q.put({"status": "Downloading", "progressDetail": {"current": ev.current, "total": ev.total},
                       "id": ident})
            elif kind == "verifying":
                q.put({"status": "Verifying Checksum", "progressDetail": {}, "id": ident})
            elif kind == "extracting":
                q.put({"status": "Extracting", "progressDetail": {"current": ev.current, "total": ev.total},
                       "id": ident})
            elif kind == "done":
                q.put({"status": "Pull complete", "progressDetail": {}, "id": ident})
            elif kind == "already-exists":
                q.put({"status": "Already exists", "progressDetail": {}, "id": ident})

        def work() -> None:
            from seabox.ctr import images as ctrimages
            from seabox.ctr import leases
            from seabox.ctr.images import RemoteStore
            from seabox.images.pull import pull as do_pull

            c = self.engine.new_client(ns)
            try:
                q.put({"status": f"Pulling from {path}", "id": tag})
                existed = ""
                with contextlib.suppress(errdefs.SeaboxError):
                    existed = ctrimages.get(c, name).target.digest
                with leases.temporary(c):
                    img = do_pull(name, content_store=RemoteStore(c), snapshotter=None,
                                  hosts_dir=self.engine.settings.hosts_dir or None,
                                  credentials=creds or self.engine.credentials(), platform=platform or None,
                                  progress=progress)
                    ctrimages.save_record(c, name, img.target)
                    r = ctrimages.resolve(c, name, platform or None)
                    if not ctrimages.is_unpacked(c, r):
                        ctrimages.unpack(c, r)
                q.put({"status": f"Digest: {img.target.digest}"})
                if existed == img.target.digest:
                    q.put({"status": f"Status: Image is up to date for {familiar(name)}"})
                else:
                    q.put({"status": f"Status: Downloaded newer image for {familiar(name)}"})
                self.engine.emit(ns, "image", "pull", familiar(name), {"name": familiar(name)})
            except Exception as e:  # reported in the stream, as docker does
                msg = str(e)
                if isinstance(e, errdefs.NotFound):
                    msg = f"pull access denied for {path}, repository does not exist or may require " \
                          f"'docker login': {e}" if "not found" in msg else msg
                q.put({"errorDetail": {"message": msg}, "error": msg})
            finally:
                c.close()
                q.put(None)

        threading.Thread(target=work, name="engine-pull", daemon=True).start()

        def stream() -> Iterator[bytes]:
            while True:
                item = q.get()
                if item is None:
                    return
                yield json.dumps(item).encode() + b"\r\n"

        return stream()

    # -- shapes ---------------------------------------------------------------------------------

    def summary(self, ns: str) -> list[dict[str, Any]]:
        from seabox.ctr import images as ctrimages

        c = self.client(ns)
        by_id: dict[str, dict[str, Any]] = {}
        for rec in self.records(ns):
            try:
                r = ctrimages.resolve(c, rec.name)
            except errdefs.SeaboxError:
                continue
            iid = r.manifest.config.digest
            e = by_id.setdefault(iid, {
                "Id": iid, "ParentId": "", "RepoTags": [], "RepoDigests": [],
                "Created": _epoch(str(_raw_config(self.engine, ns, r).get("created", ""))), "Size": r.size, "SharedSize": -1, "VirtualSize": r.size,
                "Labels": dict((r.config.config or {}).get("Labels") or {}), "Containers": -1,
            })
            if "@" in rec.name:
                e["RepoDigests"].append(familiar(rec.name))
            else:
                e["RepoTags"].append(familiar(rec.name))
                e["RepoDigests"].append(familiar(rec.name.rsplit(":", 1)[0]) + "@" + rec.target.digest)
        return list(by_id.values())

    def inspect(self, ns: str, ref: str) -> dict[str, Any]:
        r = self.resolve(ns, ref)
        cfg = dict(r.config.config or {})
        names = [rec.name for rec in self.records(ns)]
        same = []
        for n in names:
            with contextlib.suppress(errdefs.SeaboxError):
                if self.resolve(ns, n).manifest.config.digest == r.manifest.config.digest:
                    same.append(n)
        raw = _raw_config(self.engine, ns, r)
        return {
            "Id": r.manifest.config.digest,
            "RepoTags": [familiar(n) for n in same if "@" not in n],
            "RepoDigests": [familiar(n.rsplit(":", 1)[0]) + "@" + r.target.digest for n in same if "@" not in n],
            "Parent": "", "Comment": raw.get("comment", ""), "Created": raw.get("created", ""),
            "Container": "", "ContainerConfig": {}, "DockerVersion": raw.get("docker_version", ""),
            "Author": raw.get("author", ""), "Config": cfg,
            "Architecture": raw.get("architecture", ""), "Os": raw.get("os", ""),
            "Variant": raw.get("variant", ""), "Size": r.size, "VirtualSize": r.size,
            "GraphDriver": {"Name": "overlayfs", "Data": {}},
            "RootFS": {"Type": "layers", "Layers": list(r.config.diff_ids)},
            "Metadata": {"LastTagTime": ZERO},
        }

    def history(self, ns: str, ref: str) -> list[dict[str, Any]]:
        r = self.resolve(ns, ref)
        raw = _raw_config(self.engine, ns, r)
        out = []
        for h in reversed(raw.get("history") or []):
            out.append({"Id": "<missing>", "Created": _epoch(h.get("created", "")), "CreatedBy": h.get("created_by", ""),
                        "Tags": None, "Size": 0, "Comment": h.get("comment", "")})
        if out:
            out[0]["Id"] = r.manifest.config.digest
        return out

    def tag(self, ns: str, source: str, repo: str, tag: str) -> None:
        from seabox.ctr import images as ctrimages

        r = self.resolve(ns, source)
        target = normalize(f"{repo}:{tag or 'latest'}")
        ctrimages.save_record(self.client(ns), target, r.target)
        self.engine.emit(ns, "image", "tag", familiar(target), {"name": familiar(target)})

    def remove(self, ns: str, ref: str, *, force: bool = False) -> list[dict[str, str]]:
        from seabox.ctr import images as ctrimages

        r = self.resolve(ns, ref)
        iid = r.manifest.config.digest
        users = [c for c in self.engine.containers.records.all(ns) if c.get("Image") == iid]
        if users and not force:
            raise errdefs.AlreadyExists(
                f"conflict: unable to remove repository reference \"{ref}\" (must force) - container "
                f"{users[0]['Id'][:12]} is using its referenced image {short(iid)}")
        pb = ctrimages._pb()
        c = self.client(ns)
        out: list[dict[str, str]] = []
        names: list[str]
        try:
            names = [normalize(ref)]
            ctrimages.get(c, names[0])
        except errdefs.SeaboxError:
            names = [n.name for n in self.records(ns) if self._same(ns, n.name, iid)]
        for n in names:
            c.images.Delete(pb.DeleteImageRequest(name=n))
            out.append({"Untagged": familiar(n)})
        if not any(self._same(ns, n.name, iid) for n in self.records(ns)):
            out.append({"Deleted": iid})
        self.engine.emit(ns, "image", "delete", iid, {"name": familiar(names[0]) if names else ""})
        return out

    def _same(self, ns: str, name: str, iid: str) -> bool:
        try:
            return bool(self.resolve(ns, name).manifest.config.digest == iid)
        except errdefs.SeaboxError:
            return False


ZERO = "0001-01-01T00:00:00Z"


def _raw_config(engine: Any, ns: str, r: Any) -> dict[str, Any]:
    from seabox.ctr.images import RemoteStore

    try:
        doc = json.loads(RemoteStore(engine.client(ns)).read(r.manifest.config.digest))
        return dict(doc) if isinstance(doc, dict) else {}
    except (errdefs.SeaboxError, ValueError):
        return {}


def _epoch(text: str) -> int:
    """RFC 3339 (any fraction, Z or offset) → whole seconds since the epoch; 0 if unreadable."""
    import re

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$", text or "")
    if not m:
        return 0
    tz = m.group(2) or "Z"
    dt = datetime.datetime.fromisoformat(m.group(1) + ("+00:00" if tz == "Z" else tz))
    return int(dt.timestamp())


def registry_of(server: str) -> str:
    """The registry host of docker's ``serveraddress`` ("https://index.docker.io/v1/" → docker.io)."""
    host = server.strip()
    for scheme in ("https://", "http://"):
        host = host.removeprefix(scheme)
    host = host.split("/", 1)[0]
    return "docker.io" if host in ("", "index.docker.io", "registry-1.docker.io") else host


def check_login(settings: Any, server: str, username: str, password: str) -> str:
    """``POST /auth``: the credentials against the registry's ``/v2/`` (through the hosts dir's
    mirrors and TLS settings, as a pull would go); nothing is stored by the daemon — the client
    keeps its credentials, as docker's does."""
    from seabox.images.registry.client import RegistryClient

    registry = registry_of(server)
    with RegistryClient(hosts_dir=settings.hosts_dir or None, credentials=lambda _h: (username, password)) as c:
        try:
            c.ping(registry)
        except errdefs.Unauthorized as e:
            raise errdefs.Unauthorized(f"login attempt to {registry} failed: {e}") from None
    return registry
