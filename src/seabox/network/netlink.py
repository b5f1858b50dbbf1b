"""A small rtnetlink client: delete a link, bring a link up — without the ``ip`` binary.

Design reason: the bridge plugin creates a network's bridge but never deletes it, and a fresh
network namespace has its loopback down; both need one netlink request each.  Python's socket
module speaks AF_NETLINK, so the request is packed by hand (nlmsghdr + ifinfomsg + IFLA_IFNAME)
and the kernel's ACK (an NLMSG_ERROR carrying errno 0 or the failure) is read back.  Link
names and indexes come from ``socket.if_nametoindex``/``if_nameindex`` and /sys/class/net.
A socket opened by a thread belongs to that thread's network namespace.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_DELLINK = 17
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
IFLA_IFNAME = 3
IFF_UP = 0x1

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    pad = (4 - length % 4) % 4
    return struct.pack("=HH", length, kind) + payload + b"\0" * pad


def _request(msg_type: int, flags: int, body: bytes) -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as s:
        s.bind((0, 0))
        seq = 1
        hdr = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0)
        s.send(hdr + body)
        while True:
            data = s.recv(65536)
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, off)
                if mtype == NLMSG_ERROR and mseq == seq:
                    (err,) = struct.unpack_from("=i", data, off + _NLMSGHDR.size)
                    if err != 0:
                        raise OSError(-err, os.strerror(-err))
                    return
                off += max((length + 3) & ~3, _NLMSGHDR.size)


def link_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def link_names() -> list[str]:
    return sorted(n for _, n in socket.if_nameindex())


def is_bridge(name: str, sys_class_net: str = "/sys/class/net") -> bool:
    return os.path.isdir(os.path.join(sys_class_net, name, "bridge"))


def delete_link(name: str) -> bool:
    """Delete link ``name``; False if it did not exist (idempotent)."""
    try:
        index = socket.if_nametoindex(name)
    except OSError:
        return False
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _attr(IFLA_IFNAME, name.encode() + b"\0")
    try:
        _request(RTM_DELLINK, 0, body)
    except OSError as e:
        if e.errno in (errno.ENODEV, errno.ENOENT):
            return False
        raise OSError(e.errno, f"delete link {name}: {e.strerror}")
    return True


def set_link_up(name: str) -> None:
    """Set IFF_UP on link ``name`` (in the calling thread's network namespace)."""
    index = socket.if_nametoindex(name)
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
    try:
        _request(RTM_NEWLINK, 0, body)
    except OSError as e:
        raise OSError(e.errno, f"set link {name} up: {e.strerror}")
