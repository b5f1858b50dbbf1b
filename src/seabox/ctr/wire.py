"""A small protobuf wire codec for the messages ``seabox-ctr run`` exchanges, so that path
never imports google.protobuf (its runtime and the generated modules cost ~80 ms a command
on this machine, more than the daemon needs for the whole run).

Each message is a class listing its fields as ``(number, name, kind, sub)``; one generic
encoder and decoder walk that table (proto3 rules: scalars at their default are not sent,
a repeated field is one record per element, a map is repeated key/value entry messages,
unknown fields are skipped).  The field numbers are those of containerd's v1 API protos
(seabox/api/containerd); tests/unit/test_ctr_wire_codec.py checks every message here
against the generated classes in both directions, so a mismatch cannot go unnoticed.

Attribute access mirrors the generated classes (``resp.container.spec.value``,
``m.options``, ``HasField``), which lets the pure helpers shared with the full client
(seabox.ctr.containers.read_files_from_mounts) take either.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~5 ms to import; annotations are strings here
if TYPE_CHECKING:
    from typing import Any, ClassVar

# field kinds
STRING, BYTES, BOOL, UINT, INT, MESSAGE, MAP, REP_STRING, REP_MESSAGE, MAP_MESSAGE = range(10)


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the expected message."""


# -- varints ---------------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """A base-128 varint; a negative value is sent as its 64-bit two's complement (10 bytes)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """``(value, next_pos)`` of the unsigned varint at ``pos``."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint too long")


def _signed(value: int, bits: int = 64) -> int:
    value &= (1 << 64) - 1
    if bits == 32:
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value >> 31 else value
    return value - (1 << 64) if value >> 63 else value


