"""``ctr run`` on the lean path: the same RPCs as :func:`seabox.ctr.run.run_full`, sent with
seabox.ctr.wire's messages over seabox.ctr.h2grpc, so a run starts without google.protobuf,
dataclasses, seabox.oci or argparse (together ~150 ms of a ~250 ms ``run --rm`` here).

It takes the common case only: a unix socket, no TTY, no ``--config``/``--rootfs``/
``--platform``, and an image whose target is a single manifest already unpacked for the
snapshotter.  The read-only lookups (image, manifest, config, top snapshot) come first;
when any of them is not what this path expects, :func:`run` returns None having changed
nothing, and the caller runs the full path (which also produces every error message for
those cases).  From the lease on it mirrors the full path step by step: Prepare on the top
chain ID, the spec from seabox.ctr.spec, Create the container, then FIFOs, task Create,
Wait before Start, signal forwarding, the exit status, task Delete and, with ``--rm``, the
snapshot and the container.  Rare failure branches call the full library (they may import
protobuf; only the happy path has to be lean).
"""

from __future__ import annotations

from seabox import jsonlite as json  # json.loads/dumps without json's re import
from seabox.ctr import wire as w
from seabox.ctr.client import Client, grpc_code

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from seabox.ctr.run import RunOptions
    from seabox.ctr.stdio import FifoSet, IOOptions

MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")
STOP_SIGNAL_LABEL = "io.containerd.image.config.stop-signal"
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
LEASE_SECONDS = 24 * 3600


class _NotLean(Exception):
    """This run is not one for the lean path (raised before anything was changed)."""


class _Calls:
    """The RPCs of one run over the client's h2grpc channel, with wire messages."""

    def __init__(self, client: Client) -> None:
        self.channel = client.h2_channel()
        self._methods: dict[str, Any] = {}

    def method(self, path: str) -> Any:
        m = self._methods.get(path)
        if m is None:
            from seabox.ctr.h2grpc import Method

            _, resp, streaming = w.METHODS[path]
            m = self._methods[path] = Method(self.channel, path, resp, streaming)
        return m

    def __call__(self, path: str, request: w.Message) -> Any:
        return self.method(path)(request)

    def future(self, path: str, request: w.Message) -> Any:
        return self.method(path).future(request)


def eligible(client: Client, opts: RunOptions) -> bool:
    c = opts.create
    s = c.spec
    return (
        client.uses_h2()
        and not c.config_path
        and not c.rootfs
        and not c.platform
        and c.runtime_options is None
        and s is not None
        and not s.tty
        and not opts.io.terminal
        and bool(c.id)
        and bool(c.image)
    )


def run(client: Client, opts: RunOptions) -> int | None:
    """Run as ``run_full`` would, or None (nothing left behind) when this run needs the full path.

    Two calls are pipelined: the lease is asked for first, as the full path does, but its
    answer is taken only after the image lookups (which need no lease) have been sent; and
    the lease's removal is sent without waiting, its answer collected before returning."""
    if not eligible(client, opts):
        return None
    calls = _Calls(client)
    lease_call = calls.future(w.LEASES + "Create", _lease_request())
    try:
        name, cfg, chains = _resolve(calls, opts.create.image, opts.create.snapshotter)
    except _NotLean:
        try:  # the full path makes its own lease
            calls(w.LEASES + "Delete", w.DeleteLeaseRequest(id=lease_call.result().lease.id))
        except Exception:
            pass
        return None
    lease = str(lease_call.result().lease.id)
    pending: list[Any] = []
    try:
        container, mounts, spec = _create(client, calls, opts, name, cfg, chains, lease, pending)
        return _start(client, calls, opts, container, mounts, spec)
    finally:
        for call in pending:
            try:
                call.result()
            except Exception:
                pass


# -- the read-only part: image, manifest, config, the top snapshot ---------------------------------


def _read(calls: _Calls, digest: str) -> bytes:
    return b"".join(r.data for r in calls(w.CONTENT + "Read", w.ReadContentRequest(digest=digest)))


