"""``ctr run``: create the container, then start its task in the foreground (or detached).

``--rm`` removes the task, the container and its snapshot once the process exits; the
process's exit status becomes the command's exit code, as with ctr.

The common case (an unpacked image, no TTY, seaboxd or containerd on a unix socket) goes
through :mod:`seabox.ctr.leanrun`, which speaks the same RPCs with seabox.ctr.wire's
messages and so starts without google.protobuf; everything else, and any image the lean
path is unsure of, takes the full path below.  Both end in the same daemon state and the
same output.
"""

from __future__ import annotations

from seabox.ctr.client import Client, CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from seabox.ctr.containers import CreateOptions
    from seabox.ctr.stdio import IOOptions


class RunOptions:
    def __init__(self, create: CreateOptions, detach: bool = False, rm: bool = False, null_io: bool = False,
                 fifo_dir: str = "", pid_file: str = "", cni: bool = False, io: IOOptions | None = None,
                 cni_conf_dir: str = "", cni_bin_dirs: tuple[str, ...] = ()) -> None:  # fmt: skip
        from seabox.ctr.stdio import IOOptions

        self.create = create
        self.detach = detach
        self.rm = rm
        self.null_io = null_io
        self.fifo_dir = fifo_dir
        self.pid_file = pid_file
        self.cni = cni
        self.cni_conf_dir = cni_conf_dir  # "" and (): go-cni's defaults (seabox.ctr.network)
        self.cni_bin_dirs = cni_bin_dirs
        self.io = io if io is not None else IOOptions()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return f"RunOptions({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def run(client: Client, opts: RunOptions) -> int:
    if opts.detach and opts.rm:
        raise CommandError("flags --detach and --rm cannot be specified together")
    if opts.cni:
        if opts.create.spec is not None and opts.create.spec.net_host:
            raise CommandError("flags --cni and --net-host cannot be specified together")
        return run_full(client, opts)
    from seabox.ctr import leanrun

    code = leanrun.run(client, opts)
    if code is not None:
        return code
    return run_full(client, opts)


def run_full(client: Client, opts: RunOptions) -> int:
    """``run`` through the library's generated-protobuf stubs (any flags, any image)."""
    import contextlib

    from seabox.ctr import containers, tasks

    net = None
    if opts.cni:
        from seabox.ctr import network

        net = network.Settings(opts.cni_conf_dir or network.DEFAULT_CONF_DIR,
                               opts.cni_bin_dirs or network.DEFAULT_BIN_DIRS)
        opts.create.labels[network.LABEL] = net.label()  # containers rm takes the network down again
    container, mounts = containers.create_with_mounts(client, opts.create)
    cid = opts.create.id
    io = opts.io
    io.null_io = opts.null_io
    io.fifo_dir = opts.fifo_dir

    def cleanup() -> None:
        if opts.rm:
            with contextlib.suppress(Exception):
                containers.delete_one(client, cid, container=container, task_gone=True)

    def network_up(pid: int) -> None:  # the task exists (its init waits to exec): join it before start
        if net is not None:
            network.setup(net, network.full_id(client.namespace, cid), pid)

    try:
        code = tasks.start(client, cid, io, detach=opts.detach, pid_file=opts.pid_file, after_exit=cleanup,
                           container=container, rootfs=mounts, after_create=network_up)  # fmt: skip
    except BaseException:
        if net is not None:
            with contextlib.suppress(Exception):
                network.remove(net, network.full_id(client.namespace, cid))
        undo(client, cid, remove_container=opts.rm)
        raise
    return code


def undo(client: Client, cid: str, *, remove_container: bool) -> None:
    """A failed start leaves no task behind (and, with --rm, no container)."""
    import contextlib

    from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2 as pb
    from seabox.ctr import containers

    with contextlib.suppress(Exception):
        client.tasks.Delete(pb.DeleteTaskRequest(container_id=cid))
    if remove_container:
        with contextlib.suppress(Exception):
            containers.delete_one(client, cid)
