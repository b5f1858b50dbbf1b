"""Names that seaboxd accepts for namespaces, containers, leases and snapshots keys.

The rule is containerd's, so that a name valid for one daemon is valid for the other:
alphanumeric runs joined by single ``.``, ``_`` or ``-``, at most 76 characters.
Labels: a key and its value together at most 4096 bytes.
"""

from __future__ import annotations

import re

from seabox.errdefs import InvalidArgument

MAX_LENGTH = 76
MAX_LABEL_SIZE = 4096
_IDENTIFIER = re.compile(r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")


def validate(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid identifier, else raise InvalidArgument naming it."""
    if not name:
        raise InvalidArgument(f"{kind} name must not be empty")
    if len(name) > MAX_LENGTH:
        raise InvalidArgument(f'{kind} "{name[:MAX_LENGTH]}...": name longer than {MAX_LENGTH} characters')
    if not _IDENTIFIER.match(name):
        raise InvalidArgument(f'{kind} "{name}": name must match {_IDENTIFIER.pattern}')
    return name


def validate_labels(kind: str, name: str, labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not key:
            raise InvalidArgument(f'{kind} "{name}": label key must not be empty')
        if len(key.encode()) + len(value.encode()) > MAX_LABEL_SIZE:
            raise InvalidArgument(f'{kind} "{name}": label "{key[:64]}" exceeds {MAX_LABEL_SIZE} bytes')
    return dict(labels)