def _is_digest(d: object) -> bool:
    return isinstance(d, str) and d.startswith("sha256:") and len(d) == 71 and all(c in "0123456789abcdef" for c in d[7:])


def _resolve(calls: _Calls, name: str, snapshotter: str) -> tuple[str, dict[str, Any], list[str]]:
    """(image name, image config's ``config``, chain IDs), or _NotLean for anything the full
    path handles differently: a missing image, an index, a manifest or config that the full
    parser might reject, layers not unpacked yet, any RPC error."""
    from seabox.ctr.h2grpc import RpcError

    try:
        img = calls(w.IMAGES + "Get", w.GetImageRequest(name=name)).image
        target = img.target
        if target.media_type not in MANIFEST_TYPES or not _is_digest(target.digest):
            raise _NotLean
        config_digest, n_layers = _check_manifest(json.loads(_read(calls, target.digest)), target.media_type)
        config = json.loads(_read(calls, config_digest))
        diff_ids = _check_config(config)
        if len(diff_ids) != n_layers:
            raise _NotLean
        chains = _chain_ids(diff_ids)
        if chains:
            calls(w.SNAPSHOTS + "Stat", w.StatSnapshotRequest(snapshotter=snapshotter, key=chains[-1]))
    except (RpcError, ValueError, TypeError, AttributeError):
        raise _NotLean from None
    return img.name, dict(config.get("config") or {}), chains


