"""``ctr version``: the client's and the server's version (and the server's UUID)."""

from __future__ import annotations

import platform
from typing import TextIO

import seabox
from seabox.ctr.client import Client


def version(client: Client, out: TextIO, err: TextIO) -> int:
    from google.protobuf import empty_pb2

    out.write("Client:\n")
    out.write(f"  Version:  {seabox.__version__}\n")
    out.write("  Revision: seabox-ctr\n")
    out.write(f"  Python version: {platform.python_version()}\n")
    out.write("\n")
    out.flush()
    v = client.version.Version(empty_pb2.Empty())
    out.write("Server:\n")
    out.write(f"  Version:  {v.version}\n")
    out.write(f"  Revision: {v.revision}\n")
    try:
        s = client.introspection.Server(empty_pb2.Empty())
        out.write(f"  UUID: {s.uuid}\n")
    except Exception:  # older servers have no Server RPC; ctr omits the line too
        pass
    return 0
