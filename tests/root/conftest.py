"""Fixtures shared by the root tests of seabox-runc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runc]:
    """seabox-runc with its state under ``tmp_path``; every container it made is force-deleted after."""
    r = Runc(tmp_path)
    try:
        yield r
    finally:
        r.cleanup()