def _is_text_map(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


def _check_descriptor(d: object) -> str:
    """The digest of a plain descriptor (media type, sha256 digest, size, annotations)."""
    if not isinstance(d, dict) or not set(d) <= {"mediaType", "digest", "size", "annotations"}:
        raise _NotLean
    size = d.get("size")
    if not isinstance(d.get("mediaType"), str) or not _is_digest(d.get("digest")):
        raise _NotLean
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _NotLean
    if "annotations" in d and not _is_text_map(d["annotations"]):
        raise _NotLean
    return str(d["digest"])


def _check_manifest(manifest: Any, media_type: str) -> tuple[str, int]:
    """(config digest, layer count) of a plain image manifest the full parser would accept
    the same way: only the usual keys, plain descriptors."""
    if not isinstance(manifest, dict) or not set(manifest) <= {"schemaVersion", "mediaType", "config", "layers", "annotations"}:
        raise _NotLean
    if manifest.get("schemaVersion") != 2 or type(manifest["schemaVersion"]) is not int:
        raise _NotLean
    mt = manifest.get("mediaType", media_type)
    if mt not in MANIFEST_TYPES or mt != media_type:
        raise _NotLean
    if "annotations" in manifest and not _is_text_map(manifest["annotations"]):
        raise _NotLean
    config_digest = _check_descriptor(manifest.get("config"))
    layers = manifest.get("layers", [])
    if not isinstance(layers, list):
        raise _NotLean
    for layer in layers:
        _check_descriptor(layer)
    return config_digest, len(layers)


_TEXT = ("created", "author", "variant", "os.version")
_HISTORY = {"created": str, "created_by": str, "author": str, "comment": str, "empty_layer": bool}


def _check_config(config: Any) -> list[str]:
    """The diff IDs of an image config the full parser (seabox.oci.image) would accept."""
    if not isinstance(config, dict):
        raise _NotLean
    if not all(isinstance(config.get(k, ""), str) for k in _TEXT):
        raise _NotLean
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise _NotLean
    diff_ids = rootfs.get("diff_ids", [])
    if not isinstance(diff_ids, list) or not all(_is_digest(d) for d in diff_ids):
        raise _NotLean
    for key in ("architecture", "os"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise _NotLean
    cfg = config.get("config")
    if cfg is not None and not isinstance(cfg, dict):
        raise _NotLean
    history = config.get("history", [])
    if not isinstance(history, list):
        raise _NotLean
    for h in history:
        if not isinstance(h, dict) or not all(k in _HISTORY and isinstance(v, _HISTORY[k]) for k, v in h.items()):
            raise _NotLean
    return diff_ids


def _chain_ids(diff_ids: list[str]) -> list[str]:
    """``ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n))`` (the image spec)."""
    from _sha256 import sha256  # hashlib would load OpenSSL (~5 ms) for one small digest

    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


# -- the container -----------------------------------------------------------------------------


def _create(client: Client, calls: _Calls, opts: RunOptions, name: str, cfg: dict[str, Any], chains: list[str],
            lease: str, pending: list[Any]) -> tuple[Any, list[Any], dict[str, Any]]:  # fmt: skip
    """containers.create_with_mounts for a resolved, unpacked image: under ``lease``, Prepare
    the rootfs on the top chain ID, build the spec, record the container; then the lease's
    removal goes out (its answer is appended to ``pending``)."""
    from seabox.ctr import spec as specs

    c = opts.create
    labels: dict[str, str] = {}
    client.lease = lease
    try:
        labels.update({k: v for k, v in (cfg.get("Labels") or {}).items()})
        if cfg.get("StopSignal"):
            labels[STOP_SIGNAL_LABEL] = cfg["StopSignal"]
        top = chains[-1] if chains else ""
        try:
            mounts = calls(w.SNAPSHOTS + "Prepare", w.PrepareSnapshotRequest(snapshotter=c.snapshotter, key=c.id, parent=top)).mounts
        except Exception as e:
            if grpc_code(e) == "ALREADY_EXISTS":
                from seabox import errdefs

                raise errdefs.AlreadyExists(errdefs.subject("snapshot", c.id, "already exists")) from None
            raise
        try:
            from seabox.ctr.containers import read_chain_files, read_files_from_mounts

            files = read_files_from_mounts(mounts, ["/etc/passwd", "/etc/group"])
            if files is None and top:
                files = read_chain_files(client, c.snapshotter, top, ["/etc/passwd", "/etc/group"])
            passwd, group = (files or [None, None])[0], (files or [None, None])[1]
            from _socket import gethostname  # socket.gethostname, without the socket module

            spec = specs.build(client.namespace, c.id, cfg, c.spec, passwd=passwd, group=group, host_hostname=gethostname())
        except BaseException:
            _quietly(calls, w.SNAPSHOTS + "Remove", w.RemoveSnapshotRequest(snapshotter=c.snapshotter, key=c.id))
            raise
        labels.update(c.labels)
        container = w.Container(
            id=c.id, labels=labels, image=name, runtime=w.Runtime(name=c.runtime or "io.containerd.runc.v2"),
            spec=w.Any_(type_url=specs.SPEC_TYPE_URL, value=json.dumps(spec, compact=False).encode()),
            snapshotter=c.snapshotter, snapshot_key=c.id,
        )  # fmt: skip
        try:
            created = calls(w.CONTAINERS + "Create", w.CreateContainerRequest(container=container)).container
        except BaseException:
            _quietly(calls, w.SNAPSHOTS + "Remove", w.RemoveSnapshotRequest(snapshotter=c.snapshotter, key=c.id))
            raise
        return created, mounts, spec
    finally:
        client.lease = ""
        try:
            pending.append(calls.future(w.LEASES + "Delete", w.DeleteLeaseRequest(id=lease)))
        except Exception:
            pass


def _lease_request() -> w.CreateLeaseRequest:
    """leases.temporary's lease: a random id, expiring in 24 h."""
    import time

    from seabox.ctr.leases import EXPIRE_LABEL, random_id
    from seabox.ctr.tables import rfc3339

    labels = {EXPIRE_LABEL: rfc3339(int(time.time() + LEASE_SECONDS))}
    return w.CreateLeaseRequest(id=random_id(), labels=labels)


def _quietly(calls: _Calls, path: str, request: w.Message) -> None:
    try:
        calls(path, request)
    except Exception:
        pass


# -- the task ----------------------------------------------------------------------------------


def _start(client: Client, calls: _Calls, opts: RunOptions, container: Any, mounts: list[Any], spec: dict[str, Any]) -> int:
    """tasks.start for the new container, and run_full's cleanup (``--rm``) and undo."""
    cid = opts.create.id
    io = opts.io
    io.null_io = opts.null_io
    io.fifo_dir = opts.fifo_dir
    io.terminal = bool((spec.get("process") or {}).get("terminal"))
    try:
        code = _foreground(calls, cid, io, mounts, detach=opts.detach, pid_file=opts.pid_file)
    except BaseException:
        from seabox.ctr.run import undo

        undo(client, cid, remove_container=opts.rm)
        raise
    if opts.detach:
        return 0
    _quietly(calls, w.TASKS + "Delete", w.DeleteTaskRequest(container_id=cid))
    if opts.rm:  # containers.delete_one(..., task_gone=True), errors ignored as run_full's cleanup does
        try:
            if container.snapshot_key:
                try:
                    calls(w.SNAPSHOTS + "Remove", w.RemoveSnapshotRequest(snapshotter=container.snapshotter,
                                                                          key=container.snapshot_key))  # fmt: skip
                except Exception as e:
                    if grpc_code(e) != "NOT_FOUND":
                        raise
            calls(w.CONTAINERS + "Delete", w.DeleteContainerRequest(id=cid))
        except Exception:
            pass
    return code


def _foreground(calls: _Calls, cid: str, io: IOOptions, mounts: list[Any], *, detach: bool, pid_file: str) -> int:
    """tasks.run_foreground for a task without a TTY: FIFOs, Create, Wait before Start,
    signals forwarded, the exit status once the output has drained."""
    fifos: FifoSet | None = None
    restore: list[tuple[int, Any]] = []
    if not io.null_io and not detach:
        from seabox.ctr.stdio import FifoSet, fifo_root

        fifos = FifoSet(fifo_root(io.fifo_dir), cid, stdin=True, terminal=io.terminal)
    try:
        if fifos is not None:
            fifos.start(in_fd=io.stdin_fd, out_fd=io.stdout_fd, err_fd=io.stderr_fd,
                        close_stdin=lambda: calls(w.TASKS + "CloseIO", w.CloseIORequest(container_id=cid, stdin=True)))  # fmt: skip
        calls(w.TASKS + "Create", w.CreateTaskRequest(
            container_id=cid, rootfs=mounts, stdin=fifos.stdin if fifos else "", stdout=fifos.stdout if fifos else "",
            stderr=fifos.stderr if fifos else "", terminal=io.terminal,
        ))  # fmt: skip
        waiter = None if detach else calls.future(w.TASKS + "Wait", w.WaitRequest(container_id=cid))
        if not detach:
            restore = _forward_signals(calls, cid)
        resp = calls(w.TASKS + "Start", w.StartRequest(container_id=cid))
        if fifos is not None:
            fifos.started.set()
        if pid_file:
            with open(pid_file, "w") as fh:
                fh.write(str(int(resp.pid)))
        if detach or waiter is None:
            return 0
        while True:
            try:
                status = waiter.result(timeout=0.5)
                break
            except TimeoutError:
                continue
        if fifos is not None:
            fifos.wait()
        return int(status.exit_status)
    finally:
        _restore(restore)
        if fifos is not None:
            fifos.close()


def _forward_signals(calls: _Calls, cid: str) -> list[tuple[int, Any]]:
    """ctr's ForwardAllSignals: each signal the client gets is sent to the task (a Kill from
    a thread of its own); returns what to restore.  Installed before Start."""
    import _signal  # signal's functions without its enum wrappers (enum costs ~8 ms)
    import _thread

    restore: list[tuple[int, Any]] = []

    def forward(signum: int, frame: object) -> None:
        _thread.start_new_thread(_quietly, (calls, w.TASKS + "Kill", w.KillRequest(container_id=cid, signal=signum)))

    try:
        for name in FORWARDED:
            sig = getattr(_signal, name)
            restore.append((sig, _signal.getsignal(sig)))
            _signal.signal(sig, forward)
    except ValueError:  # not the main thread: signals stay the caller's
        _restore(restore)
        return []
    return restore


def _restore(saved: list[tuple[int, Any]]) -> None:
    if saved:
        import _signal

        for sig, old in reversed(saved):
            _signal.signal(sig, old)

