"""docker-like tables and --format handling (table, json, templates)."""

from __future__ import annotations

import json

from seabox.client.containers import PS_HEADERS, PS_TABLE, ellipsis, filters_json, format_ports, ps_item
from seabox.client.table import render, tabwrite


def test_tabwrite_like_docker() -> None:
    out = tabwrite([["CONTAINER ID", "IMAGE", "NAMES"], ["abc", "busybox:latest", "web"]])
    assert out == "CONTAINER ID   IMAGE            NAMES\nabc            busybox:latest   web\n"
    assert tabwrite([["A", "B"]]) == "A         B\n"  # min width 10


def test_table_format_with_headers() -> None:
    items = [{"ID": "abc", "Names": "web"}]
    out = render("table {{.ID}}\t{{.Names}}", items, PS_TABLE, PS_HEADERS)
    assert out == "CONTAINER ID   NAMES\nabc            web\n"
    out = render("table {{.Names}}\\t{{.ID}}", items, PS_TABLE, PS_HEADERS)  # a literal \t as typed in a shell
    assert out.splitlines()[0] == "NAMES     CONTAINER ID"
    assert render("{{.Names}}", items, PS_TABLE, PS_HEADERS) == "web\n"
    assert json.loads(render("json", items, PS_TABLE, PS_HEADERS)) == items[0]
    assert render("table", [], "table {{.ID}}\t{{.Names}}", PS_HEADERS) == "CONTAINER ID   NAMES\n"


def test_ps_item_shapes() -> None:
    c = {
        "Id": "0123456789abcdef" * 4, "Names": ["/web"], "Image": "busybox", "Command": "sh -c 'while true; do sleep 1; done'",
        "Created": 1_000_000_000, "State": "running", "Status": "Up 2 minutes", "Labels": {"a": "b"},
        "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"}, {"PrivatePort": 443, "Type": "tcp"}],
    }  # fmt: skip
    item = ps_item(c, no_trunc=False, now=1_000_000_120)
    assert item["ID"] == "0123456789ab"
    assert item["Command"] == '"sh -c \'while true; …"'
    assert item["RunningFor"] == "2 minutes ago"
    assert item["Ports"] == "0.0.0.0:8080->80/tcp, 443/tcp"
    assert item["Label"]("a") == "b" and item["Labels"] == "a=b"
    assert item["CreatedAt"] == "2001-09-09 01:46:40 +0000 UTC"
    assert ps_item(c, no_trunc=True, now=0)["ID"] == c["Id"]


def test_helpers() -> None:
    assert ellipsis("abcdef", 4) == "abc…" and ellipsis("abc", 4) == "abc"
    assert json.loads(filters_json(["status=exited", "status=created", "label=a=b"]) or "") == {
        "status": {"exited": True, "created": True}, "label": {"a=b": True}}
    assert filters_json([]) is None
    assert format_ports([{"PrivatePort": 53, "PublicPort": 5353, "Type": "udp", "IP": "::"}]) == ":::5353->53/udp"
