"""Mutated Dockerfiles and .dockerignore files give a one-line InvalidArgument or parse — never a traceback."""

import pathlib
import random

from seabox import errdefs
from seabox.build.dockerfile import DockerfileError, Run, parse
from seabox.build.graph import build_graph
from seabox.build.ignore import IgnoreRules
from seabox.build.imageconfig import stage_config

DATA = pathlib.Path(__file__).parent / "data" / "dockerfiles"
TOKENS = [
    *"$ {}[]\"'\\`:=-+?#%/<>\n\t,*!",
    "<<EOF", "\nEOF\n", "--mount=", "--from=", "${A:-", "FROM ", "RUN ", "COPY ", " AS x", "\\\n", '["a"', "--",
    "HEALTHCHECK ", "ONBUILD ", "ARG A=", "ENV ", "${A#", "${A/", "<< ", "<<-'X'",
]


def mutate(rnd, text):
    t = list(text)
    for _ in range(rnd.randint(1, 6)):
        pos = rnd.randrange(len(t) + 1)
        if rnd.random() < 0.4 and t:
            del t[min(pos, len(t) - 1)]
        else:
            t.insert(pos, rnd.choice(TOKENS))
    return "".join(t)


def test_mutated_dockerfiles():
    corpus = [p.read_text() for p in sorted(DATA.rglob("*.Dockerfile"))]
    rnd = random.Random(20261125)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(1500):
        text = mutate(rnd, rnd.choice(corpus))
        try:
            df = parse(text, target_platform="linux/amd64", build_platform="linux/amd64", build_args={"A": "1"})
        except DockerfileError as e:
            assert "\n" not in str(e)
            assert str(e).startswith("Dockerfile:")
            outcomes["error"] += 1
            continue
        build_graph(df)
        for st in df.stages:
            stage_config(st)
            for s in st.steps:
                if isinstance(s.instruction, Run):
                    s.state.run_argv(s.instruction)
        outcomes["ok"] += 1
    assert outcomes["ok"] > 20 and outcomes["error"] > 20  # both paths were exercised


def test_mutated_ignore_files():
    rnd = random.Random(3)
    alpha = [*"ab/*?[]!\\.- ^#", "**", "./", "../"]
    for _ in range(3000):
        lines = ["".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 8))) for _ in range(rnd.randint(1, 4))]
        try:
            rules = IgnoreRules.from_lines(lines)
        except errdefs.InvalidArgument:
            continue
        for path in ("a", "a/b", "b/a.x", "ab", "a/b/c", "-", "[", "a b"):
            rules.excluded(path)
            rules.can_prune(path)
