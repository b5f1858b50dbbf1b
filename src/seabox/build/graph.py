"""Which stages a build needs, in what order, and which can run side by side.

A multi-stage Dockerfile is a DAG: a stage depends on the stage it starts FROM,
the stages it ``COPY --from``s and the stages it ``RUN --mount ... from=``s.  The
parser already resolved those references (and refused cycles); this module only
walks them from the target, so a ``--target`` build never runs stages the target
does not need, and groups the needed stages in *levels*: every stage of a level
depends only on earlier levels, so a level's stages can be built in parallel.
It also lists the external images the build needs, for ``--pull`` and prefetching.
"""

from __future__ import annotations

from dataclasses import dataclass

from seabox import errdefs
from seabox.build.dockerfile.parser import Dockerfile


@dataclass(frozen=True)
class ImageUse:
    """An external image the build needs: a stage's base, or the source of a COPY/mount ``--from``."""

    ref: str
    stage: int  # the stage that uses it
    via: str  # "from", "copy" or "mount"
    line: int
    platform: str | None = None


@dataclass(frozen=True)
class BuildGraph:
    target: int
    order: tuple[int, ...]  # needed stages, dependencies first
    deps: dict[int, tuple[int, ...]]  # needed stage -> the stages it depends on
    levels: tuple[tuple[int, ...], ...]
    images: tuple[ImageUse, ...]

    def image_refs(self) -> list[str]:
        """Distinct external image references, in first-use order."""
        seen: dict[str, None] = {}
        for u in self.images:
            seen.setdefault(u.ref, None)
        return list(seen)


def stage_deps(df: Dockerfile, index: int) -> tuple[int, ...]:
    st = df.stages[index]
    out: dict[int, None] = {}
    for r in st.refs:
        if r.stage is not None:
            out.setdefault(r.stage, None)
    return tuple(out)


def build_graph(df: Dockerfile, target: str | int | None = None) -> BuildGraph:
    """The graph for building ``target`` (a stage name or index; the last stage when None)."""
    if target is None or target == "":
        t = len(df.stages) - 1
    else:
        try:
            t = df.stage(target).index
        except errdefs.NotFound:
            raise errdefs.InvalidArgument(errdefs.subject("target stage", str(target), "not found in "
                                                          + df.filename)) from None
    order: list[int] = []
    state: dict[int, int] = {}

    def visit(i: int) -> None:
        state[i] = 1
        for d in stage_deps(df, i):
            if state.get(d) == 1:  # the parser refuses cycles; keep the walk total anyway
                raise errdefs.InvalidArgument(errdefs.subject("stage", df.stages[i].display(), "circular dependency"))
            if d not in state:
                visit(d)
        state[i] = 2
        order.append(i)

    visit(t)
    deps = {i: stage_deps(df, i) for i in order}
    level: dict[int, int] = {}
    for i in order:
        level[i] = 1 + max((level[d] for d in deps[i]), default=-1)
    levels = tuple(
        tuple(sorted(i for i in order if level[i] == n)) for n in range(max(level.values()) + 1)
    )
    images: list[ImageUse] = []
    for i in sorted(order):
        st = df.stages[i]
        if st.base_image is not None:
            images.append(ImageUse(st.base_image, i, "from", st.from_.line, st.platform))
        for r in st.refs:
            if r.stage is None and r.via != "from":
                images.append(ImageUse(r.name, i, r.via, r.line, st.platform))
    return BuildGraph(t, tuple(order), deps, levels, tuple(images))
