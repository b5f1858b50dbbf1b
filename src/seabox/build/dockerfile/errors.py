"""The one error type for a bad Dockerfile.

Every parser failure names the file, the line the instruction starts on and the
offending text, so users can jump to it: ``Dockerfile:7: unknown instruction: FORM``.
"""

from __future__ import annotations

from seabox import errdefs


class DockerfileError(errdefs.InvalidArgument):
    """``<filename>:<line>: <message>: <offending text>``."""

    def __init__(self, filename: str, line: int, message: str, text: str = "") -> None:
        self.filename = filename
        self.line = line
        self.message = message
        self.text = text.strip()
        s = f"{filename}:{line}: {message}"
        if self.text:
            s += f": {self.text}"
        super().__init__(s)


class ExpansionError(ValueError):
    """A bad ``${...}`` expression; the parser turns it into a DockerfileError."""
