"""``ctr events``: print the daemon's events as they come (timestamp, namespace, topic, JSON)."""

from __future__ import annotations

import datetime
import importlib
import json
from collections.abc import Sequence
from typing import Any, TextIO

from seabox.ctr.client import Client

_EVENT_MODULES = ("container", "content", "image", "namespace", "snapshot", "task")


def go_time(seconds: int, nanos: int) -> str:
    """Go's time.Time String in UTC: ``2006-01-02 15:04:05.999999999 +0000 UTC``."""
    t = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if nanos:
        t += "." + f"{nanos:09d}".rstrip("0")
    return t + " +0000 UTC"


def decode(any_: Any) -> str:
    from google.protobuf import json_format, symbol_database

    for m in _EVENT_MODULES:
        importlib.import_module(f"seabox.api.gen.containerd.api.events.{m}_pb2")
    name = any_.type_url.rsplit("/", 1)[-1]
    try:
        cls = symbol_database.Default().GetSymbol(name)
    except KeyError:
        return "{}"
    msg = cls()
    msg.ParseFromString(any_.value)
    return json.dumps(json_format.MessageToDict(msg, preserving_proto_field_name=True), separators=(",", ":"))


def events(client: Client, out: TextIO, filters: Sequence[str] = ()) -> int:
    from seabox.api.gen.containerd.api.services.events.v1 import events_pb2 as pb

    stream = client.events.Subscribe(pb.SubscribeRequest(filters=list(filters)))
    try:
        for e in stream:
            body = decode(e.event) if e.HasField("event") else ""
            out.write(f"{go_time(e.timestamp.seconds, e.timestamp.nanos)} {e.namespace} {e.topic} {body}\n")
            out.flush()
    except KeyboardInterrupt:
        stream.cancel()
    return 0
