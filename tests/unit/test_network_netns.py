"""Named netns creation and removal, recorded instead of performed; the netlink request bytes."""

from __future__ import annotations

import errno
import socket
import struct
import threading
from pathlib import Path

import pytest

from seabox.errdefs import AlreadyExists, InvalidArgument
from seabox.linux import syscalls as sc
from seabox.network import netlink, netns


def test_create_binds_the_child_thread_netns(tmp_path: Path) -> None:
    rec = sc.RecordingSyscalls()
    d = str(tmp_path / "ns")
    path = netns.create("pod1", d, syscalls=rec, loopback_up=False)
    assert path == f"{d}/pod1"
    assert Path(path).is_file()
    assert rec.names() == ["unshare", "mount"]
    assert rec.calls[0] == ("unshare", sc.CLONE_NEWNET)
    _, src, target, fstype, flags, data = rec.calls[1]
    assert src.startswith("/proc/self/task/") and src.endswith("/ns/net")
    assert src != f"/proc/self/task/{threading.get_native_id()}/ns/net"  # another task
    assert (target, fstype, flags, data) == (path, None, sc.MS_BIND, None)
    with pytest.raises(AlreadyExists, match='netns "pod1": already exists'):
        netns.create("pod1", d, syscalls=rec, loopback_up=False)
    assert netns.remove("pod1", d, syscalls=rec)
    assert rec.calls[-1] == ("umount2", path, sc.MNT_DETACH)
    assert not Path(path).exists()
    assert not netns.remove("pod1", d, syscalls=rec)


def test_create_failure_leaves_nothing(tmp_path: Path) -> None:
    rec = sc.RecordingSyscalls(fail={"unshare": errno.EPERM})
    with pytest.raises(OSError, match='netns "x"'):
        netns.create("x", str(tmp_path), syscalls=rec, loopback_up=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["", "..", "a/b", "-x", "x" * 200])
def test_invalid_names(bad: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        netns.create(bad, str(tmp_path), syscalls=sc.RecordingSyscalls(), loopback_up=False)


def test_list_names_only_counts_mounts(tmp_path: Path) -> None:
    (tmp_path / "stale").write_text("")
    assert netns.list_names(str(tmp_path)) == []
    assert not netns.exists("stale", str(tmp_path))


def test_netlink_dellink_request(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, int, bytes]] = []
    monkeypatch.setattr(netlink, "_request", lambda t, f, body: sent.append((t, f, body)))
    monkeypatch.setattr(socket, "if_nametoindex", lambda name: 42)
    assert netlink.delete_link("sbt-br0")
    msg_type, _, body = sent[0]
    assert msg_type == netlink.RTM_DELLINK
    family, _kind, index, _flags, _change = struct.unpack_from("=BxHiII", body)
    assert (family, index) == (socket.AF_UNSPEC, 42)
    alen, atype = struct.unpack_from("=HH", body, 16)
    assert atype == netlink.IFLA_IFNAME and body[20:alen + 16] == b"sbt-br0\0"
    assert len(body) % 4 == 0
    netlink.set_link_up("lo")
    _, _, up = sent[1]
    assert sent[1][0] == netlink.RTM_NEWLINK
    assert struct.unpack_from("=BxHiII", up)[3:] == (netlink.IFF_UP, netlink.IFF_UP)


def test_netlink_delete_missing_link_is_false() -> None:
    assert not netlink.delete_link("sbt-nosuchlink")
