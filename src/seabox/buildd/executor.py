"""The engine loop: parse → graph → pull bases → key every step → run the misses → image.

Steps run on overlay snapshots in buildd's own snapshotter: a filesystem step
prepares an active snapshot on its parent, mounts it, runs (RUN through
``runstep``) or copies (``fsops``), unmounts, writes the upper dir's changes as a
gzip layer into buildd's content store (``diff_snapshot``) and commits the
snapshot under a name derived from the step's cache key.  The cache record keeps
the whole layer chain, so a fully cached build touches no filesystem at all.
Config-only steps (ENV, CMD, LABEL...) never run: ``imageconfig.stage_config``
replays them.  Stages of one graph level run in parallel threads; snapshotter
metadata calls are serialised under one lock (SQLite), the slow parts (mount,
run, diff) are not.  Progress goes to ``emit`` as plain dicts (JSON lines on the wire).

Documented simplifications: ``--mount=type=cache`` dirs live under ``<root>/cache-mounts``
keyed by ``id`` (default: the target); ``sharing=locked`` and ``sharing=private`` both
serialise users of one id (private does not get a fresh copy).  Bind mounts are always
read-only (``rw`` writes are not discarded copies as in BuildKit).  An ``ADD <url>``
step's key is its instruction text: the URL is fetched again only on a miss (BuildKit
re-checks the remote digest).  An image's timestamps are those of its newest step, so
a fully cached rebuild is byte-for-byte the same image.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets as pysecrets
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seabox import errdefs
from seabox.build import imageconfig
from seabox.build.cachekey import is_filesystem_step
from seabox.build.context import ContextIndex
from seabox.build.dockerfile import instructions as ins
from seabox.build.dockerfile import parse
from seabox.build.dockerfile.parser import Dockerfile, Stage, Step
from seabox.build.graph import build_graph
from seabox.build.ignore import IgnoreRules, read_rules
from seabox.build.plan import build_keys
from seabox.buildd import fsops, runstep
from seabox.buildd.cache import CacheDB, Layer, Record
from seabox.buildd.rwlock import RWLock
from seabox.oci import image as oci

Emit = Callable[[dict[str, Any]], None]
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"


class BuildError(Exception):
    """A build failure with a one-line, user-facing message."""


class _DependencyFailed(Exception):
    """A stage read a stage that failed (the failure itself is reported by that stage)."""


@dataclass
class BuildOptions:
    dockerfile: str  # the Dockerfile's text
    context_dir: str
    dockerfile_name: str = "Dockerfile"
    dockerfile_path: str = ""  # on the daemon's host, for <Dockerfile>.dockerignore
    build_args: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    platform: str = ""
    secrets: dict[str, bytes] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    cache_from: list[dict[str, str]] = field(default_factory=list)  # remotecache.parse_spec results
    cache_to: list[dict[str, str]] = field(default_factory=list)


@dataclass
class ImageSource:
    ref: str
    manifest_digest: str
    config: dict[str, Any]
    layers: list[Layer]
    snapshot: str | None


@dataclass
class FsState:
    snapshot: str | None
    layers: list[Layer]
    created: float = 0.0  # when the newest step of this filesystem was built (0: none yet)


@dataclass
class StageResult:
    state: FsState
    config: dict[str, Any]  # the full image config JSON (architecture, os, config, history, rootfs)


@dataclass
class BuildResult:
    config: dict[str, Any]
    layers: list[Layer]
    snapshot: str | None
    steps: int
    cached: int
    records: list[Record] = field(default_factory=list)  # every step's cache record, in run order


def _now(ts: float | None = None) -> str:
    t = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _docker_layer_type(media_type: str) -> str:
    return {oci.OCI_LAYER_GZIP: oci.DOCKER_LAYER_GZIP, oci.OCI_LAYER: oci.DOCKER_LAYER}.get(media_type, media_type)


def default_hosts_dir() -> str:
    """The first hosts directory that exists, as seaboxd chooses it ("" when there is none)."""
    for d in ("/etc/seabox/certs.d", "/etc/containerd/certs.d", "/etc/docker/certs.d"):
        if Path(d).is_dir():
            return d
    return ""


class Engine:
    """One buildd's storage and executor: content store, snapshotter and cache under ``root``."""

    def __init__(self, root: Path, state: Path, hosts_dir: str | None = None) -> None:
        from seabox.content.store import ContentStore
        from seabox.snapshots.overlay import OverlaySnapshotter

        # registry mirrors / TLS settings: containerd's hosts directory (hosts.toml per registry)
        self.hosts_dir = hosts_dir if hosts_dir is not None else default_hosts_dir()
        self.root = Path(root)
        self.state = Path(state)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        self.content = ContentStore(self.root / "content")
        self.snapshotter = OverlaySnapshotter(self.root / "snapshots")
        self.cache = CacheDB(self.root / "cache.db")
        self.cache_mounts = self.root / "cache-mounts"
        self.cache_mounts.mkdir(exist_ok=True)
        self.snap_lock = threading.RLock()
        self.builds = RWLock()  # builds run side by side; prune waits for them and keeps them out
        self._mount_locks: dict[str, threading.Lock] = {}
        self.indexes: dict[str, ContextIndex] = {}
        self.indexes_lock = threading.Lock()
        self._mount_locks_guard = threading.Lock()

    def close(self) -> None:
        self.cache.close()
        self.snapshotter.close()

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot_exists(self, name: str) -> bool:
        with self.snap_lock:
            try:
                self.snapshotter.stat(name)
                return True
            except errdefs.NotFound:
                return False

    @contextlib.contextmanager
    def mounted(self, parent: str | None, *, writable: bool) -> Iterator[tuple[str, str]]:
        """Mount an active (writable) or view snapshot on ``parent``; yields (snapshot key, mountpoint)."""
        from seabox.snapshots.mount import mount_all, unmount

        key = f"buildd-{'active' if writable else 'view'}-{pysecrets.token_hex(8)}"
        with self.snap_lock:
            mounts = (self.snapshotter.prepare if writable else self.snapshotter.view)(key, parent)
        mnt = tempfile.mkdtemp(prefix="mnt-", dir=self.state)
        ok = False
        try:
            mount_all(mounts, mnt)
            try:
                yield key, mnt
                ok = True
            finally:
                unmount(mnt)
        finally:
            os.rmdir(mnt)
            if not (ok and writable):
                with self.snap_lock, contextlib.suppress(errdefs.NotFound):
                    self.snapshotter.remove(key)

    def commit_layer(self, active: str, name: str, *, make_layer: bool) -> tuple[str, Layer | None, int]:
        """Diff the active snapshot into a layer blob and commit it as ``name``."""
        from seabox.snapshots.diff import write_diff

        layer = None
        size = 0
        if make_layer:
            with self.snap_lock:  # metadata (SQLite) under the lock; the slow tar+gzip outside it
                upper = self.snapshotter.path_of(active)
            w = self.content.writer(f"buildd-layer-{active}")
            try:
                res = write_diff(None, upper, w, overlay=True)  # type: ignore[arg-type]
                with contextlib.suppress(errdefs.AlreadyExists):
                    w.commit(res.size, res.digest, {LABEL_UNCOMPRESSED: res.diff_id})
            finally:
                w.close()
            layer = Layer(res.digest, res.size, res.diff_id, oci.DOCKER_LAYER_GZIP)
            size = res.size
        with self.snap_lock:
            if self.snapshot_exists(name):
                name = f"{name}-{pysecrets.token_hex(4)}"
            self.snapshotter.commit(name, active)
            with contextlib.suppress(Exception):
                size += self.snapshotter.usage(name).size
        return name, layer, size

    # -- images --------------------------------------------------------------------------------

    def resolve_image(self, ref: str, opts: BuildOptions, emit: Emit) -> ImageSource:
        from seabox.images.pull import pull

        rec = None if opts.pull else self.cache.get_image(ref + "|" + opts.platform)
        if rec is not None and rec.get("snapshot") and self.snapshot_exists(rec["snapshot"]) \
                and self.content.exists(rec["config"]):
            cfg = json.loads(self.content.read_bytes(rec["config"]))
            return ImageSource(ref, rec["manifest"], cfg, [Layer.from_dict(x) for x in rec["layers"]], rec["snapshot"])

        def creds(host: str) -> tuple[str, str] | None:
            return opts.credentials.get(host)

        with self.snap_lock:
            img = pull(ref, content_store=self.content, snapshotter=self.snapshotter, credentials=creds,
                       platform=opts.platform or None, hosts_dir=self.hosts_dir or None)
        cfg = json.loads(self.content.read_bytes(img.config_descriptor.digest))
        layers = [Layer(d.digest, d.size, img.config.diff_ids[i], d.media_type) for i, d in enumerate(img.manifest.layers)]
        self.cache.put_image(ref + "|" + opts.platform, {
            "manifest": img.manifest_descriptor.digest, "config": img.config_descriptor.digest,
            "snapshot": img.snapshot, "layers": [x.to_dict() for x in layers]})
        return ImageSource(ref, img.manifest_descriptor.digest, cfg, layers, img.snapshot)

    # -- the build -----------------------------------------------------------------------------

    def build(self, opts: BuildOptions, emit: Emit, cancel: threading.Event | None = None) -> BuildResult:
        """Run a build; setting ``cancel`` stops it at the next step and kills a running RUN."""
        return _Build(self, opts, emit, cancel or threading.Event()).run()

    # -- disk usage and GC ---------------------------------------------------------------------

    def du(self) -> list[dict[str, Any]]:
        return [{"id": r.key, "size": r.size, "description": r.description, "last_used": r.last_used}
                for r in self.cache.all()]

    def prune(self, keep_storage: int = 0) -> dict[str, int]:
        """Drop least recently used records until the cache holds at most ``keep_storage`` bytes.

        A record whose snapshot is the parent of another snapshot is dropped only after
        its children (overlay lowers cannot go first), so the walk repeats until the
        cache fits or nothing more can go.
        """
        with self.builds.exclusive():
            records = self.cache.all()  # least recently used first
            total = sum(r.size for r in records)
            removed = 0
            freed = 0
            progress = True
            while total > keep_storage and records and progress:
                progress = False
                with self.snap_lock:
                    parents = {i.parent for i in self.snapshotter.walk() if i.parent}
                for r in list(records):
                    if total <= keep_storage:
                        break
                    if r.snapshot in parents:
                        continue
                    with self.snap_lock, contextlib.suppress(errdefs.NotFound):
                        self.snapshotter.remove(r.snapshot)
                    self.cache.delete(r.key)
                    records.remove(r)
                    total -= r.size
                    freed += r.size
                    removed += 1
                    progress = True
                    break  # parents changed: recompute
            self._collect_blobs()
            return {"removed": removed, "freed": freed, "remaining": max(total, 0)}

    def _collect_blobs(self) -> int:
        """Delete layer blobs that neither a cache record nor a pulled base image references."""
        keep: set[str] = set()
        for r in self.cache.all():
            keep.update(x.digest for x in r.layers)
        for img in self.cache.all_images():
            keep.update(x["digest"] for x in img.get("layers", []))
        freed = 0
        for info in self.content.list():
            if info.digest in keep or LABEL_UNCOMPRESSED not in (info.labels or {}):
                continue
            with contextlib.suppress(errdefs.NotFound):
                self.content.delete(info.digest)
                freed += info.size
        return freed


