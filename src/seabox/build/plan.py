"""Cache keys for a whole build: every step of every needed stage, before running anything.

The engine can compute all keys up front because they depend only on inputs known
before execution: the base images' digests, the context's checksums and the keys
of the stages a step reads from.  A step reading another stage (``COPY --from``,
``RUN --mount from=``) takes that stage's final key as an input, so changing a
file copied into a builder stage misses exactly the steps downstream of it — in
that stage and in every stage that copies from it — and nothing else.  Walking
``BuildGraph.order`` guarantees a stage's sources are keyed before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from seabox import errdefs
from seabox.build import cachekey
from seabox.build.context import ContextIndex
from seabox.build.dockerfile import instructions as ins
from seabox.build.dockerfile.parser import Dockerfile, Stage, Step
from seabox.build.graph import BuildGraph


@dataclass(frozen=True)
class StageKeys:
    base: str  # the parent key of the first step
    steps: tuple[str, ...]  # the filesystem state after each step

    @property
    def final(self) -> str:
        return self.steps[-1] if self.steps else self.base


def _source_key(df: Dockerfile, stage: Stage, name: str, keys: Mapping[int, StageKeys],
                digests: Mapping[str, str]) -> str:
    for r in stage.refs:
        if r.name == name and r.stage is not None:
            return keys[r.stage].final
    if name not in digests:
        raise errdefs.FailedPrecondition(errdefs.subject("image", name, "digest not resolved (needed by "
                                                          f"stage {stage.display()!r} of {df.filename})"))
    return digests[name]


def build_keys(
    df: Dockerfile,
    graph: BuildGraph,
    *,
    index: ContextIndex,
    digests: Mapping[str, str],
    chown: Callable[[Step], tuple[int, int] | None] | None = None,
) -> dict[int, StageKeys]:
    """Keys of every step of the stages ``graph`` needs.

    ``digests`` maps each external image reference (``graph.image_refs()``) to its
    resolved digest; ``chown`` resolves a COPY/ADD step's ``--chown`` to numeric ids
    (names need the image's /etc/passwd, which only the engine can read).
    """
    keys: dict[int, StageKeys] = {}
    for i in graph.order:
        st = df.stages[i]
        if st.base_stage is not None:
            base = keys[st.base_stage].final
        elif st.base_image is None:
            base = cachekey.base_key(None, st.platform)
        else:
            base = cachekey.base_key(_source_key(df, st, st.base_image, keys, digests), st.platform)

        def files(step: Step) -> str | None:
            i_ = step.instruction
            if isinstance(i_, (ins.Copy, ins.Add)):
                return index.for_instruction(i_, chown=chown(step) if chown else None)
            return None

        def inputs(step: Step, st: Stage = st) -> dict[str, str]:
            i_ = step.instruction
            out: dict[str, str] = {}
            if isinstance(i_, ins.Copy) and i_.from_:
                out["from"] = _source_key(df, st, i_.from_, keys, digests)
            if isinstance(i_, ins.Run):
                out.update(index.for_run(i_))
                for m in i_.mounts:
                    if m.from_:
                        out["mount:" + m.target] = _source_key(df, st, m.from_, keys, digests)
            return out

        keys[i] = StageKeys(base, tuple(cachekey.chain(base, st.steps, files=files, inputs=inputs)))
    return keys
