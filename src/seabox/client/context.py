"""What every command function gets: the daemon client, output streams, and CLI-wide settings."""

from __future__ import annotations

import sys

from seabox.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO


class Context:
    def __init__(self, client: Client, *, out: TextIO | None = None, err: TextIO | None = None,
                 settings: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.client = client
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.settings = settings or {}

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    @property
    def insecure_registries(self) -> list[str]:
        return list(self.settings.get("insecure_registry") or [])
