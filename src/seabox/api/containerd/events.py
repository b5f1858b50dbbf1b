"""Events service: publish, forward and subscribe over the daemon's exchange.

Publish takes the namespace from the request header, as containerd does; Forward carries
its own envelope. Subscribe streams envelopes matching the filters (``topic=="/tasks/exit"``,
``namespace==k8s.io``, ``event.id==web`` ...) until the client goes away or the daemon
stops. ``event.<field>`` filters decode the payload by its type URL when it names one of
the event messages seabox knows.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import any_pb2, descriptor_pool, empty_pb2, message_factory
from google.protobuf.message import DecodeError, Message

from seabox.api import namespace as nsctx
from seabox.api.containerd import Deps
from seabox.api.convert import from_timestamp, timestamp
from seabox.api.errors import rpc, rpc_stream
from seabox.api.gen.containerd.api.events import (  # noqa: F401
    container_pb2,
    content_pb2,
    image_pb2,
    namespace_pb2,
    snapshot_pb2,
    task_pb2,
)
from seabox.api.gen.containerd.api.services.events.v1 import events_pb2 as pb
from seabox.api.gen.containerd.api.services.events.v1 import events_pb2_grpc as pb_grpc
from seabox.errdefs import InvalidArgument
from seabox.events.exchange import Envelope
from seabox.metadata.filters import parse_all

PLUGIN_ID = "events"
REQUIRES = ("io.containerd.event.v1",)
POLL_SECONDS = 0.5


def event_fields(env: Envelope, path: tuple[str, ...]) -> tuple[str, bool]:
    """Read ``event.<path>`` from a known payload (an adaptor for the exchange's filters)."""
    name = env.type_url.rsplit("/", 1)[-1]
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return "", False
    msg: Message = message_factory.GetMessageClass(desc)()
    try:
        msg.ParseFromString(env.value)
    except DecodeError:
        return "", False
    cur: object = msg
    for i, part in enumerate(path):
        if isinstance(cur, Message):
            fd = cur.DESCRIPTOR.fields_by_name.get(part)
            if fd is None:
                return "", False
            cur = getattr(cur, part)
        elif hasattr(cur, "keys"):  # a map: the rest of the path is the key
            key = ".".join(path[i:])
            return (str(cur[key]), True) if key in cur else ("", False)  # type: ignore[index, operator]
        else:
            return "", False
    if isinstance(cur, Message) or hasattr(cur, "keys"):
        return "", False
    return str(cur).lower() if isinstance(cur, bool) else str(cur), True


def to_wire(env: Envelope) -> pb.Envelope:
    return pb.Envelope(
        timestamp=timestamp(env.timestamp),
        namespace=env.namespace,
        topic=env.topic,
        event=any_pb2.Any(type_url=env.type_url, value=env.value),
    )


class EventsService(pb_grpc.EventsServicer):
    def __init__(self, deps: Deps) -> None:
        self.exchange = deps.exchange

    @rpc
    def Publish(self, request: pb.PublishRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = nsctx.from_context(context)
        if not request.HasField("event"):
            raise InvalidArgument(f'event for topic "{request.topic}" must be set')
        self.exchange.publish(ns, request.topic, request.event.type_url, bytes(request.event.value))
        return empty_pb2.Empty()

    @rpc
    def Forward(self, request: pb.ForwardRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        e = request.envelope
        if not e.HasField("event"):
            raise InvalidArgument(f'event for topic "{e.topic}" must be set')
        ts = from_timestamp(e.timestamp) if e.HasField("timestamp") else 0
        self.exchange.forward(Envelope(ts, e.namespace, e.topic, e.event.type_url, bytes(e.event.value)))
        return empty_pb2.Empty()

    @rpc_stream
    def Subscribe(self, request: pb.SubscribeRequest, context: grpc.ServicerContext) -> Iterator[pb.Envelope]:
        sub = self.exchange.subscribe(parse_all(list(request.filters)))
        context.add_callback(sub.close)
        try:
            while context.is_active() and not sub.closed:
                env = sub.next(timeout=POLL_SECONDS)
                if env is not None:
                    yield to_wire(env)
        finally:
            sub.close()


def add(server: grpc.Server, deps: Deps) -> None:
    pb_grpc.add_EventsServicer_to_server(EventsService(deps), server)
