"""Which namespace a request is for: the ``containerd-namespace`` gRPC metadata header.

containerd clients (ctr, nerdctl, the Go client) send the namespace in this header on
every call; seaboxd reads it the same way. A call that needs a namespace and has none fails
with FAILED_PRECONDITION "namespace is required"; a malformed name is INVALID_ARGUMENT.
"""

from __future__ import annotations

import grpc

from seabox.errdefs import FailedPrecondition, InvalidArgument
from seabox.metadata.identifiers import validate

HEADER = "containerd-namespace"
LEASE_HEADER = "containerd-lease"


def from_context(context: grpc.ServicerContext) -> str:
    """The request's namespace; raises if it is missing or invalid."""
    found = ""
    for key, value in context.invocation_metadata() or ():
        if key == HEADER:
            found = value if isinstance(value, str) else value.decode()
            break
    if not found:
        raise FailedPrecondition("namespace is required")
    try:
        return validate("namespace", found)
    except InvalidArgument as e:
        raise InvalidArgument(str(e))


def lease_from_context(context: grpc.ServicerContext) -> str:
    """The lease a client works under (``containerd-lease`` header), or "" for none: objects
    created under it are recorded as its resources, so GC leaves them alone meanwhile."""
    for key, value in context.invocation_metadata() or ():
        if key == LEASE_HEADER:
            return value if isinstance(value, str) else value.decode()
    return ""
