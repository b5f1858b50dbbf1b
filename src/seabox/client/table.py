"""docker-like output: ``--format`` handling (``table``, ``json``, templates) and aligned tables.

Docker renders tables with Go's tabwriter (min width 10, padding 3, spaces): every tab-separated
cell but the last in a row is padded to its column's widest cell plus 3, at least 10.
"""

from __future__ import annotations

from seabox import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def tabwrite(rows: list[list[str]], minwidth: int = 10, padding: int = 3) -> str:
    widths: dict[int, int] = {}
    for r in rows:
        for i, c in enumerate(r[:-1]):
            widths[i] = max(widths.get(i, 0), len(c))
    out = []
    for r in rows:
        cells = [c.ljust(max(widths[i] + padding, minwidth)) for i, c in enumerate(r[:-1])]
        out.append("".join(cells) + (r[-1] if r else ""))
    return "".join(line.rstrip() + "\n" if not line.strip() else line + "\n" for line in out)


def render(fmt: str, items: list[dict[str, Any]], default_table: str, headers: dict[str, str]) -> str:
    """Render ``items`` with a docker ``--format`` value (empty: ``default_table``)."""
    from seabox.client.template import Template

    f = fmt or default_table
    if f == "json":
        return "".join(jsonlite.dumps(_plain(i), ascii=False) + "\n" for i in items)
    table = f.startswith("table")
    if table:
        f = f[len("table") :].lstrip() or default_table[len("table") :].lstrip()
    f = f.replace("\\t", "\t").replace("\\n", "\n")
    t = Template(f)
    if not table:
        return "".join(t.render(i) + "\n" for i in items)
    head = t.render(_HeaderCtx(headers))
    rows = [head.split("\t")] + [t.render(i).split("\t") for i in items]
    return tabwrite(rows)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not callable(v)}


class _HeaderCtx(dict):
    """Template data whose every field is its column title."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self.headers = headers

    def get(self, key: str, default: Any = None) -> Any:
        h = self.headers.get(key)
        if h is None:
            h = "".join((" " + c if c.isupper() and i else c) for i, c in enumerate(key)).upper()
        return _Title(h)


class _Title(str):
    """A header title that swallows template calls (``{{.Label "x"}}`` → ``LABEL``)."""

    def __call__(self, *_a: Any) -> str:
        return str(self)
