""".dockerignore pattern rules and the context walk."""

import os

import pytest

from seabox import errdefs
from seabox.build import ignore
from seabox.build.ignore import IgnoreRules, clean


@pytest.mark.parametrize(
    "path,want",
    [("", "."), (".", "."), ("./a", "a"), ("a/", "a"), ("a//b/./c/", "a/b/c"), ("a/../b", "b"), ("/", "/"),
     ("/a/../..", "/"), ("../a", "../a"), ("a/b/../../..", "..")],
)
def test_clean(path, want):
    assert clean(path) == want


# (patterns, path, excluded?)
CASES = [
    # the examples of Docker's documentation
    (["*/temp*"], "somedir/temporary.txt", True),
    (["*/temp*"], "somedir/temp", True),
    (["*/temp*"], "somedir/temp/inner/file", True),
    (["*/temp*"], "temporary.txt", False),
    (["*/temp*"], "a/b/temporary.txt", False),
    (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
    (["*/*/temp*"], "somedir/temporary.txt", False),
    (["temp?"], "tempa", True),
    (["temp?"], "temp", False),
    (["temp?"], "tempab", False),
    (["**/*.go"], "main.go", True),
    (["**/*.go"], "a/b/c/x.go", True),
    (["**/*.go"], "a/b/c/x.gox", False),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    # parents: a matched directory excludes everything below it
    (["node_modules"], "node_modules/a/b.js", True),
    (["node_modules"], "src/node_modules/a.js", False),
    (["**/node_modules"], "src/node_modules/a.js", True),
    (["a/**"], "a/b/c", True),
    (["a/**"], "a", False),
    (["a/**/z"], "a/z", True),
    (["a/**/z"], "a/b/c/z", True),
    (["a/**/z"], "a/b/c/zz", False),
    (["**"], "anything/at/all", True),
    # cleaning: leading /, ./, trailing /
    (["/build"], "build/out", True),
    (["./build/"], "build", True),
    (["build/"], "x/build", False),
    # wildcards never cross /
    (["*"], "a", True),
    (["*"], "a/b", True),  # via the parent "a"
    (["a*b"], "a/b", False),
    (["a?b"], "a/b", False),
    # classes and escapes (Go filepath.Match)
    (["[abc].txt"], "b.txt", True),
    (["[abc].txt"], "d.txt", False),
    (["[^abc].txt"], "d.txt", True),
    (["[^abc].txt"], "a.txt", False),
    (["[a-c]x"], "bx", True),
    (["\\*.txt"], "*.txt", True),
    (["\\*.txt"], "a.txt", False),
    (["a.txt"], "axtxt", False),  # . is literal
    # exceptions re-include under an excluded parent, last match wins
    (["build", "!build/keep.txt"], "build/keep.txt", False),
    (["build", "!build/keep.txt"], "build/other.txt", True),
    (["build", "!build/keep"], "build/keep/deep/file", False),
    (["!a", "a"], "a", True),
    ([" spaced ", "  # not a comment"], "spaced", True),
    (["  # not a comment"], "# not a comment", True),
    # Docker's match kinds: **foo is a plain suffix, foo/** a prefix, exact strings compare whole
    (["**foo"], "a/barfoo", True),
    (["**/foo"], "foo", True),
    (["**/foo"], "a/b/foo", True),
    (["**/foo"], "a/xfoo", False),
    (["a/**/b/*.c"], "a/b/x.c", True),
    (["a/**/b/*.c"], "a/1/2/b/x.c", True),
    (["a/**/b/*.c"], "a/1/2/b/x.d", False),
    (["a+b(c)"], "a+b(c)", True),
    (["a.b"], "a.b", True),
    (["a.b"], "axb", False),
    (["{a,b}"], "a", False),  # no brace expansion
    (["*.{md}"], "x.{md}", True),
    (["[]a]"], "]", True),
    (["[]a]"], "a", True),
    (["[a\\]]x"], "]x", True),
    (["[a-]"], "-", True),
    (["x]"], "x]", True),
    (["^x"], "^x", True),
    (["a^"], "a", False),
]


@pytest.mark.parametrize("patterns,path,want", CASES)
def test_excluded(patterns, path, want):
    assert IgnoreRules.from_lines(patterns).excluded(path) is want


def test_parse_comments_and_blanks():
    r = IgnoreRules.parse("# comment\n\n   \n*.log\n!keep.log\n")
    assert [(p.text, p.exclusion) for p in r.patterns] == [("*.log", False), ("keep.log", True)]
    assert r.has_exceptions


def test_lone_exclusion_is_an_error():
    with pytest.raises(errdefs.InvalidArgument, match="illegal exclusion"):
        IgnoreRules.parse("a\n! \n")


def test_match_path_no_parent_matching():
    assert ignore.match_path("src/*.py", "src/a.py")
    assert not ignore.match_path("src", "src/a.py")
    assert ignore.match_path("src/**", "src/a/b.py")


def test_bad_patterns():
    with pytest.raises(errdefs.InvalidArgument):
        IgnoreRules.parse("[abc\n")
    with pytest.raises(errdefs.InvalidArgument):
        IgnoreRules.parse("abc\\\n")
    for bad in ("[]", "[^]", "[z-a]", "[a\\", "a[b"):
        with pytest.raises(errdefs.InvalidArgument):
            IgnoreRules.parse(bad + "\n")


@pytest.mark.parametrize(
    "patterns,directory,prunable",
    [
        (["build"], "build", True),
        (["build", "!build/keep.txt"], "build", False),
        (["build", "!build/keep.txt"], "other", True),
        (["build", "!other/x"], "build", True),
        (["build", "!**/keep"], "build", False),
        (["build", "!b*/x"], "build", False),
        (["a", "!a/b/c"], "a/x", True),
        (["a", "!a/b/c"], "a/b", False),
        (["a", "!a"], "a", True),  # same depth: the exception would have re-included a itself
        (["!build/keep.txt", "build"], "build", True),  # an earlier exception is overridden below build
        (["build", "!build/keep.txt", "build"], "build", True),
        (["build", "!build/keep.txt", "other"], "build", False),
    ],
)
def test_can_prune(patterns, directory, prunable):
    assert IgnoreRules.from_lines(patterns).can_prune(directory) is prunable


def make_tree(root, files):
    for f in files:
        p = os.path.join(root, f)
        if f.endswith("/"):
            os.makedirs(p, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as fh:
            fh.write(f)


def test_walk(tmp_path, monkeypatch):
    make_tree(tmp_path, ["Dockerfile", ".dockerignore", "src/a.py", "src/a.pyc", "build/x/y.o", "build/keep.txt",
                         "node_modules/m/i.js", "docs/README.md", "docs/x.md", "empty/"])
    os.symlink("src/a.py", tmp_path / "link")
    rules = IgnoreRules.parse("Dockerfile\n.dockerignore\n**/*.pyc\nbuild\n!build/keep.txt\nnode_modules\n"
                              "docs/*.md\n!docs/README.md\n")
    listed = []
    real = os.listdir
    monkeypatch.setattr(ignore.os, "listdir", lambda p: listed.append(os.path.relpath(p, tmp_path)) or real(p))
    got = list(ignore.walk(str(tmp_path), rules))
    assert got == [".dockerignore", "Dockerfile", "build/keep.txt", "docs", "docs/README.md", "empty", "link",
                   "src", "src/a.py"]
    assert "node_modules" not in listed  # pruned: no exception below it
    assert "build" in listed and "build/x" not in listed
    strict = list(ignore.walk(str(tmp_path), rules, always=()))
    assert "Dockerfile" not in strict and ".dockerignore" not in strict


def test_read_rules(tmp_path):
    assert ignore.read_rules(str(tmp_path)).patterns == ()
    (tmp_path / ".dockerignore").write_text("a\n")
    assert [p.text for p in ignore.read_rules(str(tmp_path)).patterns] == ["a"]
    df = tmp_path / "sub" / "app.Dockerfile"
    df.parent.mkdir()
    df.write_text("FROM x\n")
    (tmp_path / "sub" / "app.Dockerfile.dockerignore").write_text("b\n")
    assert [p.text for p in ignore.read_rules(str(tmp_path), str(df)).patterns] == ["b"]


def test_walk_pruning_never_loses_an_included_file(tmp_path):
    """Randomised (fixed seed): the pruned walk equals filtering every path one by one."""
    import random

    rnd = random.Random(1234)
    names = ["a", "b", "keep", "x.txt", "y.md", "build", "node_modules"]
    paths = set()
    for _ in range(60):
        depth = rnd.randint(1, 4)
        paths.add("/".join(rnd.choice(names) for _ in range(depth)))
    files = []
    for p in sorted(paths):
        if any(q.startswith(p + "/") for q in paths):
            continue  # a directory in this tree
        files.append(p)
    make_tree(tmp_path, files)
    every = []
    for root, dirs, fs in os.walk(tmp_path):
        for n in dirs + fs:
            every.append(os.path.relpath(os.path.join(root, n), tmp_path))
    pool = ["a", "b", "build", "**/keep", "!**/keep", "!a/keep", "*/x.txt", "!b/*", "**/*.md", "!**/y.md",
            "node_modules", "!node_modules/keep", "a/**/b", "!a/b/keep/x.txt", "*"]
    for _ in range(200):
        rules = IgnoreRules.from_lines(rnd.sample(pool, rnd.randint(1, 5)))
        want = sorted(p for p in every if not rules.excluded(p))
        got = sorted(ignore.walk(str(tmp_path), rules, always=()))
        assert got == want, [p.text for p in rules.patterns]


def test_walk_always_reaches_into_excluded_dirs(tmp_path):
    make_tree(tmp_path, ["docker/Dockerfile", "docker/other", "src/a"])
    got = list(ignore.walk(str(tmp_path), IgnoreRules.parse("docker\n"), always=("docker/Dockerfile",)))
    assert got == ["docker/Dockerfile", "src", "src/a"]