def _key(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def _ld(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + encode_varint(len(payload)) + payload


# -- messages --------------------------------------------------------------------------------------


class Message:
    """A message: attributes named as the proto's fields, absent ones at their defaults."""

    FIELDS: ClassVar[tuple[tuple[int, str, int, Any], ...]] = ()

    def __init__(self, **kw: Any) -> None:
        self._present: set[str] = set()
        for _, name, kind, sub in self.FIELDS:
            value = kw.pop(name, None)
            if value is None:
                value = _default(kind, sub)
            elif kind == MESSAGE:
                self._present.add(name)
            elif kind in (REP_STRING, REP_MESSAGE):
                value = list(value)
            elif kind in (MAP, MAP_MESSAGE):
                value = dict(value)
            setattr(self, name, value)
        if kw:
            raise TypeError(f"{type(self).__name__} has no field {sorted(kw)[0]!r}")

    def HasField(self, name: str) -> bool:  # the generated classes' names
        return name in self._present

    def SerializeToString(self) -> bytes:
        return encode(self)

    @classmethod
    def FromString(cls, data: bytes) -> Any:
        return decode(cls, data)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for _, n, _, _ in self.FIELDS)

    def __repr__(self) -> str:
        parts = (f"{n}={getattr(self, n)!r}" for _, n, k, s in self.FIELDS if getattr(self, n) != _default(k, s))
        return f"{type(self).__name__}({', '.join(parts)})"


def _default(kind: int, sub: Any) -> Any:
    if kind == STRING:
        return ""
    if kind == BYTES:
        return b""
    if kind == BOOL:
        return False
    if kind in (UINT, INT):
        return 0
    if kind == MESSAGE:
        return sub()
    if kind in (REP_STRING, REP_MESSAGE):
        return []
    return {}


def encode(msg: Message) -> bytes:
    out = bytearray()
    for number, name, kind, _ in msg.FIELDS:
        v = getattr(msg, name)
        if kind == STRING:
            if v:
                out += _ld(number, v.encode())
        elif kind == BYTES:
            if v:
                out += _ld(number, bytes(v))
        elif kind == BOOL:
            if v:
                out += _key(number, 0) + b"\x01"
        elif kind in (UINT, INT):
            if v:
                out += _key(number, 0) + encode_varint(int(v))
        elif kind == MESSAGE:
            if msg.HasField(name):
                out += _ld(number, encode(v))
        elif kind == REP_STRING:
            for s in v:
                out += _ld(number, s.encode())
        elif kind == REP_MESSAGE:
            for m in v:
                out += _ld(number, encode(m))
        elif kind == MAP:
            for k, val in v.items():
                out += _ld(number, _ld(1, k.encode()) + _ld(2, val.encode()))
        else:  # MAP_MESSAGE
            for k, val in v.items():
                out += _ld(number, _ld(1, k.encode()) + _ld(2, encode(val)))
    return bytes(out)


def _fields(buf: bytes) -> Any:
    """``(number, wire_type, value)`` for each record: an int for varints and fixed
    widths, bytes for length-delimited ones."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = decode_varint(buf, pos)
        number, wt = key >> 3, key & 7
        if number == 0:
            raise DecodeError("field number 0")
        value: int | bytes
        if wt == 0:
            value, pos = decode_varint(buf, pos)
        elif wt == 2:
            n, pos = decode_varint(buf, pos)
            if pos + n > end:
                raise DecodeError("truncated length-delimited field")
            value, pos = buf[pos : pos + n], pos + n
        elif wt in (1, 5):
            width = 8 if wt == 1 else 4
            if pos + width > end:
                raise DecodeError("truncated fixed-width field")
            value, pos = int.from_bytes(buf[pos : pos + width], "little"), pos + width
        else:
            raise DecodeError(f"unsupported wire type {wt}")
        yield number, wt, value


def _entry(buf: bytes) -> tuple[bytes, bytes]:
    k = v = b""
    for number, wt, value in _fields(buf):
        if wt == 2 and number == 1:
            k = value
        elif wt == 2 and number == 2:
            v = value
    return k, v


def decode(cls: type[Message], data: bytes) -> Any:
    msg = cls()
    table = _table(cls)
    for number, wt, value in _fields(bytes(data)):
        f = table.get(number)
        if f is None:
            continue  # unknown field
        name, kind, sub = f
        if kind in (UINT, INT, BOOL):
            if wt != 0:
                raise DecodeError(f"{cls.__name__}.{name}: wire type {wt} for a varint field")
            if kind == BOOL:
                setattr(msg, name, value != 0)
            elif kind == INT:
                setattr(msg, name, _signed(value, sub or 64))
            else:
                setattr(msg, name, value & (0xFFFFFFFF if sub == 32 else (1 << 64) - 1))
            continue
        if wt != 2:
            raise DecodeError(f"{cls.__name__}.{name}: wire type {wt} for a length-delimited field")
        if kind == STRING:
            setattr(msg, name, value.decode())
        elif kind == BYTES:
            setattr(msg, name, value)
        elif kind == MESSAGE:
            setattr(msg, name, decode(sub, value))
            msg._present.add(name)
        elif kind == REP_STRING:
            getattr(msg, name).append(value.decode())
        elif kind == REP_MESSAGE:
            getattr(msg, name).append(decode(sub, value))
        elif kind == MAP:
            k, v = _entry(value)
            getattr(msg, name)[k.decode()] = v.decode()
        else:  # MAP_MESSAGE
            k, v = _entry(value)
            getattr(msg, name)[k.decode()] = decode(sub, v)
    return msg


_TABLES: dict[type, dict[int, tuple[str, int, Any]]] = {}


def _table(cls: type[Message]) -> dict[int, tuple[str, int, Any]]:
    t = _TABLES.get(cls)
    if t is None:
        t = _TABLES[cls] = {n: (name, kind, sub) for n, name, kind, sub in cls.FIELDS}
    return t


# -- google.protobuf -------------------------------------------------------------------------------


class Empty(Message):
    FIELDS = ()


class Any_(Message):  # google.protobuf.Any
    FIELDS = ((1, "type_url", STRING, None), (2, "value", BYTES, None))


class Timestamp(Message):
    FIELDS = ((1, "seconds", INT, 64), (2, "nanos", INT, 32))


# -- containerd.types ------------------------------------------------------------------------------


class Descriptor(Message):
    FIELDS = ((1, "media_type", STRING, None), (2, "digest", STRING, None), (3, "size", INT, 64),
              (5, "annotations", MAP, None))  # fmt: skip


class Mount(Message):
    FIELDS = ((1, "type", STRING, None), (2, "source", STRING, None), (3, "target", STRING, None),
              (4, "options", REP_STRING, None))  # fmt: skip


# -- leases ----------------------------------------------------------------------------------------


class Lease(Message):
    FIELDS = ((1, "id", STRING, None), (2, "created_at", MESSAGE, Timestamp), (3, "labels", MAP, None))


class CreateLeaseRequest(Message):
    FIELDS = ((1, "id", STRING, None), (3, "labels", MAP, None))


class CreateLeaseResponse(Message):
    FIELDS = ((1, "lease", MESSAGE, Lease),)


class DeleteLeaseRequest(Message):
    FIELDS = ((1, "id", STRING, None), (2, "sync", BOOL, None))


# -- images and content ----------------------------------------------------------------------------


class Image(Message):
    FIELDS = ((1, "name", STRING, None), (2, "labels", MAP, None), (3, "target", MESSAGE, Descriptor),
              (7, "created_at", MESSAGE, Timestamp), (8, "updated_at", MESSAGE, Timestamp))  # fmt: skip


class GetImageRequest(Message):
    FIELDS = ((1, "name", STRING, None),)


class GetImageResponse(Message):
    FIELDS = ((1, "image", MESSAGE, Image),)


class ReadContentRequest(Message):
    FIELDS = ((1, "digest", STRING, None), (2, "offset", INT, 64), (3, "size", INT, 64))


class ReadContentResponse(Message):
    FIELDS = ((1, "offset", INT, 64), (2, "data", BYTES, None))


# -- snapshots -------------------------------------------------------------------------------------


class SnapshotInfo(Message):  # containerd.services.snapshots.v1.Info
    FIELDS = ((1, "name", STRING, None), (2, "parent", STRING, None), (3, "kind", INT, 32),
              (4, "created_at", MESSAGE, Timestamp), (5, "updated_at", MESSAGE, Timestamp),
              (6, "labels", MAP, None))  # fmt: skip


class StatSnapshotRequest(Message):
    FIELDS = ((1, "snapshotter", STRING, None), (2, "key", STRING, None))


class StatSnapshotResponse(Message):
    FIELDS = ((1, "info", MESSAGE, SnapshotInfo),)


class PrepareSnapshotRequest(Message):
    FIELDS = ((1, "snapshotter", STRING, None), (2, "key", STRING, None), (3, "parent", STRING, None),
              (4, "labels", MAP, None))  # fmt: skip


class PrepareSnapshotResponse(Message):
    FIELDS = ((1, "mounts", REP_MESSAGE, Mount),)


class RemoveSnapshotRequest(Message):
    FIELDS = ((1, "snapshotter", STRING, None), (2, "key", STRING, None))


# -- containers ------------------------------------------------------------------------------------


class Runtime(Message):  # containerd.services.containers.v1.Container.Runtime
    FIELDS = ((1, "name", STRING, None), (2, "options", MESSAGE, Any_))


class Container(Message):
    FIELDS = ((1, "id", STRING, None), (2, "labels", MAP, None), (3, "image", STRING, None),
              (4, "runtime", MESSAGE, Runtime), (5, "spec", MESSAGE, Any_), (6, "snapshotter", STRING, None),
              (7, "snapshot_key", STRING, None), (8, "created_at", MESSAGE, Timestamp),
              (9, "updated_at", MESSAGE, Timestamp), (10, "extensions", MAP_MESSAGE, Any_))  # fmt: skip


class CreateContainerRequest(Message):
    FIELDS = ((1, "container", MESSAGE, Container),)


class CreateContainerResponse(Message):
    FIELDS = ((1, "container", MESSAGE, Container),)


class DeleteContainerRequest(Message):
    FIELDS = ((1, "id", STRING, None),)


# -- tasks -----------------------------------------------------------------------------------------


class CreateTaskRequest(Message):
    FIELDS = ((1, "container_id", STRING, None), (3, "rootfs", REP_MESSAGE, Mount), (4, "stdin", STRING, None),
              (5, "stdout", STRING, None), (6, "stderr", STRING, None), (7, "terminal", BOOL, None),
              (8, "checkpoint", MESSAGE, Descriptor), (9, "options", MESSAGE, Any_),
              (10, "runtime_path", STRING, None))  # fmt: skip


class CreateTaskResponse(Message):
    FIELDS = ((1, "container_id", STRING, None), (2, "pid", UINT, 32))


class StartRequest(Message):
    FIELDS = ((1, "container_id", STRING, None), (2, "exec_id", STRING, None))


class StartResponse(Message):
    FIELDS = ((1, "pid", UINT, 32),)


class WaitRequest(Message):
    FIELDS = ((1, "container_id", STRING, None), (2, "exec_id", STRING, None))


class WaitResponse(Message):
    FIELDS = ((1, "exit_status", UINT, 32), (2, "exited_at", MESSAGE, Timestamp))


class DeleteTaskRequest(Message):
    FIELDS = ((1, "container_id", STRING, None),)


class DeleteTaskResponse(Message):  # containerd.services.tasks.v1.DeleteResponse
    FIELDS = ((1, "id", STRING, None), (2, "pid", UINT, 32), (3, "exit_status", UINT, 32),
              (4, "exited_at", MESSAGE, Timestamp))  # fmt: skip


class KillRequest(Message):
    FIELDS = ((1, "container_id", STRING, None), (2, "exec_id", STRING, None), (3, "signal", UINT, 32),
              (4, "all", BOOL, None))  # fmt: skip


class CloseIORequest(Message):
    FIELDS = ((1, "container_id", STRING, None), (2, "exec_id", STRING, None), (3, "stdin", BOOL, None))


# -- methods (service path prefixes; seabox.ctr.leanrun calls them too) ---------------------

LEASES = "/containerd.services.leases.v1.Leases/"
IMAGES = "/containerd.services.images.v1.Images/"
CONTENT = "/containerd.services.content.v1.Content/"
SNAPSHOTS = "/containerd.services.snapshots.v1.Snapshots/"
CONTAINERS = "/containerd.services.containers.v1.Containers/"
TASKS = "/containerd.services.tasks.v1.Tasks/"

# method path -> (request class, response class, server streaming)
METHODS: dict[str, tuple[type[Message], type[Message], bool]] = {
    LEASES + "Create": (CreateLeaseRequest, CreateLeaseResponse, False),
    LEASES + "Delete": (DeleteLeaseRequest, Empty, False),
    IMAGES + "Get": (GetImageRequest, GetImageResponse, False),
    CONTENT + "Read": (ReadContentRequest, ReadContentResponse, True),
    SNAPSHOTS + "Stat": (StatSnapshotRequest, StatSnapshotResponse, False),
    SNAPSHOTS + "Prepare": (PrepareSnapshotRequest, PrepareSnapshotResponse, False),
    SNAPSHOTS + "Remove": (RemoveSnapshotRequest, Empty, False),
    CONTAINERS + "Create": (CreateContainerRequest, CreateContainerResponse, False),
    CONTAINERS + "Delete": (DeleteContainerRequest, Empty, False),
    TASKS + "Create": (CreateTaskRequest, CreateTaskResponse, False),
    TASKS + "Start": (StartRequest, StartResponse, False),
    TASKS + "Wait": (WaitRequest, WaitResponse, False),
    TASKS + "Delete": (DeleteTaskRequest, DeleteTaskResponse, False),
    TASKS + "Kill": (KillRequest, Empty, False),
    TASKS + "CloseIO": (CloseIORequest, Empty, False),
}
