"""The one place where seabox errors become gRPC statuses.

Library code raises seabox.errdefs errors; servicer methods are wrapped with :func:`rpc`
(unary) or :func:`rpc_stream` (server streaming), which abort the call with the matching
code. Messages follow containerd's convention of ending in the error class
(``container "web": not found``), so containerd's Go client, which strips and re-adds that
suffix, prints them unchanged. Anything unexpected is logged with its traceback and sent
as INTERNAL: the daemon never dies because one request failed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from seabox import errdefs

log = logging.getLogger("seabox.api")

_CODES: list[tuple[type[errdefs.SeaboxError], grpc.StatusCode, str]] = [
    (errdefs.NotFound, grpc.StatusCode.NOT_FOUND, "not found"),
    (errdefs.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS, "already exists"),
    (errdefs.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "invalid argument"),
    (errdefs.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION, "failed precondition"),
    (errdefs.Unavailable, grpc.StatusCode.UNAVAILABLE, "unavailable"),
    (errdefs.Unauthorized, grpc.StatusCode.UNAUTHENTICATED, "unauthorized"),
    (errdefs.NotImplementedYet, grpc.StatusCode.UNIMPLEMENTED, "not implemented"),
]


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC code and message for ``exc``."""
    for cls, code, suffix in _CODES:
        if isinstance(exc, cls):
            msg = str(exc) or suffix
            if not msg.endswith(": " + suffix) and msg != suffix:
                msg = f"{msg}: {suffix}"
            return code, msg
    if isinstance(exc, errdefs.SeaboxError):
        return grpc.StatusCode.UNKNOWN, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def from_status(code: grpc.StatusCode, message: str) -> errdefs.SeaboxError:
    """The seabox error for a gRPC status (used by seabox's own clients)."""
    for cls, c, suffix in _CODES:
        if c == code:
            return cls(message.removesuffix(": " + suffix))
    return errdefs.SeaboxError(message)


F = TypeVar("F", bound=Callable[..., Any])


def _abort(context: grpc.ServicerContext, exc: BaseException, name: str) -> None:
    code, msg = to_status(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.error("rpc failed", extra={"fields": {"method": name}}, exc_info=exc)
    else:
        log.debug("rpc error", extra={"fields": {"method": name, "code": code.name, "error": msg}})
    context.abort(code, msg)


def rpc(fn: F) -> F:
    """Wrap a unary servicer method: seabox errors become statuses."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:
            if _aborted(context):
                raise
            _abort(context, exc, fn.__qualname__)

    return wrapper  # type: ignore[return-value]


def rpc_stream(fn: F) -> F:
    """Wrap a server-streaming servicer method (a generator)."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from fn(self, request, context)
        except Exception as exc:
            if _aborted(context):
                raise
            _abort(context, exc, fn.__qualname__)

    return wrapper  # type: ignore[return-value]


def _aborted(context: grpc.ServicerContext) -> bool:
    # context.abort() records the status, then raises a bare Exception: let that one through
    return context.code() is not None
