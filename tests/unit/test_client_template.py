"""The Go-template subset behind --format and inspect -f."""

from __future__ import annotations

import pytest

from seabox.client.template import Template, TemplateError, render

DATA = {
    "Id": "abc", "Name": "/web", "State": {"Pid": 1234, "Running": True, "Error": ""},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"x": "1", "y": "2"}, "Cmd": None},
    "Args": ["a", "b"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("tpl", "out"),
    [
        ("{{.State.Pid}}", "1234"),
        ("{{.State.Running}}", "true"),
        ("{{.Name}}", "/web"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Config.Cmd}}", "<nil>"),
        ("{{.Args}}", "[a b]"),
        ("{{.Config.Labels}}", "map[x:1 y:2]"),
        ("{{json .Args}}", '["a","b"]'),
        ("{{json .Config.Labels}}", '{"x":"1","y":"2"}'),
        ('{{join .Args ","}}', "a,b"),
        ("{{.Name | upper}}", "/WEB"),
        ("{{upper .Name}}", "/WEB"),
        ("{{lower (upper .Name)}}", "/web"),
        ('{{index .Config.Labels "x"}}', "1"),
        ('{{printf "%s=%d" .Id .State.Pid}}', "abc=1234"),
        ('{{printf "%-5s|" .Id}}', "abc  |"),
        ("{{range .Config.Env}}{{.}};{{end}}", "A=1;B=2;"),
        ("{{range .Nothing}}x{{else}}none{{end}}", "none"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .State.Error}}err{{end}}", ""),
        ("{{with .State}}{{.Pid}}{{end}}", "1234"),
        ("{{len .Args}}", "2"),
        ("a {{- .Id -}} b", "aabcb"),
        ('{{"lit"}} {{1}} {{true}}', "lit 1 true"),
        ("{{range .Args}}{{$.Id}}{{end}}", "abcabc"),
        ("{{/* comment */}}x", "x"),
    ],
)
def test_render(tpl: str, out: str) -> None:
    assert render(tpl, DATA) == out


def test_nested_blocks() -> None:
    t = "{{range .Args}}{{if eq . \"a\"}}A{{else}}{{.}}{{end}}{{end}}"
    assert render(t, DATA) == "Ab"


@pytest.mark.parametrize("tpl", ["{{.Id", "{{nofunc .Id}}", "{{end}}", "{{if .X}}", "{{.Id \"arg\"}}"])
def test_errors_are_invalid_argument(tpl: str) -> None:
    with pytest.raises(TemplateError):
        Template(tpl).render(DATA)


def test_callable_fields() -> None:
    assert render('{{.Label "x"}}', {"Label": lambda k: {"x": "1"}[k]}) == "1"
