"""``seabox diff`` and ``seabox export`` on seaboxd, checked against what the container did:
an added tree, a deleted image file (an overlay whiteout) and the directory holding it.  The
real docker CLI reads the same Engine API answers.  seaboxd as in ``test_seabox_cli_seaboxd``."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time

import pytest
from tests.e2e.test_seabox_cli_seaboxd import Env, env  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def test_diff_and_export(env: Env, tmp_path) -> None:  # noqa: F811
    name = env.name("dx")
    env.seabox("run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c",
               "mkdir -p /added/sub && echo data > /added/sub/f && rm /bin/true && touch /ready && sleep 300")
    try:
        deadline = time.monotonic() + 20
        while env.seabox("exec", name, "test", "-f", "/ready", check=False).returncode != 0:
            assert time.monotonic() < deadline, "the container never got ready"
            time.sleep(0.1)
        lines = env.seabox("diff", name).stdout.splitlines()
        for want in ("A /added", "A /added/sub", "A /added/sub/f", "C /bin", "D /bin/true", "A /ready"):
            assert want in lines, (want, lines)
        assert lines == sorted(lines, key=lambda ln: ln[2:])
        if shutil.which("docker"):  # the docker CLI renders the same Engine API answer
            d = subprocess.run(["docker", "-H", f"unix://{env.d.address}", "diff", name], capture_output=True,
                               text=True, timeout=60, env={**os.environ, "DOCKER_CONFIG": str(tmp_path)})
            assert d.returncode == 0 and d.stdout.splitlines() == lines, (d.stdout, d.stderr)

        out = tmp_path / "fs.tar"
        env.seabox("export", "-o", str(out), name)
        with tarfile.open(out) as t:
            names = set(t.getnames())
            assert "added/sub/f" in names and "bin/busybox" in names and "bin/true" not in names
            f = t.extractfile("added/sub/f")
            assert f is not None and f.read() == b"data\n"
        piped = subprocess.run([*env_cli(env), "export", name], capture_output=True, timeout=120)
        assert piped.returncode == 0, piped.stderr
        with tarfile.open(fileobj=io.BytesIO(piped.stdout)) as t:
            assert set(t.getnames()) == names
        r = env.seabox("diff", "sbt-no-such-container", check=False)
        assert r.returncode == 1 and "No such container" in r.stderr
    finally:
        env.seabox("rm", "-f", name, check=False)


def env_cli(e: Env) -> list[str]:
    import sys

    return [sys.executable, "-m", "seabox.cli.seabox", "--address", str(e.d.address)]


def test_commit_runs_with_the_changes(env: Env) -> None:  # noqa: F811
    src, img = env.name("cm"), f"sbt-commit/{env.tag}:v1"
    env.seabox("run", "--name", src, "--network", "none", "busybox", "sh", "-c",
               "echo committed > /greeting && rm /bin/true")
    try:
        image_id = env.seabox("commit", "-m", "from a test", "-a", "seabox tests", "-c", 'CMD ["cat", "/greeting"]',
                              "-c", "ENV FROM_COMMIT=yes", src, img).stdout.strip()
        assert image_id.startswith("sha256:")
        out = env.seabox("run", "--rm", "--network", "none", img).stdout
        assert out == "committed\n"  # the layer and the new CMD
        out = env.seabox("run", "--rm", "--network", "none", img, "sh", "-c",
                         "echo $FROM_COMMIT; test -e /bin/true && echo still-there || echo gone").stdout
        assert out == "yes\ngone\n"
        hist = env.seabox("history", "--no-trunc", "--format", "{{.Comment}}", img).stdout.splitlines()
        assert hist[0] == "from a test"
        assert env.seabox("image", "inspect", "-f", "{{.Id}}", img).stdout.strip() == image_id
        if shutil.which("docker"):  # docker's CLI sends the same request
            d = subprocess.run(["docker", "-H", f"unix://{env.d.address}", "commit", "--change", "CMD [\"echo\", \"via-docker\"]",
                                src, img.replace(":v1", ":docker")], capture_output=True, text=True, timeout=120,
                               env={**os.environ, "DOCKER_CONFIG": str(env.work / "dcfg")})
            assert d.returncode == 0 and d.stdout.startswith("sha256:"), d.stderr
            assert env.seabox("run", "--rm", "--network", "none", img.replace(":v1", ":docker")).stdout == "via-docker\n"
            env.seabox("rmi", img.replace(":v1", ":docker"))
        bad = env.seabox("commit", "-c", "RUN echo no", src, img, check=False)
        assert bad.returncode == 1 and "RUN is not an instruction a commit can apply" in bad.stderr
    finally:
        env.seabox("rm", "-f", src, check=False)
        env.seabox("rmi", "-f", img, check=False)


def test_export_then_import_round_trip(env: Env, tmp_path) -> None:  # noqa: F811
    src, img = env.name("ex"), f"sbt-import/{env.tag}:flat"
    env.seabox("run", "--name", src, "--network", "none", "busybox", "sh", "-c", "echo flat > /marker")
    try:
        fs = tmp_path / "fs.tar"
        env.seabox("export", "-o", str(fs), src)
        image_id = env.seabox("import", "-m", "flattened", "-c", 'CMD ["cat", "/marker"]', str(fs), img).stdout
        assert image_id.strip().startswith("sha256:")
        assert env.seabox("run", "--rm", "--network", "none", img).stdout == "flat\n"
        assert env.seabox("history", "--format", "{{.Comment}}", img).stdout.splitlines() == ["flattened"]
        with open(fs, "rb") as f:  # from stdin, gzip-compressed
            import gzip

            gz = gzip.compress(f.read())
        r = subprocess.run([*env_cli(env), "import", "-", img + "2"], input=gz, capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        bad = tmp_path / "bad.tar"
        bad.write_bytes(b"not a tarball at all" * 100)
        r2 = env.seabox("import", str(bad), img + "3", check=False)
        assert r2.returncode == 1 and "not a tar archive" in r2.stderr and r2.stderr.count("\n") == 1
    finally:
        env.seabox("rm", "-f", src, check=False)
        env.seabox("rmi", "-f", img, img + "2", check=False)
