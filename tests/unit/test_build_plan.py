"""Whole-build keys: a change misses exactly the steps downstream of it, across stages."""

import pytest

from seabox import errdefs
from seabox.build.context import ContextIndex
from seabox.build.dockerfile import parse
from seabox.build.graph import build_graph
from seabox.build.plan import build_keys

PLAT = {"target_platform": "linux/amd64", "build_platform": "linux/amd64"}
DF = """\
FROM golang:1.22 AS build
WORKDIR /src
COPY go.mod ./
RUN go mod download
COPY cmd/ ./cmd/
RUN --mount=type=cache,target=/root/.cache go build -o /app ./cmd
FROM node:20 AS web
COPY web/ /web/
RUN npm run build
FROM debian:12
COPY --from=build /app /app
COPY --from=web /web/dist /srv
COPY --from=busybox:1 /bin/busybox /bin/
RUN --mount=type=bind,from=web,target=/w ls /w
CMD ["/app"]
"""
DIGESTS = {"golang:1.22": "sha256:" + "1" * 64, "node:20": "sha256:" + "2" * 64,
           "debian:12": "sha256:" + "3" * 64, "busybox:1": "sha256:" + "4" * 64}


@pytest.fixture
def ctx(tmp_path):
    for name, content in {"go.mod": "module x\n", "cmd/main.go": "package main\n", "web/index.js": "1\n",
                          "README": "r\n"}.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return tmp_path


def keys(root, digests=DIGESTS, text=DF):
    df = parse(text, **PLAT)
    return build_keys(df, build_graph(df), index=ContextIndex.scan(str(root)), digests=digests)


def test_rebuild_is_identical(ctx):
    assert keys(ctx) == keys(ctx)


def test_change_in_builder_stage_misses_only_downstream(ctx):
    before = keys(ctx)
    (ctx / "cmd" / "main.go").write_text("package main // changed\n")
    after = keys(ctx)
    assert after[0].steps[:3] == before[0].steps[:3] and after[0].steps[3:] != before[0].steps[3:]
    assert after[1] == before[1]  # the web stage does not read cmd/
    # final stage: COPY --from=build misses and so does everything after it
    assert all(a != b for a, b in zip(after[2].steps, before[2].steps, strict=True))


def test_change_in_web_misses_copy_and_mount_users(ctx):
    before = keys(ctx)
    (ctx / "web" / "index.js").write_text("2\n")
    after = keys(ctx)
    assert after[0] == before[0] and after[1] != before[1]
    assert after[2].steps[0] == before[2].steps[0]  # COPY --from=build
    assert after[2].steps[1] != before[2].steps[1]  # COPY --from=web


def test_unrelated_file_and_image_digest(ctx):
    before = keys(ctx)
    (ctx / "README").write_text("changed\n")
    assert keys(ctx) == before
    other = dict(DIGESTS, **{"busybox:1": "sha256:" + "5" * 64})
    after = keys(ctx, other)
    assert after[2].steps[:2] == before[2].steps[:2] and after[2].steps[2] != before[2].steps[2]
    assert keys(ctx, dict(DIGESTS, **{"debian:12": "sha256:" + "6" * 64}))[2].base != before[2].base


def test_missing_digest(ctx):
    with pytest.raises(errdefs.FailedPrecondition, match='image "busybox:1": digest not resolved'):
        keys(ctx, {k: v for k, v in DIGESTS.items() if k != "busybox:1"})


def test_stage_from_stage_and_scratch(ctx):
    k = keys(ctx, text="FROM scratch AS a\nCOPY go.mod /\nFROM a\nRUN true\n")
    assert k[1].base == k[0].final and k[0].final != k[0].base
    assert len(k[0].steps) == 1 and len(k[1].steps) == 1
