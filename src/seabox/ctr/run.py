"""``ctr run``: create the container, then start its task in the foreground (or detached).

``--rm`` removes the task, the container and its snapshot once the process exits; the
process's exit status becomes the command's exit code, as with ctr.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from seabox.ctr import containers, tasks
from seabox.ctr.client import Client, CommandError


@dataclass
class RunOptions:
    create: containers.CreateOptions
    detach: bool = False
    rm: bool = False
    null_io: bool = False
    fifo_dir: str = ""
    pid_file: str = ""
    cni: bool = False
    io: tasks.IOOptions = field(default_factory=tasks.IOOptions)


def run(client: Client, opts: RunOptions) -> int:
    if opts.detach and opts.rm:
        raise CommandError("flags --detach and --rm cannot be specified together")
    if opts.cni:
        raise CommandError("--cni: CNI networking is not available in this seabox-ctr build (needs seabox.network)")
    container, mounts = containers.create_with_mounts(client, opts.create)
    cid = opts.create.id
    io = opts.io
    io.null_io = opts.null_io
    io.fifo_dir = opts.fifo_dir

    def cleanup() -> None:
        if opts.rm:
            with contextlib.suppress(Exception):
                containers.delete_one(client, cid, container=container, task_gone=True)

    try:
        code = tasks.start(client, cid, io, detach=opts.detach, pid_file=opts.pid_file, after_exit=cleanup,
                           container=container, rootfs=mounts)  # fmt: skip
    except BaseException:
        _undo(client, cid, remove_container=opts.rm)
        raise
    return code


def _undo(client: Client, cid: str, *, remove_container: bool) -> None:
    """A failed start leaves no task behind (and, with --rm, no container)."""
    from seabox.api.gen.containerd.api.services.tasks.v1 import tasks_pb2 as pb

    with contextlib.suppress(Exception):
        client.tasks.Delete(pb.DeleteTaskRequest(container_id=cid))
    if remove_container:
        with contextlib.suppress(Exception):
            containers.delete_one(client, cid)
