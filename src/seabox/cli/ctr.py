"""`seabox-ctr`: containerd's ctr, speaking containerd's v1 gRPC API to seaboxd (or containerd).

This module only parses ctr's flags and calls ``seabox.ctr``; nothing here talks to the
daemon.  Errors are one line (``ctr: container "c1": not found``) and exit 1; a run's exit
code is the container's.  grpc is imported only by the commands that need it.

``run`` is the command users time: its usual argument lists (exact flag names, the image,
the id, the command) are read by :func:`fast_run_args` into the very namespace argparse
would build, without importing argparse (~20 ms); anything else it does not recognise
(help, abbreviations, errors, ``--``) goes to argparse, so flags and errors stay ctr's.
"""

from __future__ import annotations

import os
import sys

from seabox.ctr.client import default_address, default_namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

    from seabox.ctr.client import Client

    Handler = Callable[[argparse.Namespace, Client], int]

_PARSER: Any = None


def _parser_class() -> type[argparse.ArgumentParser]:
    """ctr's parser: errors are one line and exit 1 (the class is made on first use: argparse
    is imported only when a command needs it)."""
    global _PARSER
    if _PARSER is None:
        import argparse

        class _Parser(argparse.ArgumentParser):
            def error(self, message: str) -> None:  # type: ignore[override]
                sys.stderr.write(f"ctr: {message}\n")
                raise SystemExit(1)

        _PARSER = _Parser
    return _PARSER


