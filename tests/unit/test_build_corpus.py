"""The Dockerfile corpus: every bad file fails at its line with its text, every good file parses."""

import json
import pathlib

import pytest

from seabox import errdefs
from seabox.build.dockerfile import Add, Copy, DockerfileError, Healthcheck, Onbuild, Run, parse
from seabox.build.graph import build_graph

DATA = pathlib.Path(__file__).parent / "data" / "dockerfiles"
BAD = json.loads((DATA / "bad" / "index.json").read_text())
PLAT = {"target_platform": "linux/amd64", "build_platform": "linux/amd64"}


def test_corpus_is_complete():
    files = {p.name for p in (DATA / "bad").glob("*.Dockerfile")}
    assert files == set(BAD)
    assert len(files) >= 25


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_dockerfile(name):
    want = BAD[name]
    text = (DATA / "bad" / name).read_text()
    with pytest.raises(DockerfileError) as e:
        parse(text, filename=name, **PLAT)
    got = str(e.value)
    assert isinstance(e.value, errdefs.InvalidArgument)
    assert got.startswith(f"{name}:{want['line']}: "), got
    assert want["message"] in got, got
    if want["text"]:
        assert got.endswith(": " + want["text"]), got
    assert "\n" not in got


def test_good_multistage():
    df = parse((DATA / "good" / "multistage.Dockerfile").read_text(), **PLAT)
    assert df.directives.syntax == "docker/dockerfile:1.7"
    assert [s.name for s in df.stages] == ["build", "test", "runtime"]
    build, test, runtime = df.stages
    assert build.from_.image == "golang:1.22" and build.platform == "linux/amd64"
    assert test.base_stage == 0
    assert runtime.from_.image == "debian:bookworm-slim"
    runs = [i for i in build.instructions if isinstance(i, Run)]
    assert [m.type for m in runs[1].mounts] == ["cache", "secret"]
    assert runs[1].mounts[1].required and runs[1].mounts[1].target == "/root/.netrc"
    hd = next(i for i in runtime.instructions if isinstance(i, Run))
    assert hd.heredocs[0].content.startswith("set -e\napt-get update\n")
    conf = [i for i in runtime.instructions if isinstance(i, Copy)][1]
    assert conf.heredocs[0].content == 'listen = ":8080"\n' and conf.dest == "/etc/app/config.toml"
    hc = next(i for i in runtime.instructions if isinstance(i, Healthcheck))
    assert hc.test() == ["CMD", "/usr/local/bin/app", "healthcheck"] and hc.retries == 3
    g = build_graph(df)
    assert g.order == (0, 2) and g.image_refs() == ["golang:1.22", "debian:bookworm-slim"]
    assert build_graph(df, "test").order == (0, 1)


def test_good_classic():
    df = parse((DATA / "good" / "classic.Dockerfile").read_text(), **PLAT)
    ins = df.stages[0].instructions
    add = next(i for i in ins if isinstance(i, Add))
    assert add.dest == "/usr/share/nginx/html/robots.txt"
    copy = next(i for i in ins if isinstance(i, Copy))
    assert copy.sources == ("site/index.html", "site/*.css")
    assert any(isinstance(i, Onbuild) for i in ins)
    assert df.stages[0].final.workdir == "/usr/share/nginx/html"
    assert df.stages[0].final.shell == ("/bin/bash", "-o", "pipefail", "-c")
    assert any("empty continuation line" in w for w in df.warnings)
    assert any("MAINTAINER" in w for w in df.warnings)


def test_good_windows_escape():
    df = parse((DATA / "good" / "windows-escape.Dockerfile").read_text(), **PLAT)
    assert df.directives.escape == "`"
    copy = df.stages[0].instructions[1]
    assert copy.dest == "c:\\"
    assert df.stages[0].instructions[2].command.args[0].startswith("dir c:\\ ")
