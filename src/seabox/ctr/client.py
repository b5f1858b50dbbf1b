"""The connection to seaboxd (or containerd): one channel, the namespace on every call.

containerd's clients carry the namespace in the ``containerd-namespace`` gRPC metadata
header and a lease in ``containerd-lease``; an interceptor adds both to every call so the
command modules just use the generated stubs.  Errors are mapped once, at the CLI's edge,
by :func:`describe` (gRPC status → the one-line message ctr prints).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs ~5-20 ms; every seabox-ctr command imports this module
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

DEFAULT_ADDRESS = "/run/seabox/seaboxd.sock"
DEFAULT_NAMESPACE = "default"
NAMESPACE_HEADER = "containerd-namespace"
LEASE_HEADER = "containerd-lease"


class ConnectError(Exception):
    """The daemon is not there (no socket, or nobody answering on it)."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"cannot connect to seaboxd at {address}: is it running? start it with `seaboxd` (or systemctl start seaboxd)"
        )
        self.address = address


def default_address(env: dict[str, str] | None = None) -> str:
    """``$CONTAINERD_ADDRESS`` (as ctr honours it), then ``$SEABOX_ADDRESS``, then seaboxd's socket."""
    e = os.environ if env is None else env
    return e.get("CONTAINERD_ADDRESS") or e.get("SEABOX_ADDRESS") or DEFAULT_ADDRESS


def default_namespace(env: dict[str, str] | None = None) -> str:
    e = os.environ if env is None else env
    return e.get("CONTAINERD_NAMESPACE") or DEFAULT_NAMESPACE


def target(address: str) -> str:
    """The gRPC target for ``address``: a path is a unix socket (ctr's default form)."""
    if address.startswith(("unix:", "dns:", "ipv4:", "ipv6:")):
        return address
    return "unix:" + os.path.abspath(address) if not address.startswith("/") else "unix:" + address


