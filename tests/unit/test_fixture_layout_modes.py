"""tools/fixtures.py makes fixture OCI layouts readable by every user.

umoci writes blobs and index.json with mode 0600; the unit tests that read the layouts run as
any user, so the fixture builder (and its up-to-date check, in place) sets files to 0644 and
directories to 0755.
"""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(scope="module")
def fixtures_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sbt_fixtures_tool", TOOLS / "fixtures.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


def _umoci_like_layout(root: Path) -> Path:
    layout = root / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for name, data in (("a" * 64, b"layer"), ("b" * 64, b"{}")):
        (blobs / name).write_bytes(data)
        os.chmod(blobs / name, 0o600)
    (layout / "index.json").write_text("{}")
    os.chmod(layout / "index.json", 0o600)
    (layout / "oci-layout").write_text("{}")
    os.chmod(layout / "oci-layout", 0o644)
    os.chmod(blobs, 0o700)
    (layout / "link").symlink_to("index.json")
    return layout


def test_layout_files_become_0644_and_dirs_0755(tmp_path: Path, fixtures_tool: ModuleType) -> None:
    layout = _umoci_like_layout(tmp_path)
    changed = fixtures_tool.readable_by_all(layout)
    blobs = layout / "blobs" / "sha256"
    assert sorted(changed) == sorted([blobs, *blobs.iterdir(), layout / "index.json"])
    for p in layout.rglob("*"):
        if p.is_symlink():
            continue
        assert _mode(p) == (0o755 if p.is_dir() else 0o644), p
    assert _mode(layout) == 0o755
    assert fixtures_tool.readable_by_all(layout) == []  # idempotent: a fixed cache is left alone


def test_fix_layout_modes_walks_every_layout_of_the_metadata(tmp_path: Path, fixtures_tool: ModuleType) -> None:
    one = _umoci_like_layout(tmp_path / "one")
    two = _umoci_like_layout(tmp_path / "two")
    fixtures_tool.fix_layout_modes({"layouts": {"one": str(one), "two": str(two), "gone": str(tmp_path / "gone")}})
    for layout in (one, two):
        assert _mode(layout / "index.json") == 0o644
        assert {_mode(b) for b in (layout / "blobs" / "sha256").iterdir()} == {0o644}