def _cmd(sub: Any, names: Sequence[str], help_: str, fn: Handler | None = None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(names[0], aliases=list(names[1:]), help=help_, description=help_)
    if fn is not None:
        p.set_defaults(fn=fn)
    return p


def _group(sub: Any, names: Sequence[str], help_: str) -> Any:
    p = _cmd(sub, names, help_)
    p.set_defaults(fn=lambda a, c, p=p: _usage(p))
    return p.add_subparsers(metavar="command")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 0


def _registry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-verify", "-k", action="store_true", help="skip SSL certificate validation")
    p.add_argument("--plain-http", action="store_true", help="allow connections using plain HTTP")
    p.add_argument("--user", "-u", default="", help="user[:password] Registry user and password")
    p.add_argument("--hosts-dir", default="", help="Custom hosts configuration directory")


def _snapshotter_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snapshotter", default=os.environ.get("CONTAINERD_SNAPSHOTTER", "overlayfs"), help="snapshotter name")


def _container_flags(p: argparse.ArgumentParser) -> None:
    _snapshotter_flag(p)
    p.add_argument("--config", "-c", default="", help="path to the runtime-specific spec config file")
    p.add_argument("--cwd", default="", help="specify the working directory of the process")
    p.add_argument("--env", action="append", default=[], help="specify additional container environment variables")
    p.add_argument("--env-file", default="", help="additional environment variables in a file (one per line)")
    p.add_argument("--label", action="append", default=[], help="specify additional labels (e.g. foo=bar)")
    p.add_argument("--annotation", action="append", default=[], help="specify additional OCI annotations")
    p.add_argument("--mount", action="append", default=[], help="additional mount (type=bind,src=/tmp,dst=/host,options=rbind:ro)")
    p.add_argument("--net-host", action="store_true", help="enable host networking for the container")
    p.add_argument("--privileged", action="store_true", help="run privileged container")
    p.add_argument("--read-only", action="store_true", help="set the containers filesystem as readonly")
    p.add_argument("--runtime", default="io.containerd.runc.v2", help="runtime name")
    p.add_argument("--tty", "-t", action="store_true", help="allocate a TTY for the container")
    p.add_argument("--pid-file", default="", help="file path to write the task's pid")
    p.add_argument("--allow-new-privs", action="store_true", help="turn off OCI spec's NoNewPrivileges feature flag")
    p.add_argument("--memory-limit", type=int, default=0, help="memory limit (in bytes) for the container")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--rootfs", action="store_true", help="use custom rootfs that is not managed by the snapshotter")
    p.add_argument("--user", default="", help="user id or name (uid[:gid])")
    p.add_argument("--cpus", type=float, default=0.0, help="set the CFS cpu quota")
    p.add_argument("--cpu-shares", type=int, default=1024, help="set the cpu shares")
    p.add_argument("--cgroup", default=None, help='cgroup path (To disable use of cgroup, set to "" explicitly)')
    p.add_argument("--platform", default="", help="run image for specific platform")
    p.add_argument("image", metavar="Image|RootFS")
    p.add_argument("id", metavar="ID")
    p.add_argument("args", nargs="...", metavar="COMMAND")  # argparse.REMAINDER


# -- handlers (parse → options → library) ------------------------------------------------------


def _create_options(a: argparse.Namespace) -> Any:
    from seabox.ctr import containers
    from seabox.ctr import spec as specs
    from seabox.ctr.tables import parse_labels

    env = list(a.env)
    if a.env_file:
        with open(a.env_file, encoding="utf-8") as f:
            env = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")] + env
    so = specs.SpecOptions(
        args=list(a.args), env=env, cwd=a.cwd, user=a.user, tty=a.tty,
        mounts=[specs.parse_mount(m) for m in a.mount], net_host=a.net_host, privileged=a.privileged,
        read_only=a.read_only, memory_limit=a.memory_limit, cpus=a.cpus, cpu_shares=a.cpu_shares,
        cap_add=list(a.cap_add), cap_drop=list(a.cap_drop), annotations=parse_labels(a.annotation),
        allow_new_privs=a.allow_new_privs, cgroup=a.cgroup,
    )  # fmt: skip
    return containers.CreateOptions(
        image=a.image, id=a.id, runtime=a.runtime, snapshotter=a.snapshotter, labels=parse_labels(a.label),
        config_path=a.config, rootfs=a.rootfs, platform=a.platform, spec=so,
    )  # fmt: skip


def h_run(a: argparse.Namespace, c: Client) -> int:
    from seabox.ctr import run
    from seabox.ctr.stdio import IOOptions

    io = IOOptions(stdin_fd=0 if not a.detach else None, terminal=a.tty)
    opts = run.RunOptions(
        create=_create_options(a), detach=a.detach, rm=a.rm, null_io=a.null_io, fifo_dir=a.fifo_dir,
        pid_file=a.pid_file, cni=a.cni, io=io, cni_conf_dir=a.cni_conf_dir,
        cni_bin_dirs=tuple(d for d in a.cni_bin_dir.split(":") if d),
    )  # fmt: skip
    return run.run(c, opts)


def h_pull(a: argparse.Namespace, c: Client) -> int:
    from seabox.ctr import images
    from seabox.ctr.tables import parse_labels

    opts = images.PullOptions(
        ref=a.ref, user=a.user, plain_http=a.plain_http, skip_verify=a.skip_verify, hosts_dir=a.hosts_dir,
        platform=a.platform, all_platforms=a.all_platforms, snapshotter=a.snapshotter, labels=parse_labels(a.label),
        print_chainid=a.print_chainid, max_concurrent_downloads=a.max_concurrent_downloads or 3,
    )  # fmt: skip
    return images.pull(c, opts, sys.stdout)


def _io(a: argparse.Namespace, terminal: bool = False) -> Any:
    from seabox.ctr.stdio import IOOptions

    return IOOptions(stdin_fd=0, terminal=terminal, null_io=getattr(a, "null_io", False),
                           fifo_dir=getattr(a, "fifo_dir", ""))  # fmt: skip


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """ctr's command tree; with ``only``, just that top-level command (start-up: argparse
    costs about 0.1 ms a flag, and one command needs a tenth of them)."""
    from seabox import __version__

    def want(names: list[str]) -> bool:
        return only is None or only in names

    parser_class = _parser_class()
    root = parser_class(prog="ctr", description="seabox-ctr: containerd's ctr, for seaboxd and containerd")
    root.add_argument("--debug", action="store_true", help="enable debug output in logs")
    root.add_argument("--address", "-a", default=default_address(), help="address for the daemon's GRPC server")
    root.add_argument("--timeout", default="0s", help="total timeout for ctr commands")
    root.add_argument("--connect-timeout", default="0s", help="timeout for connecting to the daemon")
    root.add_argument("--namespace", "-n", default=default_namespace(), help="namespace to use with commands")
    root.add_argument("--version", "-v", action="version", version=f"ctr seabox {__version__}")
    root.set_defaults(fn=lambda a, c: _usage(root))
    sub = root.add_subparsers(metavar="command", parser_class=parser_class)

    # version, plugins
    if want(['version', 'plugins', 'plugin']):
        _cmd(sub, ["version"], "print the client and server versions",
             lambda a, c: __import__("seabox.ctr.version", fromlist=["x"]).version(c, sys.stdout, sys.stderr))  # fmt: skip
        g = _group(sub, ["plugins", "plugin"], "provides information about containerd plugins")
        p = _cmd(g, ["list", "ls"], "lists containerd plugins",
                 lambda a, c: _mod("plugins").ls(c, sys.stdout, quiet=a.quiet, detailed=a.detailed, filters=a.filters))  # fmt: skip
        p.add_argument("--quiet", "-q", action="store_true")
        p.add_argument("--detailed", "-d", action="store_true")
        p.add_argument("filters", nargs="*")

    # containers
    if want(['containers', 'c', 'container']):
        g = _group(sub, ["containers", "c", "container"], "manage containers")
        p = _cmd(g, ["create"], "create container", lambda a, c: (_mod("containers").create(c, _create_options(a)), 0)[1])
        _container_flags(p)
        p = _cmd(g, ["delete", "del", "remove", "rm"], "delete one or more existing containers",
                 lambda a, c: _mod("containers").remove(c, a.ids, sys.stderr, keep_snapshot=a.keep_snapshot))  # fmt: skip
        p.add_argument("--keep-snapshot", action="store_true")
        p.add_argument("ids", nargs="*")
        p = _cmd(g, ["info"], "get info about a container",
                 lambda a, c: _mod("containers").info(c, a.id, sys.stdout, spec_only=a.spec))  # fmt: skip
        p.add_argument("--spec", action="store_true")
        p.add_argument("id", nargs="?", default="")
        p = _cmd(g, ["list", "ls"], "list containers",
                 lambda a, c: _mod("containers").ls(c, sys.stdout, quiet=a.quiet, filters=a.filters))  # fmt: skip
        p.add_argument("--quiet", "-q", action="store_true")
        p.add_argument("filters", nargs="*")
        p = _cmd(g, ["label"], "set and clear labels for a container",
                 lambda a, c: _mod("containers").label(c, a.id, a.labels, sys.stdout))  # fmt: skip
        p.add_argument("id")
        p.add_argument("labels", nargs="*")

    # content
    if want(['content']):
        g = _group(sub, ["content"], "manage content")
        p = _cmd(g, ["list", "ls"], "list all blobs in the store",
                 lambda a, c: _mod("content").ls(c, sys.stdout, quiet=a.quiet, filters=a.filters))  # fmt: skip
        p.add_argument("--quiet", "-q", action="store_true")
        p.add_argument("filters", nargs="*")
        p = _cmd(g, ["get"], "get the data for an object", lambda a, c: _mod("content").get(c, a.digests, sys.stdout.buffer))
        p.add_argument("digests", nargs="*")
        p = _cmd(g, ["delete", "del", "remove", "rm"], "permanently delete one or more blobs",
                 lambda a, c: _mod("content").remove(c, a.digests, sys.stdout))  # fmt: skip
        p.add_argument("digests", nargs="*")
        p = _cmd(g, ["ingest"], "accept content into the store",
                 lambda a, c: _mod("content").ingest(c, a.key, sys.stdin.buffer, expected_size=a.expected_size,
                                                     expected_digest=a.expected_digest))  # fmt: skip
        p.add_argument("--expected-size", type=int, default=0)
        p.add_argument("--expected-digest", default="")
        p.add_argument("key")
        p = _cmd(g, ["fetch"], "fetch all content for an image into containerd", h_fetch)
        _registry_flags(p)
        p.add_argument("--platform", default="")
        p.add_argument("--all-platforms", action="store_true")
        p.add_argument("--label", action="append", default=[])
        p.add_argument("ref")

    # events
    if want(['events', 'event']):
        p = _cmd(sub, ["events", "event"], "display containerd events",
                 lambda a, c: _mod("events").events(c, sys.stdout, a.filters))  # fmt: skip
        p.add_argument("filters", nargs="*")

    # images
    if want(['images', 'image', 'i']):
        g = _group(sub, ["images", "image", "i"], "manage images")
        p = _cmd(g, ["export"], "export images", h_export)
        p.add_argument("--skip-manifest-json", action="store_true")
        p.add_argument("--platform", default="")
        p.add_argument("--all-platforms", action="store_true")
        p.add_argument("out")
        p.add_argument("refs", nargs="+")
        p = _cmd(g, ["import"], "import images", h_import)
        p.add_argument("--base-name", default="")
        p.add_argument("--digests", action="store_true")
        p.add_argument("--all-platforms", action="store_true")
        p.add_argument("--platform", default="")
        p.add_argument("--no-unpack", action="store_true")
        _snapshotter_flag(p)
        p.add_argument("input", metavar="in")
        p = _cmd(g, ["list", "ls"], "list images known to containerd",
                 lambda a, c: _mod("images").ls(c, sys.stdout, quiet=a.quiet, filters=a.filters))  # fmt: skip
        p.add_argument("--quiet", "-q", action="store_true")
        p.add_argument("filters", nargs="*")
        p = _cmd(g, ["mount"], "mount an image to a target path",
                 lambda a, c: _mod("images").mount(c, a.ref, a.target, sys.stdout, snapshotter=a.snapshotter, rw=a.rw,
                                                   platform=a.platform or None))  # fmt: skip
        _snapshotter_flag(p)
        p.add_argument("--rw", action="store_true")
        p.add_argument("--platform", default="")
        p.add_argument("ref")
        p.add_argument("target")
        p = _cmd(g, ["unmount"], "unmount the image from the target",
                 lambda a, c: _mod("images").unmount(c, a.target, sys.stdout, snapshotter=a.snapshotter, rm=a.rm))  # fmt: skip
        _snapshotter_flag(p)
        p.add_argument("--rm", action="store_true")
        p.add_argument("target")
        p = _cmd(g, ["pull"], "pull an image from a remote", h_pull)
        _registry_flags(p)
        _snapshotter_flag(p)
        p.add_argument("--label", action="append", default=[])
        p.add_argument("--platform", default="")
        p.add_argument("--all-platforms", action="store_true")
        p.add_argument("--print-chainid", action="store_true")
        p.add_argument("--max-concurrent-downloads", type=int, default=0)
        p.add_argument("ref")
        p = _cmd(g, ["push"], "push an image to a remote",
                 lambda a, c: _mod("images").push(c, a.remote, a.local, sys.stdout, user=a.user, plain_http=a.plain_http,
                                                  skip_verify=a.skip_verify, hosts_dir_=a.hosts_dir, platform=a.platform))  # fmt: skip
        _registry_flags(p)
        p.add_argument("--platform", default="")
        p.add_argument("remote")
        p.add_argument("local", nargs="?", default="")
        p = _cmd(g, ["delete", "del", "remove", "rm"], "remove one or more images by reference",
                 lambda a, c: _mod("images").remove(c, a.refs, sys.stdout, sys.stderr, sync=a.sync))  # fmt: skip
        p.add_argument("--sync", action="store_true")
        p.add_argument("refs", nargs="+")
        p = _cmd(g, ["tag"], "tag an image",
                 lambda a, c: _mod("images").tag(c, a.source, a.targets, sys.stdout, force=a.force))  # fmt: skip
        p.add_argument("--force", action="store_true")
        p.add_argument("source")
        p.add_argument("targets", nargs="*")

    # leases
    if want(['leases']):
        g = _group(sub, ["leases"], "manage leases")
        p = _cmd(g, ["list", "ls"], "list all active leases",
                 lambda a, c: _mod("leases").ls(c, sys.stdout, quiet=a.quiet, filters=a.filters))  # fmt: skip
        p.add_argument("--quiet", "-q", action="store_true")
        p.add_argument("filters", nargs="*")
        p = _cmd(g, ["create"], "create lease", h_lease_create)
        p.add_argument("--id", default="")
        p.add_argument("--expires", "-x", default="24h")
        p.add_argument("labels", nargs="*")
        p = _cmd(g, ["delete", "del", "remove", "rm"], "delete a lease",
                 lambda a, c: _mod("leases").remove(c, a.ids, sync=a.sync))  # fmt: skip
        p.add_argument("--sync", action="store_true")
        p.add_argument("ids", nargs="+")

    # namespaces
    if want(['namespaces', 'namespace', 'ns']):
        g = _group(sub, ["namespaces", "namespace", "ns"], "manage namespaces")
        p = _cmd(g, ["create", "c"], "create a new namespace", lambda a, c: _mod("namespaces").create(c, a.name, a.labels))
        p.add_argument("name")
        p.add_argument("labels", nargs="*")
        p = _cmd(g, ["list", "ls"], "list namespaces", lambda a, c: _mod("namespaces").ls(c, sys.stdout, quiet=a.quiet))
        p.add_argument("--quiet", "-q", action="store_true")
        p = _cmd(g, ["remove", "rm"], "remove one or more namespaces",
                 lambda a, c: _mod("namespaces").remove(c, a.names, sys.stdout, sys.stderr))  # fmt: skip
        p.add_argument("--cgroup", "-c", action="store_true")
        p.add_argument("names", nargs="*")
        p = _cmd(g, ["label"], "set and clear labels for a namespace",
                 lambda a, c: _mod("namespaces").label(c, a.name, a.labels))  # fmt: skip
        p.add_argument("name")
        p.add_argument("labels", nargs="*")

    # run
    if want(['run']):
        p = _cmd(sub, ["run"], "run a container", h_run)
        p.add_argument("--rm", action="store_true", help="remove the container after running")
        p.add_argument("--null-io", action="store_true", help="send all IO to /dev/null")
        p.add_argument("--detach", "-d", action="store_true", help="detach from the task after it has started execution")
        p.add_argument("--fifo-dir", default="", help="directory used for storing IO FIFOs")
        p.add_argument("--cni", action="store_true", help="enable cni networking for the container")
        p.add_argument("--cni-conf-dir", default="", help="CNI network configurations (default /etc/cni/net.d)")
        p.add_argument("--cni-bin-dir", default="", help="CNI plugin directories, ':'-separated "
                       "(default /opt/cni/bin:/usr/lib/cni)")
        _container_flags(p)

    # snapshots
    if want(['snapshots', 'snapshot']):
        sp = _cmd(sub, ["snapshots", "snapshot"], "manage snapshots")
        _snapshotter_flag(sp)
        sp.set_defaults(fn=lambda a, c, p=sp: _usage(p))
        _snapshots(sp.add_subparsers(metavar="command"))

    # tasks
    if want(['tasks', 't', 'task']):
        g = _group(sub, ["tasks", "t", "task"], "manage tasks")
        p = _cmd(g, ["attach"], "attach to the IO of a running container", lambda a, c: _mod("tasks").attach(c, a.id, _io(a)))
        p.add_argument("id")
        p = _cmd(g, ["delete", "del", "remove", "rm"], "delete one or more tasks",
                 lambda a, c: _mod("tasks").remove(c, a.ids, sys.stdout, sys.stderr, force=a.force, exec_id=a.exec_id))  # fmt: skip
        p.add_argument("--force", "-f", action="store_true")
        p.add_argument("--exec-id", default="")
        p.add_argument("ids", nargs="+")
        p = _cmd(g, ["exec"], "execute additional processes in an existing container", h_exec)
        p.add_argument("--cwd", default="")
        p.add_argument("--tty", "-t", action="store_true")
        p.add_argument("--detach", "-d", action="store_true")
        p.add_argument("--exec-id", default="")
        p.add_argument("--fifo-dir", default="")
        p.add_argument("--user", default="")
        p.add_argument("id")
        p.add_argument("args", nargs="...")  # argparse.REMAINDER
        p = _cmd(g, ["list", "ls"], "list tasks", lambda a, c: _mod("tasks").ls(c, sys.stdout, quiet=a.quiet))
        p.add_argument("--quiet", "-q", action="store_true")
        p = _cmd(g, ["kill"], "signal a container (default: SIGTERM)",
                 lambda a, c: _mod("tasks").kill(c, a.id, sig=a.signal, exec_id=a.exec_id, all_=a.all))  # fmt: skip
        p.add_argument("--signal", "-s", default="")
        p.add_argument("--exec-id", default="")
        p.add_argument("--all", "-a", action="store_true")
        p.add_argument("id")
        p = _cmd(g, ["pause"], "pause an existing container", lambda a, c: _mod("tasks").pause(c, a.id))
        p.add_argument("id")
        p = _cmd(g, ["ps"], "list processes for container", lambda a, c: _mod("tasks").ps(c, a.id, sys.stdout))
        p.add_argument("id")
        p = _cmd(g, ["resume"], "resume a paused container", lambda a, c: _mod("tasks").resume(c, a.id))
        p.add_argument("id")
        p = _cmd(g, ["start"], "start a container that has been created",
                 lambda a, c: _mod("tasks").start(c, a.id, _io(a), detach=a.detach, pid_file=a.pid_file))  # fmt: skip
        p.add_argument("--null-io", action="store_true")
        p.add_argument("--fifo-dir", default="")
        p.add_argument("--pid-file", default="")
        p.add_argument("--detach", "-d", action="store_true")
        p.add_argument("id")
        p = _cmd(g, ["metrics", "metric"], "get a single data point of metrics for a task",
                 lambda a, c: _mod("tasks").metrics(c, a.id, sys.stdout, fmt=a.format))  # fmt: skip
        p.add_argument("--format", default="table")
        p.add_argument("id")
    return root


def _snapshots(g: Any) -> None:
    def sn(a: argparse.Namespace) -> str:
        return str(getattr(a, "snapshotter", "") or os.environ.get("CONTAINERD_SNAPSHOTTER", "overlayfs"))

    p = _cmd(g, ["commit"], "commit an active snapshot into the provided name",
             lambda a, c: _mod("snapshots").commit(c, a.name, a.key, snapshotter=sn(a)))  # fmt: skip
    p.add_argument("name")
    p.add_argument("key")
    p = _cmd(g, ["info"], "get info about a snapshot", lambda a, c: _mod("snapshots").info(c, a.key, sys.stdout, snapshotter=sn(a)))
    p.add_argument("key")
    p = _cmd(g, ["list", "ls"], "list snapshots",
             lambda a, c: _mod("snapshots").ls(c, sys.stdout, snapshotter=sn(a), filters=a.filters))  # fmt: skip
    p.add_argument("filters", nargs="*")
    p = _cmd(g, ["mounts", "m", "mount"], "mount gets mount commands for the snapshots",
             lambda a, c: _mod("snapshots").mounts(c, a.target, a.key, sys.stdout, snapshotter=sn(a)))  # fmt: skip
    p.add_argument("target")
    p.add_argument("key")
    for verb, desc, view in (("prepare", "prepare a snapshot from a committed snapshot", False),
                             ("view", "create a read-only snapshot from a committed snapshot", True)):  # fmt: skip
        p = _cmd(g, [verb], desc, _prepare(view, sn))
        p.add_argument("--target", "-t", default="")
        p.add_argument("--mounts", action="store_true")
        p.add_argument("key")
        p.add_argument("parent", nargs="?", default="")
    p = _cmd(g, ["delete", "del", "remove", "rm"], "remove snapshots",
             lambda a, c: _mod("snapshots").remove(c, a.keys, snapshotter=sn(a)))  # fmt: skip
    p.add_argument("keys", nargs="*")
    p = _cmd(g, ["tree"], "display tree view of snapshot branches", lambda a, c: _mod("snapshots").tree(c, sys.stdout, snapshotter=sn(a)))
    p = _cmd(g, ["usage"], "usage snapshots",
             lambda a, c: _mod("snapshots").usage(c, a.keys, sys.stdout, snapshotter=sn(a), in_bytes=a.b))  # fmt: skip
    p.add_argument("-b", action="store_true")
    p.add_argument("keys", nargs="*")


def _prepare(view: bool, sn: Callable[[argparse.Namespace], str]) -> Handler:
    def fn(a: argparse.Namespace, c: Client) -> int:
        mod = _mod("snapshots")
        return int(mod.prepare(c, a.key, a.parent, sys.stdout, snapshotter=sn(a), target=a.target, as_json=a.mounts, view=view))

    return fn


def _mod(name: str) -> Any:
    import importlib

    return importlib.import_module(f"seabox.ctr.{name}")


def h_exec(a: argparse.Namespace, c: Client) -> int:
    return int(_mod("tasks").exec_(c, a.id, a.args, _io(a, a.tty), exec_id=a.exec_id, detach=a.detach, cwd=a.cwd, user=a.user))


def h_lease_create(a: argparse.Namespace, c: Client) -> int:
    from seabox.ctr.client import CommandError
    from seabox.ctr.tables import parse_duration

    try:
        expires = parse_duration(a.expires)
    except ValueError as e:
        raise CommandError(str(e)) from None
    return int(_mod("leases").create(c, sys.stdout, lease_id=a.id, expires=expires, labels=a.labels))


def h_fetch(a: argparse.Namespace, c: Client) -> int:
    from seabox.ctr import images
    from seabox.ctr.tables import parse_labels

    opts = images.PullOptions(
        ref=a.ref, user=a.user, plain_http=a.plain_http, skip_verify=a.skip_verify, hosts_dir=a.hosts_dir,
        platform=a.platform, all_platforms=a.all_platforms, labels=parse_labels(a.label), unpack=False,
    )  # fmt: skip
    return images.pull(c, opts, sys.stdout)


def h_import(a: argparse.Namespace, c: Client) -> int:
    from seabox.ctr import archive

    return archive.import_(c, a.input, sys.stdout, base_name=a.base_name, digests=a.digests,
                           all_platforms=a.all_platforms, platform=a.platform or None,
                           unpack=not a.no_unpack, snapshotter=a.snapshotter)  # fmt: skip


def h_export(a: argparse.Namespace, c: Client) -> int:
    from seabox.ctr import archive

    return archive.export(c, a.out, a.refs, platform=a.platform or None, all_platforms=a.all_platforms,
                          skip_manifest_json=a.skip_manifest_json)  # fmt: skip


# -- run without argparse ----------------------------------------------------------------------

_GLOBAL_BOOL = {"--debug": "debug"}
_GLOBAL_VALUE = {"--address": "address", "-a": "address", "--timeout": "timeout",
                 "--connect-timeout": "connect_timeout", "--namespace": "namespace", "-n": "namespace"}  # fmt: skip
_RUN_BOOL = {
    "--rm": "rm", "--null-io": "null_io", "--detach": "detach", "-d": "detach", "--cni": "cni", "--net-host": "net_host",
    "--privileged": "privileged", "--read-only": "read_only", "--tty": "tty", "-t": "tty",
    "--allow-new-privs": "allow_new_privs", "--rootfs": "rootfs",
}  # fmt: skip
_RUN_VALUE: dict[str, tuple[str, Callable[[str], Any]]] = {
    "--fifo-dir": ("fifo_dir", str), "--snapshotter": ("snapshotter", str), "--config": ("config", str),
    "-c": ("config", str), "--cwd": ("cwd", str), "--env-file": ("env_file", str), "--runtime": ("runtime", str),
    "--pid-file": ("pid_file", str), "--user": ("user", str), "--cgroup": ("cgroup", str),
    "--platform": ("platform", str), "--memory-limit": ("memory_limit", int), "--cpu-shares": ("cpu_shares", int),
    "--cpus": ("cpus", float), "--cni-conf-dir": ("cni_conf_dir", str), "--cni-bin-dir": ("cni_bin_dir", str),
}  # fmt: skip
_RUN_APPEND = {"--env": "env", "--label": "label", "--annotation": "annotation", "--mount": "mount",
               "--cap-add": "cap_add", "--cap-drop": "cap_drop"}  # fmt: skip


class RunArgs:
    """The namespace ``build_parser().parse_args`` returns for a ``run`` command line."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"RunArgs({', '.join(f'{k}={v!r}' for k, v in sorted(vars(self).items()))})"


def fast_run_args(argv: Sequence[str]) -> RunArgs | None:
    """``[global flags] run [run flags] IMAGE ID [COMMAND...]`` with exact flag names, or None
    (then argparse reads the line: help, abbreviations, ``-abc`` groups, ``--``, bad values
    and every error message stay argparse's)."""
    if "--" in argv:
        return None
    ns: dict[str, Any] = {
        "debug": False, "address": default_address(), "timeout": "0s", "connect_timeout": "0s",
        "namespace": default_namespace(), "fn": h_run,
        "rm": False, "null_io": False, "detach": False, "fifo_dir": "", "cni": False, "cni_conf_dir": "", "cni_bin_dir": "",
        "snapshotter": os.environ.get("CONTAINERD_SNAPSHOTTER", "overlayfs"), "config": "", "cwd": "", "env": [],
        "env_file": "", "label": [], "annotation": [], "mount": [], "net_host": False, "privileged": False,
        "read_only": False, "runtime": "io.containerd.runc.v2", "tty": False, "pid_file": "", "allow_new_privs": False,
        "memory_limit": 0, "cap_add": [], "cap_drop": [], "rootfs": False, "user": "", "cpus": 0.0, "cpu_shares": 1024,
        "cgroup": None, "platform": "",
    }  # fmt: skip
    i, n = 0, len(argv)
    in_run = False
    positionals: list[str] = []
    while i < n:
        tok = argv[i]
        if not in_run and tok == "run":
            in_run = True
            i += 1
            continue
        if in_run and not tok.startswith("-"):
            positionals.append(tok)
            i += 1
            if len(positionals) == 2:
                ns.update(image=positionals[0], id=positionals[1], args=list(argv[i:]))
                return RunArgs(**ns)
            continue
        if not tok.startswith("-") or (in_run and positionals):
            return None  # a word before ``run``, or a flag between IMAGE and ID
        name, eq, inline = tok.partition("=")
        bools, values = (_RUN_BOOL, _RUN_VALUE) if in_run else (_GLOBAL_BOOL, {})
        if not eq and name in bools:
            ns[bools[name]] = True
            i += 1
            continue
        if in_run:
            spec = values.get(name) or ((_RUN_APPEND[name], str) if name in _RUN_APPEND else None)
        else:
            spec = (_GLOBAL_VALUE[name], str) if name in _GLOBAL_VALUE else None
        if spec is None or (eq and not name.startswith("--")):
            return None
        if eq:
            value = inline
            i += 1
        else:
            if i + 1 >= n or argv[i + 1].startswith("-"):
                return None
            value = argv[i + 1]
            i += 2
        dest, convert = spec
        try:
            v = convert(value)
        except ValueError:
            return None
        if in_run and name in _RUN_APPEND:
            ns[dest] = [*ns[dest], v]
        else:
            ns[dest] = v
    return None


# -- entry point -------------------------------------------------------------------------------


COMMANDS = {
    "version", "plugins", "plugin", "containers", "c", "container", "content", "events", "event", "images", "image",
    "i", "leases", "namespaces", "namespace", "ns", "run", "snapshots", "snapshot", "tasks", "t", "task",
}  # fmt: skip
_GLOBAL_WITH_VALUE = {"--address", "-a", "--timeout", "--connect-timeout", "--namespace", "-n"}


def command_of(argv: Sequence[str]) -> str | None:
    """The top-level command word in ``argv`` (after the global flags), or None."""
    skip = False
    for tok in argv:
        if skip:
            skip = False
            continue
        if tok in _GLOBAL_WITH_VALUE:
            skip = True
            continue
        if tok.startswith("-"):
            if tok in ("-h", "--help", "-v", "--version"):
                return None
            continue
        return tok
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI entry point.  Run as a program (``argv`` None) it ends with ``os._exit`` once its
    output is flushed: tearing down grpc's threads and the interpreter adds tens of ms to
    every command and does nothing a finished command needs."""
    if argv is None:
        code = _main(sys.argv[1:])
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            code = code or 1
        if os.environ.get("SEABOX_CTR_NORMAL_EXIT") != "1":
            os._exit(code)
        return code
    return _main(argv)


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
    cmd = command_of(argv)
    args: Any = fast_run_args(argv) if cmd == "run" else None
    if args is None:
        parser = build_parser(cmd if cmd in COMMANDS else None)
        args = parser.parse_args(argv)
    from seabox.ctr.client import Client, CommandError, describe
    from seabox.ctr.tables import parse_duration

    try:
        timeout = parse_duration(args.timeout)
    except ValueError as e:
        sys.stderr.write(f"ctr: {e}\n")
        return 1
    client = Client(args.address, args.namespace, timeout=timeout or None)
    try:
        return int(args.fn(args, client))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except (Exception, CommandError) as e:
        msg = describe(e, args.address)
        if msg is None or args.debug:
            if args.debug:
                raise
            msg = f"{type(e).__name__}: {e}"
        sys.stderr.write(f"ctr: {msg}\n")
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main(None))
