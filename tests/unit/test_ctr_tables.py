"""ctr's output formatting: Go tabwriter layout, sizes, durations, labels."""

from __future__ import annotations

import pytest

from seabox.ctr import tables


def test_tabwrite_pads_terminated_cells_and_leaves_trailing_text() -> None:
    out = tables.tabwrite(["TASK\tPID\tSTATUS\t", "c1\t1234\tRUNNING", "longer-name\t1\tSTOPPED"], minwidth=4, padding=4)
    assert out == (
        "TASK           PID     STATUS    \n"
        "c1             1234    RUNNING\n"
        "longer-name    1       STOPPED\n"
    )


def test_tabwrite_ctr_images_layout() -> None:
    out = tables.tabwrite(["REF\tTYPE\tLABELS\t", "a:latest\tapplication/x\t-\t"])
    assert out == "REF      TYPE          LABELS \na:latest application/x -      \n"


def test_tabwrite_column_blocks_are_per_run_of_lines() -> None:
    # a line without the column ends the block: widths restart after it (Go's behaviour)
    out = tables.tabwrite(["aaaaaa\tx\t", "no tabs here", "b\ty\t"])
    assert out == "aaaaaa x \nno tabs here\nb y \n"


def test_tabwrite_with_tabs_pads_to_tab_stops() -> None:
    out = tables.tabwrite(["DIGEST\tSIZE\tLABELS", "sha256:" + "a" * 64 + "\t349B\t-"], padchar="\t")
    assert out == "DIGEST" + "\t" * 9 + "SIZE\tLABELS\n" + "sha256:" + "a" * 64 + "\t349B\t-\n"


def test_human_size_decimal() -> None:
    assert tables.human_size_decimal(349) == "349B"
    assert tables.human_size_decimal(1088000) == "1.088MB"


def test_tabwrite_minwidth() -> None:
    assert tables.tabwrite(["a\tb\t"], minwidth=4, padding=1) == "a   b   \n"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0.0 B"), (427, "427.0 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (1075000, "1.0 MiB"), (5 << 30, "5.0 GiB")],
)
def test_human_bytes(n: int, text: str) -> None:
    assert tables.human_bytes(n) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("10s", 10.0), ("1m30s", 90.0), ("24h", 86400.0), ("1.5h", 5400.0), ("250ms", 0.25), ("-1s", -1.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert tables.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["10", "s", "1x", "1s2"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        tables.parse_duration(bad)


def test_human_duration() -> None:
    assert tables.human_duration(0.5) == "Less than a second"
    assert tables.human_duration(1) == "1 second"
    assert tables.human_duration(59) == "59 seconds"
    assert tables.human_duration(61) == "About a minute"
    assert tables.human_duration(600) == "10 minutes"
    assert tables.human_duration(3600) == "About an hour"
    assert tables.human_duration(5 * 86400) == "5 days"


def test_labels_and_rfc3339() -> None:
    assert tables.labels_string({}) == "-"
    assert tables.labels_string({"b": "2", "a": "1"}) == "a=1,b=2"
    assert tables.parse_labels(["a=1", "b", "c=x=y"]) == {"a": "1", "b": "", "c": "x=y"}
    assert tables.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert tables.rfc3339(1.5) == "1970-01-01T00:00:01.5Z"
