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
