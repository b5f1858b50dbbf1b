"""Small conversions between wire messages and seabox's plain objects."""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from seabox.metadata.containers import TypedBlob


def timestamp(ns: int) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.seconds, ts.nanos = divmod(ns, 1_000_000_000)
    return ts


def from_timestamp(ts: timestamp_pb2.Timestamp) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def to_any(blob: TypedBlob) -> any_pb2.Any:
    return any_pb2.Any(type_url=blob.type_url, value=blob.value)


def from_any(msg: any_pb2.Any) -> TypedBlob:
    return TypedBlob(msg.type_url, bytes(msg.value))


def type_url(msg: Message) -> str:
    """The type URL containerd gives its own messages: the bare full name, no host prefix
    (its Go client resolves event payloads by that name)."""
    return msg.DESCRIPTOR.full_name


def pack(msg: Message) -> any_pb2.Any:
    return any_pb2.Any(type_url=type_url(msg), value=msg.SerializeToString())


def publish_event(exchange: Any, namespace: str, topic: str, event: Message) -> None:
    """Publish a typed event on the exchange (which carries it packed, as containerd's Any)."""
    a = pack(event)
    exchange.publish(namespace, topic, a.type_url, a.value)
