"""``ctr run --cni``: the container's network namespace joined to the first CNI network.

Design reason: ctr's own behaviour, with seabox.network's CNI runner (the real plugins do the
work).  The task is created first — its init waits on the exec FIFO inside a new network
namespace — then the loopback network (interface ``lo``) and the first configuration of the
conf dir (``eth0``) are ADDed for the id ``<namespace>-<container>`` on ``/proc/<pid>/ns/net``,
and only then is the task started, so the process never runs without its network.  DEL uses
libcni's result cache, so it needs no netns (the process may be long gone).

ctr forgets the network of a detached container; seabox-ctr records the CNI settings in the
container's label ``io.seabox.ctr/cni``, and ``containers rm`` (and ``run --rm``) DEL the
networks again, so IP allocations and port rules do not outlive the container.  The conf and
plugin directories default to go-cni's (``/etc/cni/net.d``; ``/opt/cni/bin``, plus Debian's
``/usr/lib/cni``) and are set per run with ``--cni-conf-dir``/``--cni-bin-dir``.
"""

from __future__ import annotations

from seabox.ctr.client import CommandError

LABEL = "io.seabox.ctr/cni"
DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_BIN_DIRS = ("/opt/cni/bin", "/usr/lib/cni")
DEFAULT_CACHE_DIR = "/var/lib/cni"  # libcni's: results/<network>-<id>-<ifname>
LOOPBACK = {"cniVersion": "1.0.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]}


class Settings:
    """Where the CNI configs, plugins and result cache are (kept in the container's label).

    A plain class, not a dataclass: ``containers rm`` imports this module for every container."""

    def __init__(self, conf_dir: str = DEFAULT_CONF_DIR, bin_dirs: tuple[str, ...] = DEFAULT_BIN_DIRS,
                 cache_dir: str = DEFAULT_CACHE_DIR) -> None:
        self.conf_dir, self.bin_dirs, self.cache_dir = conf_dir, tuple(bin_dirs), cache_dir

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    def label(self) -> str:
        from seabox import jsonlite

        return jsonlite.dumps({"conf_dir": self.conf_dir, "bin_dirs": list(self.bin_dirs), "cache_dir": self.cache_dir},
                              compact=False)

    @classmethod
    def from_label(cls, text: str) -> Settings:
        from seabox import jsonlite

        d = jsonlite.loads(text)
        return cls(str(d["conf_dir"]), tuple(str(x) for x in d["bin_dirs"]), str(d["cache_dir"]))


def full_id(namespace: str, container_id: str) -> str:
    """ctr's ``commands.FullID``: the id the plugins see (host-local keys its leases by it)."""
    return f"{namespace}-{container_id}"


def setup(s: Settings, fid: str, pid: int) -> None:
    """ADD loopback and the first network to the task's netns; on failure nothing stays added."""
    from seabox.errdefs import SeaboxError
    from seabox.network.cni import CNI, RuntimeConf, network_configs

    try:
        confs = network_configs(s.conf_dir)
    except SeaboxError as e:
        raise CommandError(f"--cni: {e}") from None
    if not confs:
        raise CommandError(f"--cni: no CNI network configuration in {s.conf_dir}")
    cni = CNI(s.bin_dirs, s.cache_dir)
    netns = f"/proc/{pid}/ns/net"
    try:
        cni.add(LOOPBACK, RuntimeConf(fid, netns, "lo"))
        cni.setup(confs[:1], fid, netns)
    except SeaboxError as e:
        remove(s, fid)
        raise CommandError(f"--cni: {e}") from None


def remove(s: Settings, fid: str) -> None:
    """DEL every network ``fid`` was added to (from the cache); repeatable."""
    from seabox.errdefs import SeaboxError
    from seabox.network.cni import CNI

    try:
        CNI(s.bin_dirs, s.cache_dir).teardown(fid, "")
    except SeaboxError as e:
        raise CommandError(f"--cni: removing the network of {fid}: {e}") from None
