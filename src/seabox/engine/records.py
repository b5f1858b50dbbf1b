"""Docker-side container records: ``<root>/containers/<id>/config.v2.json``.

Design reason: containerd's container record holds the OCI spec, not docker's Config and
HostConfig, nor state such as the restart count or "stopped by the user"; dockerd keeps its
own file per container and so does the engine.  Writes are atomic (temp file + rename).
Names follow docker: ``/name``, ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any

from seabox import errdefs

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ZERO_TIME = "0001-01-01T00:00:00Z"

_ADJ = ["brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud",
        "quirky", "sharp", "tender", "vivid", "witty", "zen"]
_NOUN = ["albatross", "badger", "crane", "dolphin", "egret", "falcon", "gannet", "heron", "ibis", "jackal",
         "kestrel", "lemur", "marlin", "narwhal", "otter", "puffin", "quail", "seal", "tern", "walrus"]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return secrets.token_hex(32)


def random_name() -> str:
    return f"{secrets.choice(_ADJ)}_{secrets.choice(_NOUN)}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise errdefs.InvalidArgument(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    return "/" + name.lstrip("/")


def new_state() -> dict[str, Any]:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
            "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


class Records:
    """All containers' records, cached in memory, one file each."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o711)
        self.lock = threading.RLock()
        self.items: dict[str, dict[str, Any]] = {}
        for d in sorted(os.listdir(self.root)):
            p = self.root / d / "config.v2.json"
            try:
                self.items[d] = json.loads(p.read_text())
            except (OSError, ValueError):
                continue

    def dir(self, cid: str) -> Path:
        return self.root / cid

    def save(self, rec: dict[str, Any]) -> None:
        with self.lock:
            d = self.dir(rec["Id"])
            d.mkdir(parents=True, exist_ok=True, mode=0o711)
            tmp = d / f".config.v2.json.{threading.get_ident()}"
            tmp.write_text(json.dumps(rec))
            os.replace(tmp, d / "config.v2.json")
            self.items[rec["Id"]] = rec

    def remove(self, cid: str) -> None:
        import shutil

        with self.lock:
            self.items.pop(cid, None)
            shutil.rmtree(self.dir(cid), ignore_errors=True)

    def hide(self, cid: str) -> dict[str, Any] | None:
        """Forget the record in memory (lookups, names, listings) but keep its file: an
        AutoRemove container being removed in the background, still found by ``recover`` if
        seaboxd stops before the removal ends."""
        with self.lock:
            return self.items.pop(cid, None)

    def all(self, ns: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.items.values() if r.get("Namespace", "default") == ns]

    def name_taken(self, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((r for r in self.all(ns) if r["Name"] == name), None)

    def find(self, ns: str, ref: str) -> dict[str, Any]:
        """By full id, name (with or without /), or unique id prefix: docker's lookup."""
        with self.lock:
            recs = self.all(ns)
            for r in recs:
                if r["Id"] == ref:
                    return r
            name = "/" + ref.lstrip("/")
            for r in recs:
                if r["Name"] == name:
                    return r
            if ref:
                hits = [r for r in recs if r["Id"].startswith(ref)]
                if len(hits) == 1:
                    return hits[0]
                if len(hits) > 1:
                    raise errdefs.InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise errdefs.NotFound(f"No such container: {ref}")
