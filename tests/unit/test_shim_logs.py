"""json-file logs kept by the shim: docker's entry format, line splitting, rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seabox.errdefs import InvalidArgument
from seabox.shim import logs


def _entries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_entry_per_line_partial_lines_joined(tmp_path: Path) -> None:
    log = logs.JsonFileLog(str(tmp_path / "c.log"), clock=lambda: "2026-01-02T03:04:05.5Z")
    log.write("stdout", b"hel")
    log.write("stderr", b"err line\n")
    log.write("stdout", b"lo\nwor")
    log.write("stdout", b"ld\n")
    log.write("stdout", b"no newline")
    log.close()
    assert _entries(tmp_path / "c.log") == [
        {"log": "err line\n", "stream": "stderr", "time": "2026-01-02T03:04:05.5Z"},
        {"log": "hello\n", "stream": "stdout", "time": "2026-01-02T03:04:05.5Z"},
        {"log": "world\n", "stream": "stdout", "time": "2026-01-02T03:04:05.5Z"},
        {"log": "no newline", "stream": "stdout", "time": "2026-01-02T03:04:05.5Z"},
    ]


def test_long_lines_are_cut_at_16k_and_bad_utf8_replaced(tmp_path: Path) -> None:
    log = logs.JsonFileLog(str(tmp_path / "c.log"))
    log.write("stdout", b"a" * (logs.MAX_ENTRY + 10) + b"\n\xff\n")
    log.close()
    got = [e["log"] for e in _entries(tmp_path / "c.log")]
    assert got == ["a" * logs.MAX_ENTRY, "a" * 10 + "\n", "\ufffd\n"]


def test_rotation_keeps_max_file_files_under_max_size(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    log = logs.JsonFileLog(str(path), max_size=200, max_file=3, clock=lambda: "T")
    for i in range(40):
        log.write("stdout", f"line-{i:02d}\n".encode())
    log.close()
    files = [Path(f"{path}.2"), Path(f"{path}.1"), path]
    assert all(f.exists() and f.stat().st_size <= 200 for f in files)
    assert not Path(f"{path}.3").exists()
    lines = [e["log"] for f in files for e in _entries(f)]
    assert lines == [f"line-{i:02d}\n" for i in range(40 - len(lines), 40)]
    assert len(lines) < 40  # the oldest were rotated away


def test_max_file_one_truncates_and_reopen_appends(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    log = logs.JsonFileLog(str(path), max_size=100, max_file=1, clock=lambda: "T")
    for i in range(10):
        log.write("stdout", f"{i}\n".encode())
    log.close()
    assert not Path(f"{path}.1").exists()
    assert path.stat().st_size <= 100
    again = logs.JsonFileLog(str(path), max_size=100, max_file=1, clock=lambda: "T")
    assert again.size == path.stat().st_size
    again.close()


@pytest.mark.parametrize(("text", "n"), [("512", 512), ("1k", 1024), ("10m", 10 << 20), ("1.5kb", 1536),
                                         ("", 0), (None, 0), (2048, 2048)])
def test_parse_size(text: object, n: int) -> None:
    assert logs.parse_size(text) == n


@pytest.mark.parametrize("cfg", [{"driver": "json-file"}, {"driver": "syslog", "path": "X"},
                                 {"path": "X", "max_size": "ten"}, {"path": "X", "max_file": 0},
                                 {"path": "X", "max_file": "many"}, {"path": "X/no/such/dir/c.log"}])
def test_open_log_errors_are_one_line_invalid_argument(cfg: dict, tmp_path: Path) -> None:
    cfg = {k: (v.replace("X", str(tmp_path / "c.log")) if k == "path" else v) for k, v in cfg.items()}
    with pytest.raises(InvalidArgument) as e:
        logs.open_log(cfg)
    assert "\n" not in str(e.value)


def test_plain_file_log(tmp_path: Path) -> None:
    log = logs.open_log({"driver": "file", "path": str(tmp_path / "raw")})
    assert isinstance(log, logs.PlainFileLog)
    log.write("stdout", b"a")
    log.write("stderr", b"b\n")
    log.close()
    assert (tmp_path / "raw").read_bytes() == b"ab\n"
