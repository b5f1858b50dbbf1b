"""seabox build end to end against a real seabox-buildd (temp root/state/socket) and the fixture registry.

Every build goes through the CLI (``python -m seabox.cli.seabox_build``) with
``--progress rawjson``, so assertions about caching read the build's own report:
one JSON event per step with its CACHED flag.  Outputs are checked through
``--output type=local`` (the final rootfs) and ``type=oci`` (the archive).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.buildd.testing import RunningBuildd, buildd

pytestmark = [pytest.mark.e2e, pytest.mark.root]

DATA = Path(__file__).resolve().parents[1] / "data" / "build"


@pytest.fixture(scope="module")
def bd() -> Iterator[RunningBuildd]:
    base = Path(tempfile.mkdtemp(prefix="sbt-bd-", dir="/tmp"))
    mirror = base / "certs.d" / "docker.io"
    mirror.mkdir(parents=True)
    (mirror / "hosts.toml").write_text(
        'server = "https://registry-1.docker.io"\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n'
    )
    with buildd(base / "d", hosts_dir=str(base / "certs.d")) as d:
        yield d
    shutil.rmtree(base, ignore_errors=True)


def build(bd: RunningBuildd, context: Path, *args: str) -> tuple[int, list[dict], str]:
    p = subprocess.run([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", bd.address,
                        "--progress", "rawjson", *args, str(context)], capture_output=True, text=True, timeout=600)
    events = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return p.returncode, events, p.stderr


def steps(events: list[dict]) -> dict[str, bool]:
    """Final status of each step: name → cached."""
    out = {}
    for e in events:
        if e.get("type") == "step" and e.get("status") == "done" and "FROM" not in e["name"].split("] ")[-1][:4] \
                and not e["name"].startswith("[internal]"):
            out[e["name"]] = bool(e.get("cached"))
    return out


def copy_project(name: str, tmp: Path) -> Path:
    dest = tmp / name
    shutil.copytree(DATA / name, dest)
    return dest


def test_multistage_build_rebuild_cached_and_one_file_change(bd, tmp_path):
    ctx = copy_project("multistage", tmp_path)
    out1 = tmp_path / "out1"
    rc, first_ev, err = build(bd, ctx, "--output", f"type=local,dest={out1}")
    assert rc == 0, err
    first = steps(first_ev)
    assert first and not any(first.values()), first
    assert (out1 / "app/product.txt").read_text() == "alpha\nbeta\nbuilt by 0\n"
    assert (out1 / "app/greeting").read_text() == "hello\n"
    # .dockerignore: excluded from COPY . (and from the context)
    assert (out1 / "ctx/Dockerfile").exists()
    assert not (out1 / "ctx/secret.env").exists()

    rc, ev, err = build(bd, ctx)
    assert rc == 0, err
    second = steps(ev)
    assert second.keys() == first.keys()
    assert all(second.values()), second  # unchanged rebuild: every step CACHED
    digests = [next(e["digest"] for e in evs if e["type"] == "result") for evs in (first_ev, ev)]
    assert digests[0] == digests[1]  # and the very same image (timestamps come from the cache)

    (ctx / "src" / "b.txt").write_text("gamma\n")
    out3 = tmp_path / "out3"
    rc, ev, err = build(bd, ctx, "--output", f"type=local,dest={out3}")
    assert rc == 0, err
    third = steps(ev)
    names = list(third)
    copy_src = next(n for n in names if "COPY src/" in n)
    # builder: WORKDIR cached, COPY src/ and the RUN after it rebuilt
    assert third[next(n for n in names if "WORKDIR /work" in n)] is True
    assert third[copy_src] is False
    assert third[next(n for n in names if "RUN cat src/a.txt" in n)] is False
    # final: COPY --from the rebuilt builder and everything after it rebuilt
    assert third[next(n for n in names if "COPY --from=builder" in n)] is False
    assert (out3 / "app/product.txt").read_text() == "alpha\ngamma\nbuilt by 0\n"

    # changing an ignored file changes nothing
    (ctx / "secret.env").write_text("changed\n")
    rc, ev, err = build(bd, ctx)
    assert rc == 0, err
    assert all(steps(ev).values())


def test_image_config_and_oci_output(bd, tmp_path):
    ctx = copy_project("multistage", tmp_path)
    oci_tar = tmp_path / "img.tar"
    rc, ev, err = build(bd, ctx, "-t", "sbt-example/multi:1", "--label", "extra=yes",
                        "--output", f"type=oci,dest={oci_tar}")
    assert rc == 0, err
    result = next(e for e in ev if e["type"] == "result")
    with tarfile.open(oci_tar) as tf:
        index = json.load(tf.extractfile("index.json"))
        man_digest = index["manifests"][0]["digest"]
        man = json.load(tf.extractfile("blobs/sha256/" + man_digest.split(":")[1]))
        cfg = json.load(tf.extractfile("blobs/sha256/" + man["config"]["digest"].split(":")[1]))
    assert man_digest == result["digest"]
    c = cfg["config"]
    assert c["Cmd"] == ["cat", "/app/product.txt"]
    assert c["User"] == "65534"
    assert c["WorkingDir"] == "/app"
    assert "GREETING=hello" in c["Env"]
    assert c["Labels"] == {"org.example.test": "multistage", "extra": "yes"}
    assert len(cfg["rootfs"]["diff_ids"]) == len(man["layers"])
    assert sum(1 for h in cfg["history"] if not h.get("empty_layer")) == len(man["layers"])
    assert any(h["created_by"] == "COPY /product.txt /app/product.txt # buildkit" for h in cfg["history"])


def test_target_builds_only_the_needed_stage(bd, tmp_path):
    ctx = copy_project("multistage", tmp_path)
    out = tmp_path / "out"
    rc, ev, err = build(bd, ctx, "--target", "builder", "--output", f"type=local,dest={out}")
    assert rc == 0, err
    assert (out / "product.txt").exists()
    assert not (out / "app").exists()
    assert all(e["name"].startswith(("[builder", "[internal]")) for e in ev if e["type"] == "step")


def test_cache_mount_persists_between_builds(bd, tmp_path):
    ctx = copy_project("cachemount", tmp_path)
    tag = secrets.token_hex(4)
    counts = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        rc, _ev, err = build(bd, ctx, "--build-arg", f"BUST={tag}-{n}", "--output", f"type=local,dest={out}")
        assert rc == 0, err
        counts.append(int((out / "runs-seen").read_text()))
        assert not (out / "var/cache/counter/runs").exists()  # the cache dir is not in the image
    assert counts[1] == counts[0] + 1


def test_bad_dockerfiles_give_file_line_errors(bd, tmp_path):
    cases = json.loads((DATA / "bad" / "cases.json").read_text())
    for name, line in cases.items():
        ctx = tmp_path / name
        ctx.mkdir()
        shutil.copy(DATA / "bad" / name, ctx / name)
        rc, _ev, err = build(bd, ctx, "-f", str(ctx / name))
        assert rc != 0, name
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1, (name, err)
        assert f"{name}:{line}:" in lines[0], (name, lines[0])
        assert "Traceback" not in err


def test_failed_run_reports_process_and_exit_code(bd, tmp_path):
    ctx = tmp_path / "fail"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM 127.0.0.1:5000/library/busybox:latest\nRUN echo before\nRUN exit 3\n")
    rc, ev, err = build(bd, ctx)
    assert rc != 0
    assert 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3' in err
    errored = [e for e in ev if e["type"] == "step" and e.get("status") == "error"]
    assert errored and "RUN exit 3" in errored[0]["name"]


def test_copy_add_features(bd, tmp_path, monkeypatch):
    ctx = tmp_path / "feat"
    (ctx / "dir" / "sub").mkdir(parents=True)
    (ctx / "dir" / "sub" / "x.txt").write_text("x")
    (ctx / "one.conf").write_text("1")
    (ctx / "two.conf").write_text("2")
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "inside.txt").write_text("from tar")
    with tarfile.open(ctx / "p.tar.gz", "w:gz") as tf:
        tf.add(payload / "inside.txt", arcname="pkg/inside.txt")
    (ctx / "secret.txt").write_text("s3cr3t")
    (ctx / "Dockerfile").write_text(
        "FROM 127.0.0.1:5000/library/busybox:latest\n"
        "COPY *.conf /etc/app/\n"
        "COPY --exclude=two.conf . /filtered/\n"
        "COPY --parents dir/sub/x.txt one.conf /kept/\n"
        "COPY --chown=nobody:nogroup --chmod=640 dir /opt/dir\n"
        "ADD p.tar.gz /opt/\n"
        "COPY <<EOF /hello.txt\nhello heredoc\nEOF\n"
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /secret-copy\n"
        "RUN --mount=type=secret,id=envtok,target=/tmp/t cat /tmp/t > /secret-env\n"
        "RUN --mount=type=bind,source=dir,target=/mnt/dir cp /mnt/dir/sub/x.txt /from-bind\n"
        "RUN <<EOF\necho one > /heredoc-run\necho two >> /heredoc-run\nEOF\n"
    )
    out = tmp_path / "out"
    monkeypatch.setenv("SBT_BUILD_SECRET", "from-env")
    rc, _ev, err = build(bd, ctx, "--secret", f"id=tok,src={ctx / 'secret.txt'}",
                        "--secret", "id=envtok,env=SBT_BUILD_SECRET", "--output", f"type=local,dest={out}")
    assert rc == 0, err
    assert (out / "etc/app/one.conf").read_text() == "1" and (out / "etc/app/two.conf").read_text() == "2"
    assert (out / "filtered/one.conf").exists() and not (out / "filtered/two.conf").exists()
    assert (out / "kept/dir/sub/x.txt").read_text() == "x" and (out / "kept/one.conf").read_text() == "1"
    st = os.stat(out / "opt/dir/sub/x.txt")
    assert (st.st_uid, st.st_mode & 0o777) == (65534, 0o640)
    assert (out / "opt/pkg/inside.txt").read_text() == "from tar"
    assert (out / "hello.txt").read_text() == "hello heredoc\n"
    assert (out / "secret-copy").read_text() == "s3cr3t"
    assert (out / "secret-env").read_text() == "from-env"
    assert not (out / "run/secrets/tok").exists()
    assert (out / "from-bind").read_text() == "x"
    assert (out / "heredoc-run").read_text() == "one\ntwo\n"


def test_buildctl_build_du_prune(bd, tmp_path):
    ctx = copy_project("multistage", tmp_path)
    out = tmp_path / "out"
    py = [sys.executable, "-m", "seabox.cli.buildctl", "--addr", bd.address]
    p = subprocess.run([*py, "build", "--frontend", "dockerfile.v0", "--local", f"context={ctx}",
                        "--local", f"dockerfile={ctx}", "--opt", "target=builder",
                        "--output", f"type=local,dest={out}", "--progress", "plain"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert (out / "product.txt").exists()
    p = subprocess.run([*py, "du"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Total:" in p.stdout
    from seabox.buildd.client import Client

    total = sum(r["size"] for r in Client(bd.address).du())
    assert total > 0
    keep = total // 2
    p = subprocess.run([*py, "prune", "--keep-storage", str(keep)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    left = sum(r["size"] for r in Client(bd.address).du())
    assert 0 < left <= keep or left == 0
    p = subprocess.run([*py, "prune", "--keep-storage", "0"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert sum(r["size"] for r in Client(bd.address).du()) == 0


def test_not_running_is_one_line(tmp_path):
    addr = f"unix://{tmp_path}/nobody.sock"
    p = subprocess.run([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", addr, str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert p.stderr.strip().splitlines() == [
        f"ERROR: seabox-buildd is not running at {addr}: start it with `seabox-buildd` "
        "(or `systemctl start seabox-buildd`)"]


def test_add_fetches_http_url(bd, tmp_path):
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "payload.txt").write_text("over http\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        url = f"http://127.0.0.1:{srv.server_address[1]}/payload.txt"
        (ctx / "Dockerfile").write_text(f"FROM 127.0.0.1:5000/library/busybox:latest\nADD {url} /dl/\n"
                                        f"RUN wget -q -O /via-run {url}\n")  # RUN shares the host network
        out = tmp_path / "out"
        rc, _, err = build(bd, ctx, "--output", f"type=local,dest={out}")
        assert rc == 0, err
        assert (out / "dl/payload.txt").read_text() == "over http\n"
        assert (out / "dl/payload.txt").stat().st_mode & 0o777 == 0o600
        assert (out / "via-run").read_text() == "over http\n"
        import hashlib

        good = "sha256:" + hashlib.sha256(b"over http\n").hexdigest()
        (ctx / "Dockerfile").write_text(f"FROM 127.0.0.1:5000/library/busybox:latest\n"
                                        f"ADD --checksum={good} {url} /ok.txt\n")
        rc, _, err = build(bd, ctx)
        assert rc == 0, err
        (ctx / "Dockerfile").write_text(f"FROM 127.0.0.1:5000/library/busybox:latest\n"
                                        f"ADD --checksum=sha256:{'0' * 64} {url} /bad.txt\n")
        rc, _, err = build(bd, ctx)
        assert rc != 0 and "checksum mismatch" in err
    finally:
        srv.shutdown()
        srv.server_close()


def test_streamed_context_honours_dockerignore(bd, tmp_path):
    """--send-context: the client tars only what .dockerignore lets through; the daemon builds from that."""
    ctx = copy_project("multistage", tmp_path)
    (ctx / "scratch.tmp").write_text("ignored by *.tmp")
    out = tmp_path / "out"
    rc, _, err = build(bd, ctx, "--send-context", "--target", "", "--output", f"type=local,dest={out}")
    assert rc == 0, err
    assert (out / "ctx/src/a.txt").read_text() == "alpha\n"
    assert not (out / "ctx/secret.env").exists()
    assert not (out / "ctx/scratch.tmp").exists()


def test_from_scratch_and_from_stage(bd, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f.txt").write_text("f")
    (ctx / "Dockerfile").write_text(
        "FROM scratch AS files\nCOPY f.txt /data/f.txt\n"
        "FROM 127.0.0.1:5000/library/busybox:latest AS base\nENV FROM_BASE=1\nRUN echo base > /base.txt\n"
        "FROM base\nCOPY --from=files /data /data\nRUN test \"$FROM_BASE\" = 1 && cat /base.txt /data/f.txt > /all\n")
    out = tmp_path / "out"
    rc, _, err = build(bd, ctx, "--output", f"type=local,dest={out}")
    assert rc == 0, err
    assert (out / "all").read_text() == "base\nf"
    out2 = tmp_path / "out2"
    rc, _, err = build(bd, ctx, "--target", "files", "--output", f"type=local,dest={out2}")
    assert rc == 0, err
    assert sorted(os.listdir(out2)) == ["data"]


def test_run_network_none_has_only_loopback(bd, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM 127.0.0.1:5000/library/busybox:latest\n"
        "RUN --network=none ls /sys/class/net > /ifaces-none\n"
        "RUN ls /sys/class/net > /ifaces-default\n")
    out = tmp_path / "out"
    rc, _, err = build(bd, ctx, "--output", f"type=local,dest={out}")
    assert rc == 0, err
    assert (out / "ifaces-none").read_text().split() == ["lo"]
    assert sorted((out / "ifaces-default").read_text().split()) == sorted(os.listdir("/sys/class/net"))


def test_seabox_cli_dispatches_build(bd, tmp_path):
    ctx = copy_project("multistage", tmp_path)
    p = subprocess.run([sys.executable, "-m", "seabox.cli.seabox", "build", "--addr", bd.address, "-q",
                        "--target", "builder", str(ctx)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("sha256:")


def test_concurrent_builds(bd, tmp_path):
    """Two builds at once on one daemon (each with its own context) both succeed."""
    from concurrent.futures import ThreadPoolExecutor

    ctxs = [copy_project("multistage", tmp_path / str(n)) for n in (1, 2)]
    (ctxs[1] / "src" / "a.txt").write_text("other\n")
    outs = [tmp_path / f"out{n}" for n in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        futs = [pool.submit(build, bd, c, "--no-cache", "--output", f"type=local,dest={o}") for c, o in zip(ctxs, outs, strict=True)]
        results = [f.result() for f in futs]
    for rc, _, err in results:
        assert rc == 0, err
    assert (outs[0] / "app/product.txt").read_text().startswith("alpha\n")
    assert (outs[1] / "app/product.txt").read_text().startswith("other\n")


def test_client_going_away_cancels_the_running_step(bd, tmp_path):
    import signal
    import time

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    marker = secrets.token_hex(6)
    (ctx / "Dockerfile").write_text(
        f"FROM 127.0.0.1:5000/library/busybox:latest\nRUN echo started-{marker} && sleep 300\n")
    p = subprocess.Popen([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", bd.address, "--progress",
                          "plain", str(ctx)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.stdout is not None
    for line in p.stdout:
        if line.split()[-1:] == [f"started-{marker}"]:
            break
    runc_state = bd.state / "runc"
    pids = []
    for d in runc_state.iterdir():
        with contextlib.suppress(OSError, ValueError):
            pids.append(json.loads((d / "state.json").read_text())["pid"])

    def sleeper_running() -> bool:
        """The step's container init (from seabox-runc's state) is alive."""
        return any(os.path.exists(f"/proc/{pid}") for pid in pids)

    assert sleeper_running()
    p.send_signal(signal.SIGINT)
    p.wait(30)
    def state_left() -> bool:
        return runc_state.exists() and bool(os.listdir(runc_state))

    # The init dies first; seabox-runc `run` (or buildd's fallback delete) removes the state a moment later.
    deadline = time.monotonic() + 30
    while (sleeper_running() or state_left()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sleeper_running()
    assert not state_left()
    from seabox.buildd.client import Client

    assert Client(bd.address).ping()


def test_daemon_stop_kills_running_build_containers(tmp_path):
    import signal
    import time

    base = Path(tempfile.mkdtemp(prefix="sbt-bdstop-", dir="/tmp"))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    marker = secrets.token_hex(6)
    (ctx / "Dockerfile").write_text(
        f"FROM 127.0.0.1:5000/library/busybox:latest\nRUN echo started-{marker} && sleep 300\n")
    pids: list[int] = []
    cids: list[str] = []
    try:
        with buildd(base / "d") as d:
            p = subprocess.Popen([sys.executable, "-m", "seabox.cli.seabox_build", "--addr", d.address, "--progress",
                                  "plain", str(ctx)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert p.stdout is not None
            for line in p.stdout:
                if line.split()[-1:] == [f"started-{marker}"]:
                    break
            for sd in (d.state / "runc").iterdir():
                cids.append(sd.name)
                pids.append(json.loads((sd / "state.json").read_text())["pid"])
            assert pids and all(os.path.exists(f"/proc/{x}") for x in pids)
            d.proc.send_signal(signal.SIGTERM)
            d.proc.wait(60)
            p.wait(60)
            assert p.returncode != 0
        deadline = time.monotonic() + 30
        while any(os.path.exists(f"/proc/{x}") for x in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(os.path.exists(f"/proc/{x}") for x in pids)
        leftovers = [c for c in cids for root, dirs, _ in os.walk("/sys/fs/cgroup") if c in dirs]
        assert not leftovers
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_from_a_docker_hub_name_through_the_mirror(bd, tmp_path):
    """`FROM busybox` means docker.io/library/busybox:latest, served here by the hosts.toml mirror."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN cat /etc/seabox-fixture > /which\n")
    out = tmp_path / "out"
    rc, _, err = build(bd, ctx, "--output", f"type=local,dest={out}")
    assert rc == 0, err
    assert "busybox" in (out / "which").read_text()
