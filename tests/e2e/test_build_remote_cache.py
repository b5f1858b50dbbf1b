"""``--cache-to`` / ``--cache-from``: a build cache exported to the fixture registry (and to a
local OCI layout) lets a buildd with an empty cache reuse every step — the RUN steps, which
write random bytes, are not run again, so the image comes out byte-for-byte the same.

One buildd on temp dirs; "empty cache" is ``prune --keep-storage 0`` between builds.  Each
test pushes to its own repository (``sbt-cache-<random>``) in the open fixture registry.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.buildd.client import Client
from seabox.buildd.testing import RunningBuildd, temp_buildd

pytestmark = [pytest.mark.e2e, pytest.mark.root]

DOCKERFILE = """\
FROM 127.0.0.1:5000/library/busybox:latest AS gen
RUN head -c 48 /dev/urandom | od -An -tx1 > /gen-rand

FROM 127.0.0.1:5000/library/busybox:latest
COPY note.txt /note.txt
RUN head -c 48 /dev/urandom | od -An -tx1 > /rand
COPY --from=gen /gen-rand /gen-rand
RUN cat /rand /note.txt > /both
"""


@pytest.fixture(scope="module")
def bd() -> Iterator[RunningBuildd]:
    with temp_buildd("sbt-bdc-") as d:
        yield d


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    c.mkdir()
    (c / "Dockerfile").write_text(DOCKERFILE)
    (c / "note.txt").write_text("cached across machines\n")
    return c


def build(bd: RunningBuildd, ctx: Path, *args: str) -> tuple[int, list[dict], str]:
    p = subprocess.run([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", bd.address, "--progress", "rawjson",
                        *args, str(ctx)], capture_output=True, text=True, timeout=600)
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines() if x.strip()], p.stderr


def digest(events: list[dict]) -> str:
    return next(e for e in events if e["type"] == "result")["digest"]


def run_steps(events: list[dict]) -> dict[str, bool]:
    """RUN step name → cached, from the final 'done' events."""
    return {e["name"]: bool(e.get("cached")) for e in events
            if e["type"] == "step" and e.get("status") == "done" and "] RUN " in e["name"]}


def empty_cache(bd: RunningBuildd) -> None:
    Client(bd.address).prune(0)
    assert Client(bd.address).du() == []


def test_registry_cache_max_restores_every_step(bd: RunningBuildd, ctx: Path) -> None:
    ref = f"127.0.0.1:5000/sbt-cache-{secrets.token_hex(4)}:buildcache"
    rc, ev, err = build(bd, ctx, "--cache-to", f"type=registry,ref={ref},mode=max")
    assert rc == 0, err
    first = digest(ev)
    assert set(run_steps(ev).values()) == {False}
    assert any("exported build cache" in (e.get("message") or "") for e in ev)

    empty_cache(bd)
    rc, ev, err = build(bd, ctx, "--cache-from", f"type=registry,ref={ref}")
    assert rc == 0, err
    steps = run_steps(ev)
    assert len(steps) == 3 and set(steps.values()) == {True}, steps
    assert any("importing build cache from" in (e.get("line") or "") for e in ev)
    assert digest(ev) == first  # the random bytes came from the cache: same layers, same image

    # a changed file re-runs only what follows it; the gen stage still comes from the cache
    empty_cache(bd)
    (ctx / "note.txt").write_text("changed\n")
    rc, ev, err = build(bd, ctx, "--cache-from", ref)  # a bare ref means type=registry
    assert rc == 0, err
    steps = run_steps(ev)
    by_target = {k.rsplit("> ", 1)[1]: v for k, v in steps.items()}
    assert by_target == {"/gen-rand": True, "/rand": False, "/both": False}, steps
    assert digest(ev) != first


def test_local_cache_min_holds_only_the_final_chain(bd: RunningBuildd, ctx: Path, tmp_path: Path) -> None:
    dest = tmp_path / "cache-dir"
    rc, ev, err = build(bd, ctx, "--cache-to", f"type=local,dest={dest}")
    assert rc == 0, err
    first = digest(ev)
    index = json.loads((dest / "index.json").read_text())
    [m] = index["manifests"]
    manifest = json.loads((dest / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes())
    cfg = json.loads((dest / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    descriptions = [r["description"] for r in cfg["records"]]
    assert not any("/gen-rand" in d and "od" in d for d in descriptions)  # mode=min: not the gen stage's RUN
    assert any(d.endswith("> /both") for d in descriptions)

    empty_cache(bd)
    rc, ev, err = build(bd, ctx, "--cache-from", f"type=local,src={dest}")
    assert rc == 0, err
    steps = run_steps(ev)
    assert all(v for k, v in steps.items() if "/gen-rand" not in k) and digest(ev) == first


def test_missing_cache_is_a_warning_and_bad_specs_are_errors(bd: RunningBuildd, ctx: Path) -> None:
    empty_cache(bd)
    rc, ev, err = build(bd, ctx, "--cache-from", f"type=registry,ref=127.0.0.1:5000/sbt-cache-none-{secrets.token_hex(3)}:x")
    assert rc == 0, err
    assert any("not used" in (e.get("line") or "") for e in ev)
    assert set(run_steps(ev).values()) == {False}
    for spec, needle in (("type=s3,bucket=b", "unsupported type"), ("type=registry", "needs ref="),
                         ("type=local,src=/x", "needs dest="), ("type=registry,ref=r,mode=all", "mode must be")):
        rc, _, err = build(bd, ctx, "--cache-to", spec)
        assert rc != 0 and needle in err and len(err.strip().splitlines()) == 1, (spec, err)
