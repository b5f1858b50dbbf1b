"""The Engine API's event filters, as docker's: a container filter keeps only that container's events."""

from __future__ import annotations

from seabox.engine.routes import _event_match


def _ev(kind: str, action: str, actor: str, name: str) -> dict:
    return {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": {"name": name}}}


def test_container_filter_excludes_other_objects() -> None:
    cid = "3a12e45bc7" + "0" * 54
    flt = {"container": [cid]}
    assert _event_match(_ev("container", "start", cid, "web"), flt)
    assert _event_match(_ev("container", "start", cid, "web"), {"container": ["3a12e4"]})  # id prefix
    assert _event_match(_ev("container", "die", cid, "web"), {"container": ["web"]})  # name
    assert not _event_match(_ev("container", "start", "ffff" + cid[4:], "db"), flt)
    assert not _event_match(_ev("image", "pull", "busybox:latest", "busybox:latest"), flt)  # not a container's
    assert _event_match(_ev("image", "pull", "busybox:latest", "busybox:latest"), {"type": ["image"]})
    assert not _event_match(_ev("image", "pull", "busybox:latest", "busybox:latest"), {"event": ["start"]})