class Client:
    """Stubs for containerd's services with the namespace (and lease) on every call."""

    def __init__(self, address: str, namespace: str = DEFAULT_NAMESPACE, *, timeout: float | None = None) -> None:
        self.address = address
        self.namespace = namespace
        self.timeout = timeout or None
        self.lease = ""
        self._channel: Any = None
        self._stubs: dict[str, Any] = {}
        self._h2: Any = None

    # -- channel ---------------------------------------------------------------------------

    def channel(self) -> Any:
        if self._channel is None:
            path = target(self.address)
            if path.startswith("unix:") and not os.path.exists(path[5:]):
                raise ConnectError(self.address)  # before paying for grpc's import
            import grpc

            raw = grpc.insecure_channel(
                path,
                options=[("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 16 << 20)],
            )
            self._channel = grpc.intercept_channel(raw, _Metadata(self))
            self._raw = raw
        return self._channel

    def close(self) -> None:
        if self._h2 is not None:
            self._h2.close()
            self._h2 = None
            self._stubs.clear()
        if self._channel is not None:
            self._raw.close()
            self._channel = None
            self._stubs.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def uses_h2(self) -> bool:
        """True when calls go through seabox.ctr.h2grpc (no grpcio import): a unix socket,
        unless SEABOX_CTR_TRANSPORT=grpcio."""
        return os.environ.get("SEABOX_CTR_TRANSPORT", "h2") != "grpcio" and target(self.address).startswith("unix:")

    def _stub(self, name: str) -> Any:
        stub = self._stubs.get(name)
        if stub is None:
            stub = self._stubs[name] = self._h2_stub(name) if self.uses_h2() else self._stub_grpcio(name)
        return stub

    def h2_channel(self) -> Any:
        """The seabox.ctr.h2grpc channel (opened on first use), shared by the stubs and by
        callers that send seabox.ctr.wire messages themselves (the lean ``run``)."""
        if self._h2 is None:
            from seabox.ctr import h2grpc

            path = target(self.address)[5:]
            if not os.path.exists(path):
                raise ConnectError(self.address)
            self._h2 = h2grpc.Channel(path, self.metadata, self.timeout)
        return self._h2

    def _h2_stub(self, name: str) -> Any:
        import importlib

        self.h2_channel()
        module, cls = _SERVICES[name]
        mod = importlib.import_module(f"seabox.api.gen.containerd.api.services.{module}_pb2")
        service = mod.DESCRIPTOR.services_by_name[cls.removesuffix("Stub")]

        return self._h2.stub(service, lambda method: getattr(self._stub_grpcio(name), method))  # client streams

    def _stub_grpcio(self, name: str) -> Any:
        import importlib

        module, cls = _SERVICES[name]
        mod = importlib.import_module(f"seabox.api.gen.containerd.api.services.{module}_pb2_grpc")
        return getattr(mod, cls)(self.channel())

    @property
    def version(self) -> Any:
        return self._stub("version")

    @property
    def namespaces(self) -> Any:
        return self._stub("namespaces")

    @property
    def content(self) -> Any:
        return self._stub("content")

    @property
    def images(self) -> Any:
        return self._stub("images")

    @property
    def snapshots(self) -> Any:
        return self._stub("snapshots")

    @property
    def diff(self) -> Any:
        return self._stub("diff")

    @property
    def containers(self) -> Any:
        return self._stub("containers")

    @property
    def tasks(self) -> Any:
        return self._stub("tasks")

    @property
    def leases(self) -> Any:
        return self._stub("leases")

    @property
    def events(self) -> Any:
        return self._stub("events")

    @property
    def introspection(self) -> Any:
        return self._stub("introspection")

    def metadata(self) -> list[tuple[str, str]]:
        md = [(NAMESPACE_HEADER, self.namespace)]
        if self.lease:
            md.append((LEASE_HEADER, self.lease))
        return md


_SERVICES = {
    "version": ("version.v1.version", "VersionStub"),
    "namespaces": ("namespaces.v1.namespace", "NamespacesStub"),
    "content": ("content.v1.content", "ContentStub"),
    "images": ("images.v1.images", "ImagesStub"),
    "snapshots": ("snapshots.v1.snapshots", "SnapshotsStub"),
    "diff": ("diff.v1.diff", "DiffStub"),
    "containers": ("containers.v1.containers", "ContainersStub"),
    "tasks": ("tasks.v1.tasks", "TasksStub"),
    "leases": ("leases.v1.leases", "LeasesStub"),
    "events": ("events.v1.events", "EventsStub"),
    "introspection": ("introspection.v1.introspection", "IntrospectionStub"),
}


def _make_interceptor_base() -> tuple[type, ...]:
    import grpc

    return (
        grpc.UnaryUnaryClientInterceptor,
        grpc.UnaryStreamClientInterceptor,
        grpc.StreamUnaryClientInterceptor,
        grpc.StreamStreamClientInterceptor,
    )


class _Metadata:
    """Adds the namespace/lease headers and the default timeout to every call."""

    def __new__(cls, client: Client) -> Any:
        import collections

        import grpc

        class _Details(
            collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
            grpc.ClientCallDetails,
        ):
            pass

        def details(d: Any) -> Any:
            md = list(d.metadata or ()) + client.metadata()
            timeout = d.timeout if d.timeout is not None else client.timeout
            return _Details(d.method, timeout, md, d.credentials, d.wait_for_ready, d.compression)

        class Interceptor(*_make_interceptor_base()):  # type: ignore[misc]
            def intercept_unary_unary(self, cont: Any, d: Any, req: Any) -> Any:
                return cont(details(d), req)

            def intercept_unary_stream(self, cont: Any, d: Any, req: Any) -> Any:
                return cont(details(d), req)

            def intercept_stream_unary(self, cont: Any, d: Any, it: Iterator[Any]) -> Any:
                return cont(details(d), it)

            def intercept_stream_stream(self, cont: Any, d: Any, it: Iterator[Any]) -> Any:
                return cont(details(d), it)

        return Interceptor()


# -- errors ------------------------------------------------------------------------------------


def describe(exc: BaseException, address: str = "") -> str | None:
    """The one-line message ctr would print for ``exc`` (without the ``ctr: `` prefix), or None
    when ``exc`` is not an error this client knows (a bug: let it surface)."""
    if isinstance(exc, ConnectError):
        return str(exc)
    import sys

    grpc = sys.modules.get("grpc")  # a gRPC error means grpc is loaded; never import it just to check
    if grpc is not None and isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        code = exc.code()
        details = exc.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE and _is_connect_failure(details):
            return str(ConnectError(address)) if address else details
        return status_message(code.name, details)
    h2 = sys.modules.get("seabox.ctr.h2grpc")
    if h2 is not None and isinstance(exc, h2.RpcError):
        details = exc.details()
        if exc.code().name == "UNAVAILABLE" and _is_connect_failure(details):
            return str(ConnectError(address)) if address else details
        return status_message(exc.code().name, details)
    from seabox import errdefs

    if isinstance(exc, errdefs.SeaboxError | CommandError):
        return str(exc)
    if isinstance(exc, OSError):
        return str(exc)
    return None


def _is_connect_failure(details: str) -> bool:
    d = details.lower()
    return any(s in d for s in ("failed to connect", "connection refused", "no such file", "connect failed", "unavailable"))


_SUFFIX = {
    "NOT_FOUND": "not found",
    "ALREADY_EXISTS": "already exists",
    "INVALID_ARGUMENT": "invalid argument",
    "FAILED_PRECONDITION": "failed precondition",
    "UNAVAILABLE": "unavailable",
    "UNIMPLEMENTED": "not implemented",
    "DEADLINE_EXCEEDED": "context deadline exceeded",
    "CANCELLED": "context canceled",
}


def status_message(code: str, details: str) -> str:
    """containerd's errdefs.FromGRPC: the message, with the class suffix ctr shows."""
    suffix = _SUFFIX.get(code)
    if suffix is None:
        return details or code.lower().replace("_", " ")
    if not details:
        return suffix
    if details.endswith(": " + suffix) or details == suffix:
        return details
    if code in ("DEADLINE_EXCEEDED", "CANCELLED"):
        return suffix
    return f"{details}: {suffix}"


class CommandError(Exception):
    """A user-facing failure decided by the client itself (bad flag value, missing argument)."""


def grpc_code(exc: BaseException) -> str:
    """The status code name of a gRPC error ("" otherwise); lets command code test for NOT_FOUND."""
    code = getattr(exc, "code", None)
    if callable(code):
        try:
            return str(code().name)
        except Exception:
            return ""
    return ""
