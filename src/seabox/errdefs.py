"""Error kinds shared by every layer.

Library code raises these; only the edges (CLI exit codes, gRPC status codes, HTTP
status codes) translate them, so the same failure reads the same everywhere.  Each
error names the object it concerns, e.g. ``container "web": not found``.
"""

from __future__ import annotations


class SeaboxError(Exception):
    """Base of all seabox errors; ``str()`` is a one-line message for users."""

    exit_code = 1


class NotFound(SeaboxError):
    pass


class AlreadyExists(SeaboxError):
    pass


class InvalidArgument(SeaboxError):
    exit_code = 2


class FailedPrecondition(SeaboxError):
    pass


class Unavailable(SeaboxError):
    pass


class Unauthorized(SeaboxError):
    pass


class NotImplementedYet(SeaboxError):
    """A command or feature whose issue has not landed."""


def subject(kind: str, name: str, message: str) -> str:
    """Format ``kind "name": message`` — the shape of every seabox error."""
    return f'{kind} "{name}": {message}'
