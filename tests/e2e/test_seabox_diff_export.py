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
