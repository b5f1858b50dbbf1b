"""The stage graph: target selection, order, parallel levels, external images."""

import pytest

from seabox import errdefs
from seabox.build.dockerfile import parse
from seabox.build.graph import build_graph, stage_deps

DF = """\
FROM golang:1.22 AS deps
RUN go mod download
FROM node:20 AS web
RUN npm ci
FROM deps AS backend
COPY --from=web /dist /dist
FROM alpine:3 AS tools
RUN --mount=type=bind,from=nginx:1.26,target=/n true
FROM debian:12 AS final
COPY --from=backend /app /app
COPY --from=tools /t /t
COPY --from=busybox:latest /bin/busybox /bin/
FROM scratch AS unrelated
COPY --from=2 /x /x
"""


def g(target=None, text=DF):
    return build_graph(parse(text, target_platform="linux/amd64", build_platform="linux/amd64"), target)


def test_default_target_is_last_stage():
    gr = g()
    assert gr.target == 5 and gr.order == (0, 1, 2, 5)  # --from=2 is "backend"
    assert gr.levels == ((0, 1), (2,), (5,))
    assert [u.ref for u in gr.images] == ["golang:1.22", "node:20"]


def test_target_keeps_only_what_it_needs():
    gr = g("final")
    assert gr.target == 4
    assert set(gr.order) == {0, 1, 2, 3, 4}
    for i, deps in gr.deps.items():  # dependencies first
        assert all(gr.order.index(d) < gr.order.index(i) for d in deps)
    assert gr.deps[4] == (2, 3) and gr.deps[2] == (0, 1)
    assert gr.levels == ((0, 1, 3), (2,), (4,))


def test_images_needed():
    gr = g("final")
    assert [(u.ref, u.stage, u.via) for u in gr.images] == [
        ("golang:1.22", 0, "from"), ("node:20", 1, "from"), ("alpine:3", 3, "from"), ("nginx:1.26", 3, "mount"),
        ("debian:12", 4, "from"), ("busybox:latest", 4, "copy")]
    assert gr.image_refs() == ["golang:1.22", "node:20", "alpine:3", "nginx:1.26", "debian:12", "busybox:latest"]
    assert [u.ref for u in g("backend").images] == ["golang:1.22", "node:20"]


def test_target_by_index_and_case():
    assert g(0).order == (0,)
    assert g("BACKEND").order == g("backend").order


def test_unknown_target():
    with pytest.raises(errdefs.InvalidArgument, match='target stage "nope": not found'):
        g("nope")
    with pytest.raises(errdefs.InvalidArgument):
        g(17)


def test_scratch_needs_no_image_and_platform_is_carried():
    gr = g(text="FROM --platform=linux/arm64 alpine AS a\nFROM scratch\nCOPY --from=a /x /x\n")
    assert [(u.ref, u.platform) for u in gr.images] == [("alpine", "linux/arm64")]
    assert gr.levels == ((0,), (1,))


def test_stage_deps_dedup():
    df = parse("FROM a AS x\nFROM x\nCOPY --from=x /a /a\nCOPY --from=0 /b /b\n", target_platform="linux/amd64",
               build_platform="linux/amd64")
    assert stage_deps(df, 1) == (0,)


def test_diamond_levels():
    gr = g(text="FROM a AS base\nFROM base AS l\nFROM base AS r\nFROM scratch\nCOPY --from=l / /\n"
                "COPY --from=r / /\n")
    assert gr.levels == ((0,), (1, 2), (3,))
