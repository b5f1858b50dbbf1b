"""Read-only views: ``state``, ``list`` and ``ps`` output, runc-shaped.

Design reason: these are what shims and orchestrators parse, so the JSON field names and the
table columns follow runc exactly; the status always comes from ``state.load_state`` (live).
"""

from __future__ import annotations

from seabox import jsonlite
from seabox.errdefs import SeaboxError
from seabox.runtime import state as st_mod
from seabox.runtime.kill import container_pids

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from os import PathLike
    from typing import Any

    StrPath = str | PathLike[str]


def state_json(state_root: StrPath, container_id: str) -> str:
    st = st_mod.load_state(state_root, container_id)
    return jsonlite.dumps_indent(st.oci_state())


def list_states(state_root: StrPath) -> list[dict[str, Any]]:
    out = []
    for cid in st_mod.list_ids(state_root):
        try:
            st = st_mod.load_state(state_root, cid)
        except SeaboxError:
            continue
        d = st.oci_state()
        d.setdefault("annotations", {})
        out.append(d)
    return out


def list_table(states: list[dict[str, Any]], quiet: bool = False) -> str:
    if quiet:
        return "".join(f"{s['id']}\n" for s in states)
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for s in states:
        rows.append([s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s.get("owner", "")])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        lines.append("".join(c.ljust(widths[i] + 3) if i < len(r) - 1 else c for i, c in enumerate(r)))
    return "\n".join(lines) + "\n"


def ps_pids(state_root: StrPath, container_id: str) -> list[int]:
    st = st_mod.load_state(state_root, container_id)
    if st.status == st_mod.STOPPED:
        return []
    return sorted(container_pids(st))


def ps_table(pids: list[int]) -> str:
    lines = ["PID    CMD"]
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        lines.append(f"{pid:<6} {cmd}")
    return "\n".join(lines) + "\n"