class _Build:
    def __init__(self, engine: Engine, opts: BuildOptions, emit: Emit, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.e = engine
        self.opts = opts
        self.emit = emit
        self.images: dict[str, ImageSource] = {}
        self.results: dict[int, StageResult] = {}
        self.secret_dir = Path(tempfile.mkdtemp(prefix="secrets-", dir=engine.state))
        self._ids = 0
        self._ids_lock = threading.Lock()
        self.steps = 0
        self.cached = 0
        self.records: list[Record] = []
        self.remote: Any = None  # remotecache.Imported when --cache-from was given

    def next_id(self) -> int:
        with self._ids_lock:
            self._ids += 1
            return self._ids

    def vertex(self, vid: int, name: str, **kw: Any) -> None:
        self.emit({"type": "step", "id": vid, "name": name, **kw})

    def run(self) -> BuildResult:
        try:
            return self._run()
        finally:
            shutil.rmtree(self.secret_dir, ignore_errors=True)
            if self.remote is not None:
                self.remote.close()

    def _parse(self, base_images: dict[str, Any] | None = None) -> Dockerfile:
        return parse(self.opts.dockerfile, filename=self.opts.dockerfile_name, build_args=self.opts.build_args,
                     target_platform=self.opts.platform or None, base_images=base_images)

    def _run(self) -> BuildResult:
        df = self._parse()
        graph = build_graph(df, self.opts.target or None)
        for ref in graph.image_refs():
            vid = self.next_id()
            t0 = time.time()
            self.vertex(vid, f"[internal] load metadata for {ref}", status="start", started=t0)
            self.images[ref] = self.e.resolve_image(ref, self.opts, self.emit)
            self.vertex(vid, f"[internal] load metadata for {ref}", status="done", started=t0, completed=time.time())
        if self.images:
            df = self._parse({r: imageconfig.base_image(s.config.get("config")) for r, s in self.images.items()})
            graph = build_graph(df, self.opts.target or None)
        rules = read_rules(self.opts.context_dir, self.opts.dockerfile_path or None)
        # a daemon sees the same context dir build after build: files whose (size, mtime, inode)
        # did not change are not hashed again (the shortcut never decides a key, see ContextIndex)
        prev = self.e.indexes.get(self.opts.context_dir)
        index = ContextIndex.scan(self.opts.context_dir, rules, reuse=prev.entries if prev else None)
        with self.e.indexes_lock:
            self.e.indexes[self.opts.context_dir] = index
            while len(self.e.indexes) > 32:
                self.e.indexes.pop(next(iter(self.e.indexes)))
        self.index = index
        keys = build_keys(df, graph, index=index,
                          digests={r: s.manifest_digest for r, s in self.images.items()})
        self.df = df
        if self.opts.cache_from and not self.opts.no_cache:
            from seabox.buildd.remotecache import Imported

            vid = self.next_id()
            t0 = time.time()
            self.vertex(vid, "[internal] importing cache manifests", status="start", started=t0)
            self.remote = Imported(self.e, self.opts.cache_from, self.opts.credentials.get,
                                   lambda line: self.emit({"type": "log", "id": vid, "line": line}))
            self.vertex(vid, "[internal] importing cache manifests", status="done", started=t0, completed=time.time())
        # names (and ids) of every step, in order, before anything runs
        # every needed stage starts at once; a stage blocks only where it reads another one
        # (FROM <stage>, COPY --from, RUN --mount from=), so independent work overlaps as in BuildKit
        self.done = {i: threading.Event() for i in graph.order}
        if len(graph.order) == 1:
            self._stage_thread(df.stages[graph.order[0]], keys[graph.order[0]].steps)
        else:
            with ThreadPoolExecutor(max_workers=len(graph.order), thread_name_prefix="stage") as pool:
                futs = [pool.submit(self._stage_thread, df.stages[i], keys[i].steps) for i in graph.order]
                errors = [f.exception() for f in futs]
            real = [e for e in errors if e is not None and not isinstance(e, _DependencyFailed)]
            if real:
                raise real[0]
            for err in errors:
                if err is not None:
                    raise err
        res = self.results[graph.target]
        config = dict(res.config)
        if self.opts.labels:
            c = dict(config.get("config") or {})
            c["Labels"] = {**(c.get("Labels") or {}), **self.opts.labels}
            config["config"] = c
        return BuildResult(config, res.state.layers, res.state.snapshot, self.steps, self.cached, list(self.records))

    # -- stages --------------------------------------------------------------------------------

    def stage_name(self, st: Stage) -> str:
        return st.name or f"stage-{st.index}"

    def _stage_thread(self, st: Stage, step_keys: tuple[str, ...]) -> None:
        try:
            self.run_stage(st, step_keys)
        finally:
            self.done[st.index].set()

    def result_of(self, index: int) -> StageResult:
        """A stage's result, waiting for it to finish; a failed stage fails its readers."""
        self.done[index].wait()
        if index not in self.results:
            raise _DependencyFailed(f"stage {index} failed")
        return self.results[index]

    def run_stage(self, st: Stage, step_keys: tuple[str, ...]) -> None:
        if st.base_stage is not None:
            base = self.result_of(st.base_stage)
            state = FsState(base.state.snapshot, list(base.state.layers), base.state.created)
            base_config = base.config
        elif st.base_image is None:
            state = FsState(None, [])
            base_config = {}
        else:
            src = self.images[st.base_image]
            state = FsState(src.snapshot, list(src.layers))
            base_config = src.config
        sc = imageconfig.stage_config(st, base_config.get("config"))  # layer flags; replayed again below
        fs_steps = [j for j, s in enumerate(st.steps) if is_filesystem_step(s.instruction)]
        total = 1 + len(fs_steps)
        label = self.stage_name(st)
        vid = self.next_id()
        fname = f"[{label} 1/{total}] FROM {st.from_.image}"
        self.vertex(vid, fname, status="start", started=time.time())
        self.vertex(vid, fname, status="done", cached=True, started=time.time(), completed=time.time())
        for n, j in enumerate(fs_steps, start=2):
            step = st.steps[j]
            key = step_keys[j]
            name = f"[{label} {n}/{total}] {step.instruction.original.strip()}"
            make_layer = not sc.history[j].empty_layer
            state = self.run_step(step, key, name, state, make_layer, st)
        # the image's timestamps are those of its newest step (cached or built): a fully cached
        # rebuild yields the very same config and manifest digests, as docker's classic builder does
        created = _now(state.created) if state.created else (base_config.get("created") or _now())
        sc = imageconfig.stage_config(st, base_config.get("config"), created=created)
        history = [*(base_config.get("history") or []), *(
            {k: v for k, v in {"created": h.created, "created_by": h.created_by, "author": h.author,
                               "comment": h.comment, "empty_layer": h.empty_layer}.items() if v}
            for h in sc.history)]
        config: dict[str, Any] = {
            "architecture": base_config.get("architecture") or _arch(self.opts.platform),
            "os": base_config.get("os") or "linux",
            "created": created,
            "config": sc.config,
            "rootfs": {"type": "layers", "diff_ids": [x.diff_id for x in state.layers]},
            "history": history,
        }
        if base_config.get("variant"):
            config["variant"] = base_config["variant"]
        if sc.author:
            config["author"] = sc.author
        self.results[st.index] = StageResult(state, config)

    def run_step(self, step: Step, key: str, name: str, state: FsState, make_layer: bool, st: Stage) -> FsState:
        if self.cancel.is_set():
            raise BuildError("build canceled: the client went away")
        vid = self.next_id()
        t0 = time.time()
        self.steps += 1
        rec = None if self.opts.no_cache else self.e.cache.get(key)
        if rec is not None and self.e.snapshot_exists(rec.snapshot) \
                and all(self.e.content.exists(x.digest) for x in rec.layers):
            self.e.cache.touch(key)
            self.cached += 1
            self._note(rec)
            self.vertex(vid, name, status="done", cached=True, started=t0, completed=time.time())
            return FsState(rec.snapshot, rec.layers, max(state.created, rec.created))
        remote = self.remote.get(key) if self.remote is not None else None
        if remote is not None and remote.layers:
            self.vertex(vid, name, status="start", started=t0)
            try:
                snap = self.remote.materialize(key)
            except (errdefs.SeaboxError, OSError) as err:  # a broken cache only costs a rebuild
                self.emit({"type": "log", "id": vid, "line": f"WARNING: cache from {remote.source} not used: {err}"})
            else:
                rec = Record(key, str(snap), remote.layers, remote.layers[-1].size, name, created=remote.created)
                self.e.cache.put(rec)
                self.cached += 1
                self._note(rec)
                self.vertex(vid, name, status="done", cached=True, started=t0, completed=time.time())
                return FsState(rec.snapshot, rec.layers, max(state.created, rec.created))
        self.vertex(vid, name, status="start", started=t0)
        try:
            with self.e.mounted(state.snapshot, writable=True) as (active, mnt):
                self.execute(step, mnt, st, lambda line: self.emit({"type": "log", "id": vid, "line": line}))
            snap, layer, size = self.e.commit_layer(active, "buildd-" + key.replace("sha256:", ""), make_layer=make_layer)
        except BaseException as err:
            self.vertex(vid, name, status="error", started=t0, completed=time.time(), error=str(err))
            raise
        layers = [*state.layers, layer] if layer else list(state.layers)
        now = time.time()
        rec = Record(key, snap, layers, size, name, created=now)
        self.e.cache.put(rec)
        self._note(rec)
        self.vertex(vid, name, status="done", cached=False, started=t0, completed=now)
        return FsState(snap, layers, now)

    def _note(self, rec: Record) -> None:
        with self._ids_lock:  # stages run in threads
            self.records.append(rec)

    # -- instructions --------------------------------------------------------------------------

    def execute(self, step: Step, root: str, st: Stage, log: Callable[[str], None]) -> None:
        i = step.instruction
        if isinstance(i, ins.Workdir):
            fsops.mkdir_p(root, step.state.workdir if i.path == "" else _join(step.state.workdir, i.path))
        elif isinstance(i, ins.Run):
            self.do_run(step, i, root, st, log)
        elif isinstance(i, (ins.Copy, ins.Add)):
            self.do_copy(step, i, root, st)
        else:  # config-only steps never reach here
            raise errdefs.InvalidArgument(errdefs.subject("instruction", i.keyword, "is not a filesystem step"))

    def _chown(self, root: str, spec: str | None) -> tuple[int, int] | None:
        if not spec:
            return None
        uid, gid, _ = fsops.resolve_user(root, spec)
        if ":" not in spec:
            gid = uid if spec.isdigit() else gid
        return uid, gid

    @contextlib.contextmanager
    def source_root(self, st: Stage, name: str) -> Iterator[str]:
        """A read-only view of a stage's (or image's) filesystem, for COPY --from and bind mounts."""
        snap: str | None
        for r in st.refs:
            if r.name == name and r.stage is not None:
                snap = self.result_of(r.stage).state.snapshot
                break
        else:
            if name not in self.images:
                raise errdefs.NotFound(errdefs.subject("stage or image", name, "not found"))
            snap = self.images[name].snapshot
        if snap is None:
            d = tempfile.mkdtemp(prefix="empty-", dir=self.e.state)
            try:
                yield d
            finally:
                os.rmdir(d)
            return
        with self.e.mounted(snap, writable=False) as (_, mnt):
            yield mnt

    def do_copy(self, step: Step, i: ins.Copy | ins.Add, root: str, st: Stage) -> None:
        chown = self._chown(root, i.chown)
        workdir = step.state.workdir
        from_ = i.from_ if isinstance(i, ins.Copy) else None
        if i.heredocs:
            d = tempfile.mkdtemp(prefix="heredoc-", dir=self.e.state)
            try:
                for h in i.heredocs:
                    with open(os.path.join(d, h.name), "w", encoding="utf-8") as f:
                        f.write(h.content)
                    os.chmod(os.path.join(d, h.name), 0o644)
                fsops.copy_into(root, d, [h.name for h in i.heredocs], i.dest, workdir, chown=chown,
                                chmod=i.chmod)
            finally:
                shutil.rmtree(d, ignore_errors=True)
        if not i.sources:
            return
        if from_:
            with self.source_root(st, from_) as src:
                fsops.copy_into(root, src, list(i.sources), i.dest, workdir, chown=chown, chmod=i.chmod,
                                parents=isinstance(i, ins.Copy) and i.parents)
            return
        urls = [s for s in i.sources if "://" in s]
        local = [s for s in i.sources if "://" not in s]
        for u in urls:
            if urllib.parse.urlparse(u).scheme not in ("http", "https"):
                raise errdefs.InvalidArgument(errdefs.subject("ADD source", u, "only http(s) URLs are supported"))
            checksum = i.checksum if isinstance(i, ins.Add) else None
            fsops.fetch_url(u, root, i.dest, workdir, chown=chown, chmod=i.chmod, checksum=checksum)
        if local:
            entries = self.index.entries
            excludes = IgnoreRules.from_lines(i.excludes) if i.excludes else None

            def allowed(rel: str) -> bool:
                return rel in entries and not (excludes is not None and excludes.excluded(rel))

            fsops.copy_into(root, self.opts.context_dir, local, i.dest, workdir, chown=chown, chmod=i.chmod,
                            allowed=allowed, extract_tars=isinstance(i, ins.Add),
                            parents=isinstance(i, ins.Copy) and i.parents)

    def _mount_lock(self, cid: str) -> threading.Lock:
        with self.e._mount_locks_guard:
            return self.e._mount_locks.setdefault(cid, threading.Lock())

    def do_run(self, step: Step, i: ins.Run, root: str, st: Stage, log: Callable[[str], None]) -> None:
        if i.security == "insecure":
            raise errdefs.InvalidArgument(errdefs.subject("RUN", "--security=insecure", "is not allowed"))
        uid, gid, extra = fsops.resolve_user(root, step.state.user)
        workdir = step.state.workdir or "/"
        fsops.mkdir_p(root, workdir)
        argv = step.state.run_argv(i)
        script = i.shebang_script()
        created_script = ""
        if script is not None:
            created_script = f"/.buildd-script-{pysecrets.token_hex(4)}"
            p = fsops.resolve_in_root(root, created_script)
            with open(p, "w", encoding="utf-8") as f:
                f.write(script)
            os.chmod(p, 0o755)
            argv = [created_script]
        req = runstep.RunRequest(root, argv, step.state.run_env(), workdir, uid, gid, extra, network=i.network)
        with contextlib.ExitStack() as stack:
            for m in i.mounts:
                target = _join(workdir, m.target) if m.target else ""
                if m.type == "cache":
                    cid = m.id or m.target
                    d = self.e.cache_mounts / hashlib.sha256(cid.encode()).hexdigest()[:32]
                    if not d.exists():
                        d.mkdir()
                        os.chown(d, m.uid or 0, m.gid or 0)
                        os.chmod(d, m.mode if m.mode is not None else 0o755)
                    if m.sharing in ("locked", "private"):
                        lock = self._mount_lock(cid)
                        lock.acquire()
                        stack.callback(lock.release)
                    req.binds.append(runstep.BindSpec(str(d), target, readonly=m.readonly))
                elif m.type == "bind":
                    if m.from_:
                        src_root = stack.enter_context(self.source_root(st, m.from_))
                    else:
                        src_root = self.opts.context_dir
                    src = fsops.resolve_in_root(src_root, m.source or "/")
                    if not os.path.exists(src):
                        raise errdefs.NotFound(errdefs.subject("bind mount source", m.source or ".", "not found"))
                    req.binds.append(runstep.BindSpec(src, target, readonly=True, file=os.path.isfile(src)))
                elif m.type == "secret":
                    sid = m.id or os.path.basename(m.target)
                    data = self.opts.secrets.get(sid)
                    if data is None:
                        if m.required:
                            raise errdefs.NotFound(errdefs.subject("secret", sid, "not provided (use --secret id="
                                                                   f"{sid},src=<file>)"))
                        continue
                    path = self.secret_dir / hashlib.sha256(sid.encode()).hexdigest()[:16]
                    path.write_bytes(data)
                    os.chown(path, m.uid or 0, m.gid or 0)
                    os.chmod(path, m.mode if m.mode is not None else 0o400)
                    req.binds.append(runstep.BindSpec(str(path), target or f"/run/secrets/{sid}", readonly=True,
                                                      file=True))
                elif m.type == "tmpfs":
                    req.binds.append(runstep.BindSpec("tmpfs", target, tmpfs=True))
                else:
                    raise errdefs.InvalidArgument(errdefs.subject("RUN --mount type", m.type, "is not supported"))
            work = self.e.state / "runs"
            work.mkdir(exist_ok=True)
            cid = "buildd-" + pysecrets.token_hex(8)
            try:
                code = runstep.run(req, work=work, runc_root=self.e.state / "runc", cid=cid, on_line=log,
                                   cancel=self.cancel)
            finally:
                if created_script:
                    with contextlib.suppress(OSError):
                        os.unlink(fsops.resolve_in_root(root, created_script))
        if self.cancel.is_set():
            raise BuildError("build canceled: the client went away")
        if code != 0:
            shown = " ".join(argv) if script is None else " ".join(step.state.run_argv(i))
            raise BuildError(f'process "{shown}" did not complete successfully: exit code: {code}')


def _join(workdir: str, path: str) -> str:
    import posixpath

    return posixpath.normpath(posixpath.join(workdir or "/", path))


def _arch(platform: str) -> str:
    if platform:
        parts = platform.split("/")
        if len(parts) > 1:
            return parts[1]
    from seabox.oci import platform as platforms

    return platforms.host().architecture
