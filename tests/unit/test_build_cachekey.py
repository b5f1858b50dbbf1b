"""Cache keys and context checksums: unchanged steps hit, a one-file change misses from its COPY on."""

import os

import pytest

from seabox import errdefs
from seabox.build import cachekey, context
from seabox.build.cachekey import TreeItem, tree_checksum
from seabox.build.context import ContextIndex
from seabox.build.dockerfile import Copy, parse
from seabox.build.ignore import IgnoreRules

PLAT = {"target_platform": "linux/amd64", "build_platform": "linux/amd64"}
DF = """\
FROM busybox
ARG VERSION=1
ENV APP=/app
WORKDIR $APP
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY src/ ./src/
RUN make VERSION=$VERSION
CMD ["./app"]
"""


def write(root, files):
    for name, content in files.items():
        p = os.path.join(root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(content)


@pytest.fixture
def ctx(tmp_path):
    write(tmp_path, {"requirements.txt": "flask\n", "src/main.py": "print(1)\n", "src/util/u.py": "x = 1\n",
                     "README.md": "hi\n", "Dockerfile": DF, ".dockerignore": "*.md\n"})
    return tmp_path


def keys(root, text=DF, **kw):
    df = parse(text, **PLAT, **kw)
    idx = ContextIndex.scan(str(root), IgnoreRules.parse((root / ".dockerignore").read_text()))

    def files(step):
        return idx.for_instruction(step.instruction) if isinstance(step.instruction, Copy) else None

    return cachekey.chain(cachekey.base_key("sha256:" + "b" * 64), df.stages[0].steps, files=files)


def test_unchanged_rebuild_hits_everything(ctx):
    k = keys(ctx)
    assert k == keys(ctx)
    # ARG ENV keep the base key; WORKDIR COPY RUN COPY RUN get their own; CMD keeps the last one
    assert k[0] == k[1] == cachekey.base_key("sha256:" + "b" * 64)
    assert len(set(k[2:7])) == 5 and k[7] == k[6]


def test_one_file_change_misses_from_its_copy(ctx):
    before = keys(ctx)
    (ctx / "src" / "util" / "u.py").write_text("x = 2\n")
    after = keys(ctx)
    # steps: ARG ENV WORKDIR COPY(req) RUN COPY(src) RUN CMD
    assert after[:5] == before[:5]
    assert all(a != b for a, b in zip(after[5:], before[5:], strict=True))


def test_first_copy_change_misses_everything_below(ctx):
    before = keys(ctx)
    (ctx / "requirements.txt").write_text("django\n")
    after = keys(ctx)
    assert after[:3] == before[:3] and all(a != b for a, b in zip(after[3:], before[3:], strict=True))


def test_mtime_and_ignored_files_do_not_matter(ctx):
    before = keys(ctx)
    os.utime(ctx / "src" / "main.py", (1, 1))
    (ctx / "README.md").write_text("changed but ignored\n")
    (ctx / "NOTES.md").write_text("new but ignored\n")
    (ctx / "other.txt").write_text("not copied by any step\n")
    assert keys(ctx) == before


def test_mode_change_matters(ctx):
    before = keys(ctx)
    os.chmod(ctx / "src" / "main.py", 0o755)
    assert keys(ctx)[5] != before[5]


def test_new_file_in_copied_dir_matters(ctx):
    before = keys(ctx)
    (ctx / "src" / "new.py").write_text("")
    assert keys(ctx)[5] != before[5] and keys(ctx)[3] == before[3]


def test_build_arg_changes_only_runs_that_see_it(ctx):
    before = keys(ctx)
    after = keys(ctx, build_args={"VERSION": "2"})
    # nothing misses until the first RUN, which sees VERSION in its environment
    assert after[:4] == before[:4]
    assert all(a != b for a, b in zip(after[4:], before[4:], strict=True))


def test_label_change_misses_nothing(ctx):
    text = DF.replace("CMD", "LABEL a=1\nCMD")
    assert keys(ctx, text=text) == keys(ctx, text=text.replace("a=1", "a=2"))


def test_env_change_reaches_run_keys():
    a = parse("FROM x\nENV A=1\nRUN echo\n", **PLAT).stages[0].steps[1]
    b = parse("FROM x\nENV A=2\nRUN echo\n", **PLAT).stages[0].steps[1]
    assert cachekey.step_key("p", a) != cachekey.step_key("p", b)


def test_line_numbers_do_not_matter():
    a = parse("FROM x\nRUN echo\n", **PLAT).stages[0].steps[0]
    b = parse("FROM x\n# moved\n\nRUN echo\n", **PLAT).stages[0].steps[0]
    assert cachekey.step_key("p", a) == cachekey.step_key("p", b)


def test_copy_key_ignores_unrelated_env_but_not_workdir():
    a = parse("FROM x\nENV A=1\nCOPY a b\n", **PLAT).stages[0].steps[1]
    b = parse("FROM x\nENV A=2\nCOPY a b\n", **PLAT).stages[0].steps[1]
    c = parse("FROM x\nWORKDIR /w\nCOPY a b\n", **PLAT).stages[0].steps[1]
    assert cachekey.step_key("p", a, files="f") == cachekey.step_key("p", b, files="f")
    assert cachekey.step_key("p", a, files="f") != cachekey.step_key("p", c, files="f")


def test_parent_and_inputs_matter():
    s = parse("FROM x\nCOPY --from=y /a /b\n", **PLAT).stages[0].steps[0]
    k = cachekey.step_key("p1", s, inputs={"from": "k1"})
    assert k != cachekey.step_key("p2", s, inputs={"from": "k1"})
    assert k != cachekey.step_key("p1", s, inputs={"from": "k2"})
    assert k.startswith("sha256:") and len(k) == 71
    assert cachekey.base_key(None) != cachekey.base_key("sha256:" + "0" * 64)
    assert cachekey.base_key("d", "linux/amd64") != cachekey.base_key("d", "linux/arm64")


def test_tree_checksum_rules():
    a = TreeItem("a", "file", 0o644, 0, 0, "sha256:1")
    b = TreeItem("b/c", "symlink", 0o777, 0, 0, target="../a")
    d = TreeItem("b", "dir", 0o755, 0, 0)
    base = tree_checksum([a, b, d])
    assert tree_checksum([d, b, a]) == base  # order-independent
    assert tree_checksum([a, TreeItem("b/c", "symlink", 0o777, 0, 0, target="../x"), d]) != base
    assert tree_checksum([TreeItem("a", "file", 0o644, 1000, 0, "sha256:1"), b, d]) != base
    assert tree_checksum([TreeItem("A", "file", 0o644, 0, 0, "sha256:1"), b, d]) != base
    assert tree_checksum([TreeItem("a", "file", 0o644, 0, 0, "sha256:2"), b, d]) != base
    # --chown/--chmod make the source ownership/mode irrelevant (but not symlink modes)
    u1 = [TreeItem("a", "file", 0o600, 1, 1, "sha256:1")]
    u2 = [TreeItem("a", "file", 0o644, 2, 2, "sha256:1")]
    assert tree_checksum(u1) != tree_checksum(u2)
    assert tree_checksum(u1, chown=(0, 0), chmod=0o755) == tree_checksum(u2, chown=(0, 0), chmod=0o755)
    assert tree_checksum(u1, chown=(0, 0), chmod=0o755) != tree_checksum(u1, chown=(1, 0), chmod=0o755)


def test_select(ctx):
    os.symlink("main.py", ctx / "src" / "link")
    idx = ContextIndex.scan(str(ctx), IgnoreRules.parse("*.md\n"))
    assert [e.path for e in idx.select("src")] == ["src", "src/link", "src/main.py", "src/util", "src/util/u.py"]
    assert [e.path for e in idx.select("/src/util/")] == ["src/util", "src/util/u.py"]
    assert [e.path for e in idx.select("../../requirements.txt")] == ["requirements.txt"]
    assert [e.path for e in idx.select("src/*.py")] == ["src/main.py"]
    assert "README.md" not in [e.path for e in idx.select(".")]
    link = next(e for e in idx.select("src/link"))
    assert link.kind == "symlink" and link.target == "main.py"
    f = idx.entries["src/main.py"]
    assert f.kind == "file" and f.size == 9
    assert f.digest == "sha256:" + __import__("hashlib").sha256(b"print(1)\n").hexdigest()
    for missing in ("nope.txt", "README.md", "src/nope"):
        with pytest.raises(errdefs.NotFound, match="not found in build context"):
            idx.select(missing)
    assert idx.select("*.xyz") == []  # an empty wildcard is allowed


def test_checksum_chown_chmod_and_sources(ctx):
    idx = ContextIndex.scan(str(ctx))
    plain = idx.checksum(["src"])
    assert idx.checksum(["src"], chown=(1000, 1000)) != plain
    assert idx.checksum(["src"], chmod=0o700) != plain
    assert idx.checksum(["src", "requirements.txt"]) != plain
    assert idx.checksum(["src"]) == plain


def test_for_instruction(ctx):
    idx = ContextIndex.scan(str(ctx))
    steps = parse("FROM x AS a\nFROM y\nCOPY --from=a /x /x\nADD https://e.com/f /f\nCOPY <<EOF /h\nhi\nEOF\n"
                  "ADD --chmod=600 requirements.txt /r\n", **PLAT).stages[1].instructions
    assert idx.for_instruction(steps[0]) is None
    assert idx.for_instruction(steps[1]) is None
    assert idx.for_instruction(steps[2]) is None
    assert idx.for_instruction(steps[3]) == idx.checksum(["requirements.txt"], chmod=0o600)


def test_reuse_skips_unchanged_files(ctx, monkeypatch):
    first = ContextIndex.scan(str(ctx))
    calls = []
    real = context.file_digest
    monkeypatch.setattr(context, "file_digest", lambda p: calls.append(p) or real(p))
    again = ContextIndex.scan(str(ctx), reuse=first.entries)
    assert calls == [] and again.entries == first.entries
    (ctx / "src" / "main.py").write_text("print(22)\n")
    third = ContextIndex.scan(str(ctx), reuse=first.entries)
    assert [os.path.relpath(c, ctx) for c in calls] == ["src/main.py"]
    assert third.entries["src/main.py"].digest != first.entries["src/main.py"].digest


def test_large_file_streams(ctx):
    big = ctx / "big.bin"
    with open(big, "wb") as f:
        for i in range(5):
            f.write(bytes([i]) * (1 << 20))
    import hashlib

    assert context.file_digest(str(big)) == "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()


def test_excludes(ctx):
    idx = ContextIndex.scan(str(ctx))
    full = idx.checksum(["src"])
    no_util = idx.checksum(["src"], excludes=["src/util"])
    assert no_util != full
    before = no_util
    (ctx / "src" / "util" / "u.py").write_text("changed\n")
    idx2 = ContextIndex.scan(str(ctx))
    assert idx2.checksum(["src"], excludes=["src/util"]) == before
    assert idx2.checksum(["src"]) != full
    step = parse("FROM x\nCOPY --exclude=**/util src /s\n", **PLAT).stages[0].instructions[0]
    assert idx2.for_instruction(step) == before


def test_run_bind_mount_inputs(ctx):
    df = parse("FROM x AS s\nFROM y\nRUN --mount=type=bind,source=src,target=/s --mount=type=bind,target=/all "
               "--mount=type=bind,from=s,target=/o --mount=type=cache,target=/c make\n", **PLAT)
    run_step = df.stages[1].steps[0]
    idx = ContextIndex.scan(str(ctx))
    inputs = idx.for_run(run_step.instruction)
    assert set(inputs) == {"mount:/s", "mount:/all"}
    assert inputs["mount:/s"] == idx.checksum(["src"])
    k1 = cachekey.step_key("p", run_step, inputs=inputs)
    (ctx / "src" / "main.py").write_text("print(3)\n")
    idx2 = ContextIndex.scan(str(ctx))
    assert cachekey.step_key("p", run_step, inputs=idx2.for_run(run_step.instruction)) != k1


def test_scan_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(errdefs.NotFound, match="build context"):
        ContextIndex.scan(str(tmp_path / "missing"))
    (tmp_path / "f").write_text("x")

    def denied(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(context, "file_digest", denied)
    with pytest.raises(errdefs.FailedPrecondition, match='build context path "f": cannot be read: Permission denied'):
        ContextIndex.scan(str(tmp_path))


def test_scan_skips_files_that_vanish(tmp_path, monkeypatch):
    (tmp_path / "a").write_text("x")
    (tmp_path / "b").write_text("y")
    real = context.file_digest

    def vanish(path):
        if path.endswith("/a"):
            raise FileNotFoundError(2, "No such file", path)
        return real(path)

    monkeypatch.setattr(context, "file_digest", vanish)
    assert list(ContextIndex.scan(str(tmp_path)).entries) == ["b"]


def test_proxy_args_are_exempt_from_the_cache_unless_declared():
    text = "FROM x\nRUN curl example.com\n"
    a = parse(text, build_args={"HTTP_PROXY": "http://a:3128"}, **PLAT).stages[0].steps[0]
    b = parse(text, build_args={"HTTP_PROXY": "http://b:3128"}, **PLAT).stages[0].steps[0]
    assert "HTTP_PROXY=http://a:3128" in a.state.run_env()
    assert cachekey.step_key("p", a) == cachekey.step_key("p", b)
    text = "FROM x\nARG HTTP_PROXY\nRUN curl example.com\n"
    a = parse(text, build_args={"HTTP_PROXY": "http://a:3128"}, **PLAT).stages[0].steps[1]
    b = parse(text, build_args={"HTTP_PROXY": "http://b:3128"}, **PLAT).stages[0].steps[1]
    assert cachekey.step_key("p", a) != cachekey.step_key("p", b)
