"""The Engine API end to end: a real seaboxd, HTTP over its unix socket, real containers.

One daemon per module (the busybox pull is paid once) with its own root/state/socket, its own
CNI conf dir, bridge names (``sbt-<hex>``), admin chain and subnet, and a docker.io mirror
``hosts.toml`` pointing at the fixture registry (docker.io/library/busybox → 127.0.0.1:5000).
Teardown removes every container through the API, then purges shims, networks, bridges,
iptables chains and mounts, and checks nothing of the test's names is left.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seabox.daemon.testing import RunningDaemon
from seabox.engine import stdcopy
from seabox.engine.testing import APIError, EngineClient, PrivateEngine, private_engine, read_all
from seabox.network import iptables as ipt
from seabox.network import subnets

pytestmark = [pytest.mark.e2e, pytest.mark.root]

CNI_BIN = "/usr/lib/cni"
BUSYBOX = "busybox:latest"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _test_subnet() -> str:
    start = ipaddress.IPv4Network(f"10.{200 + secrets.randbelow(40)}.{secrets.randbelow(200)}.0/24")
    return str(subnets.pick_subnet(subnets.host_routes(), subnets.candidates(start)))


def _chains() -> dict[str, set[str]]:
    return {t: ipt.chains(t) for t in ("filter", "nat")}


@dataclass
class Env:
    d: RunningDaemon
    work: Path
    tag: str
    api: EngineClient
    admin_chain: str
    config: Path

    def name(self, what: str) -> str:
        return f"{self.tag}-{what}"

    def create(self, name: str, **body: object) -> str:
        body.setdefault("Image", BUSYBOX)
        out = self.api.json("POST", "/containers/create", body, {"name": self.name(name)})
        return str(out["Id"])

    def run(self, name: str, **body: object) -> str:
        cid = self.create(name, **body)
        self.api.json("POST", f"/containers/{cid}/start")
        return cid


def _pull(api: EngineClient, ref: str) -> list[dict]:
    lines = []
    buf = b""
    for chunk in api.stream("POST", "/images/create", {"fromImage": ref}):
        buf += chunk
        *done, buf = buf.split(b"\r\n")
        lines.extend(json.loads(x) for x in done if x.strip())
    if buf.strip():
        lines.append(json.loads(buf))
    return lines


@pytest.fixture(scope="module")
def env(fixtures_info: dict) -> Iterator[Env]:
    # the shim's sockets live at <state>/shims/<ns>/<64-hex id>/console-1.sock (107-byte limit): a state
    # dir as short as /run/seabox
    state = Path(f"/run/sbt{secrets.token_hex(2)}")
    while state.exists():
        state = Path(f"/run/sbt{secrets.token_hex(2)}")
    api: list[EngineClient] = []

    def remove_all(p: PrivateEngine) -> None:
        for c in api[0].json("GET", "/containers/json", query={"all": True}):
            with contextlib.suppress(Exception):
                api[0].json("DELETE", f"/containers/{c['Id']}", query={"force": True, "v": True})
        for n in api[0].json("GET", "/networks"):
            with contextlib.suppress(Exception):
                api[0].json("DELETE", f"/networks/{n['Name']}")

    with private_engine(fixtures_info["registries"]["open"]["host"], state, _test_subnet(), CNI_BIN,
                        before_stop=remove_all) as p:
        api.append(EngineClient(str(p.d.address)))
        lines = _pull(api[0], BUSYBOX)
        assert not [x for x in lines if "error" in x], lines
        yield Env(p.d, p.work, p.tag, api[0], p.admin_chain, p.config)
    api[0].close()
    assert str(p.work) not in Path("/proc/self/mountinfo").read_text()


# -- system -----------------------------------------------------------------------------------


def test_engine_ping_version_info(env: Env) -> None:
    status, headers, body = env.api.raw("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers.get("Api-Version") == "1.41"
    v = env.api.json("GET", "/version")
    assert v["ApiVersion"] == "1.41" and v["Os"] == "linux"
    info = env.api.json("GET", "/info")
    assert info["Driver"] == "overlayfs" and "Containers" in info


def test_engine_grpc_through_mux_with_real_ctr(env: Env) -> None:
    out = subprocess.run(["ctr", "--address", str(env.d.address), "version"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Server:" in out.stdout and "UUID" in out.stdout
    # a docker create is a containerd container record (with its snapshot) that ctr sees
    cid = env.create("ctrsees", Cmd=["true"])
    try:
        out = subprocess.run(["ctr", "--address", str(env.d.address), "-n", "default", "containers", "ls", "-q"],
                             capture_output=True, text=True, timeout=60)
        assert cid in out.stdout.split(), out
        out = subprocess.run(["ctr", "--address", str(env.d.address), "-n", "default", "snapshots", "ls"],
                             capture_output=True, text=True, timeout=60)
        assert cid in out.stdout
    finally:
        env.api.json("DELETE", f"/containers/{cid}")


def test_engine_unknown_path_is_404_json(env: Env) -> None:
    with pytest.raises(APIError) as ei:
        env.api.json("GET", "/nope")
    assert ei.value.status == 404


# -- images -----------------------------------------------------------------------------------


def test_engine_pull_progress_and_image_list(env: Env) -> None:
    lines = _pull(env.api, BUSYBOX)
    assert any(str(x.get("status", "")).startswith("Digest: sha256:") for x in lines), lines
    assert any("Status:" in str(x.get("status", "")) for x in lines)
    imgs = env.api.json("GET", "/images/json")
    assert any("busybox:latest" in i["RepoTags"] for i in imgs), imgs
    ins = env.api.json("GET", "/images/busybox:latest/json")
    assert ins["Id"].startswith("sha256:") and ins["Config"]["Cmd"]


def test_engine_pull_missing_image_reports_error_line(env: Env) -> None:
    lines = _pull(env.api, f"{env.tag}/does-not-exist:1")
    assert lines and "error" in lines[-1]


# -- containers -------------------------------------------------------------------------------


def test_engine_create_start_wait_logs_echo(env: Env) -> None:
    cid = env.create("echo", Cmd=["sh", "-c", "echo hi; echo err >&2; exit 3"], HostConfig={"NetworkMode": "none"})
    env.api.json("POST", f"/containers/{cid}/start")
    w = env.api.json("POST", f"/containers/{cid}/wait")
    assert w["StatusCode"] == 3
    out, err = env.api.logs(cid)
    assert out == b"hi\n" and err == b"err\n"
    ins = env.api.json("GET", f"/containers/{cid}/json")
    assert ins["State"]["Status"] == "exited" and ins["State"]["ExitCode"] == 3
    assert ins["Name"] == "/" + env.name("echo")
    assert ins["LogPath"].endswith(f"/containers/{cid}/{cid}-json.log")
    env.api.json("DELETE", f"/containers/{cid}")
    with pytest.raises(APIError) as ei:
        env.api.json("GET", f"/containers/{cid}/json")
    assert ei.value.status == 404


def test_engine_name_conflict(env: Env) -> None:
    cid = env.create("dup", Cmd=["true"])
    try:
        with pytest.raises(APIError) as ei:
            env.create("dup", Cmd=["true"])
        assert ei.value.status == 409
        assert f'Conflict. The container name "/{env.name("dup")}" is already in use' in ei.value.message
    finally:
        env.api.json("DELETE", f"/containers/{cid}")


def test_engine_list_filters(env: Env) -> None:
    a = env.run("lsa", Cmd=["sleep", "60"], Labels={"sbt": "a"}, HostConfig={"NetworkMode": "none"})
    b = env.create("lsb", Cmd=["true"], Labels={"sbt": "b"})
    try:
        running = [c["Id"] for c in env.api.json("GET", "/containers/json")]
        assert a in running and b not in running
        every = [c["Id"] for c in env.api.json("GET", "/containers/json", query={"all": True})]
        assert a in every and b in every
        f = json.dumps({"label": ["sbt=b"]})
        assert [c["Id"] for c in env.api.json("GET", "/containers/json", query={"all": True, "filters": f})] == [b]
        f = json.dumps({"name": [env.name("lsa")]})
        got = env.api.json("GET", "/containers/json", query={"filters": f})
        assert [c["Id"] for c in got] == [a] and got[0]["State"] == "running"
        assert got[0]["Status"].startswith("Up")
        with pytest.raises(APIError) as ei:  # an unknown filter is refused, even when nothing matches
            f = json.dumps({"name": ["sbt-no-such-name"], "bogus": ["1"]})
            env.api.json("GET", "/containers/json", query={"all": True, "filters": f})
        assert ei.value.status == 400 and "invalid filter 'bogus'" in str(ei.value)
    finally:
        env.api.json("DELETE", f"/containers/{a}", query={"force": True})
        env.api.json("DELETE", f"/containers/{b}")


def test_engine_stop_kill_and_rm_running_refused(env: Env) -> None:
    cid = env.run("stop", Cmd=["sleep", "600"], HostConfig={"NetworkMode": "none"})
    try:
        with pytest.raises(APIError) as ei:
            env.api.json("DELETE", f"/containers/{cid}")
        assert ei.value.status == 409
        env.api.json("POST", f"/containers/{cid}/stop", query={"t": 1})
        ins = env.api.json("GET", f"/containers/{cid}/json")
        assert ins["State"]["Running"] is False
        assert ins["State"]["ExitCode"] in (137, 143)
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


@pytest.mark.parametrize("security", [
    ["seccomp=unconfined"],
    [],  # the default seccomp profile
])
def test_engine_exec_output_and_exit_code(env: Env, security: list[str]) -> None:
    cid = env.run("exec" + str(len(security)), Cmd=["sleep", "600"],
                  HostConfig={"NetworkMode": "none", "SecurityOpt": security})
    try:
        eid = env.api.json("POST", f"/containers/{cid}/exec",
                           {"Cmd": ["sh", "-c", "echo out; echo bad >&2; exit 5"], "AttachStdout": True,
                            "AttachStderr": True})["Id"]
        s = env.api.hijack("POST", f"/exec/{eid}/start", {"Detach": False, "Tty": False})
        data = read_all(s)
        s.close()
        frames, rest = stdcopy.deframe(data)
        assert rest == b""
        assert b"".join(d for k, d in frames if k == 1) == b"out\n"
        assert b"".join(d for k, d in frames if k == 2) == b"bad\n"
        deadline = time.monotonic() + 10
        while env.api.json("GET", f"/exec/{eid}/json")["Running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert env.api.json("GET", f"/exec/{eid}/json")["ExitCode"] == 5
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_published_port_reaches_httpd_and_closes_after_rm(env: Env) -> None:
    port = _free_port()
    cid = env.run("web", Cmd=["sh", "-c", "mkdir -p /www && echo sbt-page > /www/index.html && "
                                          "exec httpd -f -p 80 -h /www"],
                  ExposedPorts={"80/tcp": {}},
                  HostConfig={"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}})
    try:
        ins = env.api.json("GET", f"/containers/{cid}/json")
        assert ins["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        assert ins["NetworkSettings"]["IPAddress"]
        body = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b"sbt-page\n"
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()


def test_engine_user_network_reach_by_name(env: Env) -> None:
    net = env.name("net")
    env.api.json("POST", "/networks/create", {"Name": net})
    a = b = ""
    try:
        a = env.run("srv", Cmd=["sleep", "600"], HostConfig={"NetworkMode": net})
        b = env.create("cli", Cmd=["ping", "-c", "1", "-W", "5", env.name("srv")], HostConfig={"NetworkMode": net})
        env.api.json("POST", f"/containers/{b}/start")
        w = env.api.json("POST", f"/containers/{b}/wait")
        out, err = env.api.logs(b)
        assert w["StatusCode"] == 0, (out, err)
        assert b"1 packets received" in out
        ins = env.api.json("GET", f"/networks/{net}")
        assert a in ins["Containers"]
    finally:
        for cid in (a, b):
            if cid:
                env.api.json("DELETE", f"/containers/{cid}", query={"force": True})
        env.api.json("DELETE", f"/networks/{net}")


def test_engine_named_volume_filled_from_image_and_rm_refused_in_use(env: Env) -> None:
    vol = env.name("vol")
    cid = env.create("vol", Cmd=["sh", "-c", "ls /etc/vol-test-probe 2>/dev/null; cat /data/passwd | head -1"],
                     HostConfig={"Binds": [f"{vol}:/data"], "NetworkMode": "none"})
    try:
        # the image's /etc goes into the volume when it is mounted at /etc-like paths: use /etc itself
        env.api.json("DELETE", f"/containers/{cid}")
        cid = env.create("vol2", Cmd=["sh", "-c", "head -1 /etc/passwd; touch /etc/sbt-marker"],
                         HostConfig={"Binds": [f"{vol}:/etc"], "NetworkMode": "none"})
        env.api.json("POST", f"/containers/{cid}/start")
        assert env.api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
        out, _ = env.api.logs(cid)
        assert out.startswith(b"root:"), out
        v = env.api.json("GET", f"/volumes/{vol}")
        assert os.path.exists(os.path.join(v["Mountpoint"], "sbt-marker"))
        assert os.path.exists(os.path.join(v["Mountpoint"], "passwd"))
        with pytest.raises(APIError) as ei:
            env.api.json("DELETE", f"/volumes/{vol}")
        assert ei.value.status == 409
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})
    env.api.json("DELETE", f"/volumes/{vol}")


def _wait_for(pred: object, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_engine_restart_always_comes_back_survives_daemon_restart_and_stop_sticks(env: Env) -> None:
    cid = env.run("always", Cmd=["sleep", "600"], HostConfig={"RestartPolicy": {"Name": "always"},
                                                              "NetworkMode": "none"})
    try:
        pid1 = env.api.json("GET", f"/containers/{cid}/json")["State"]["Pid"]
        os.kill(pid1, signal.SIGKILL)  # from outside

        def back() -> bool:
            st = env.api.json("GET", f"/containers/{cid}/json")["State"]
            return bool(st["Running"] and st["Pid"] not in (0, pid1))

        assert _wait_for(back)
        assert env.api.json("GET", f"/containers/{cid}/json")["RestartCount"] >= 1
        # seaboxd restart: kill it hard, start it again on the same root/state
        env.d.proc.send_signal(signal.SIGKILL)
        env.d.proc.wait(20)
        _restart_daemon(env)
        assert _wait_for(lambda: env.api.json("GET", f"/containers/{cid}/json")["State"]["Running"])
        env.api.json("POST", f"/containers/{cid}/stop", query={"t": 1})
        time.sleep(1.0)
        st = env.api.json("GET", f"/containers/{cid}/json")["State"]
        assert st["Running"] is False and not st["Restarting"]
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def _restart_daemon(env: Env) -> None:
    """Start a second seaboxd process on the module daemon's root/state/socket."""
    d = env.d
    logf = open(d.log, "ab")  # noqa: SIM115
    import sys

    d.proc = subprocess.Popen(
        [sys.executable, "-m", "seabox.cli.seaboxd", "--root", str(d.root), "--state", str(d.state),
         "--address", str(d.address), "--config", os.devnull], stdout=logf, stderr=subprocess.STDOUT)
    env.api.close()
    assert _wait_for(lambda: _pings(env.api), 30), d.log_text()[-3000:]


def _pings(api: EngineClient) -> bool:
    try:
        return api.raw("GET", "/_ping")[0] == 200
    except OSError:
        api.close()
        return False


def test_engine_archive_put_then_get(env: Env) -> None:
    import io
    import tarfile

    cid = env.run("cp", Cmd=["sleep", "600"], HostConfig={"NetworkMode": "none"})
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = b"sbt-content\n"
            ti = tarfile.TarInfo("hello.txt")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        status, _, body = env.api.raw("PUT", f"/containers/{cid}/archive", buf.getvalue(), {"path": "/tmp"},
                                      {"Content-Type": "application/x-tar"})
        assert status == 200, body
        status, headers, body = env.api.raw("GET", f"/containers/{cid}/archive", query={"path": "/tmp/hello.txt"})
        assert status == 200
        with tarfile.open(fileobj=io.BytesIO(body)) as t:
            f = t.extractfile("hello.txt")
            assert f is not None and f.read() == b"sbt-content\n"
        assert "X-Docker-Container-Path-Stat" in headers
        # ".." above the root stays at the container's root: this is the image's passwd, not the host's
        status, _, body = env.api.raw("GET", f"/containers/{cid}/archive", query={"path": "/../../../etc/passwd"})
        assert status == 200
        with tarfile.open(fileobj=io.BytesIO(body)) as t:
            f = t.extractfile("passwd")
            assert f is not None
            assert f.read() != Path("/etc/passwd").read_bytes()
        # an archive member escaping the destination is refused
        evil = io.BytesIO()
        with tarfile.open(fileobj=evil, mode="w") as t:
            ti = tarfile.TarInfo("../../escape.txt")
            ti.size = 1
            t.addfile(ti, io.BytesIO(b"x"))
        status, _, _ = env.api.raw("PUT", f"/containers/{cid}/archive", evil.getvalue(), {"path": "/tmp"})
        assert status == 400
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_autoremove_run_rm(env: Env) -> None:
    cid = env.create("rm", Cmd=["true"], HostConfig={"AutoRemove": True, "NetworkMode": "none"})
    env.api.json("POST", f"/containers/{cid}/start")
    w = env.api.json("POST", f"/containers/{cid}/wait", query={"condition": "removed"})
    assert w["StatusCode"] == 0
    with pytest.raises(APIError) as ei:
        env.api.json("GET", f"/containers/{cid}/json")
    assert ei.value.status == 404


def test_engine_autoremove_created_then_removed_or_started_late(env: Env) -> None:
    """An AutoRemove container's task is prepared at create (run --rm starts at once); one that is
    removed without a start leaves no task, one started later still runs and is removed, a
    command that cannot run fails at the start as before, and the name is free again right
    after each exit."""
    cid = env.create("rmidle", Cmd=["true"], HostConfig={"AutoRemove": True, "NetworkMode": "none"})
    assert env.api.json("GET", f"/containers/{cid}/json")["State"]["Status"] == "created"
    shim = Path(env.d.state) / "shims" / "default" / cid
    assert _wait_for(shim.exists, 20), "no task was prepared at create"
    env.api.json("DELETE", f"/containers/{cid}")
    assert env.api.raw("GET", f"/containers/{cid}/json")[0] == 404
    assert not shim.exists(), "its shim outlived it"
    assert not (Path(env.d.state) / "bundles" / "default" / cid).exists(), "its bundle outlived it"

    cid = env.create("rmlate", Cmd=["sh", "-c", "exit 6"], HostConfig={"AutoRemove": True, "NetworkMode": "none"})
    time.sleep(0.5)  # the prepared task waits for its start
    env.api.json("POST", f"/containers/{cid}/start")
    assert env.api.json("POST", f"/containers/{cid}/wait", query={"condition": "removed"})["StatusCode"] == 6
    again = env.create("rmlate", Cmd=["true"], HostConfig={"AutoRemove": True, "NetworkMode": "none"})
    env.api.json("POST", f"/containers/{again}/start")
    assert env.api.json("POST", f"/containers/{again}/wait", query={"condition": "removed"})["StatusCode"] == 0
    assert not [c for c in env.api.json("GET", "/containers/json", query={"all": 1}) if c["Id"] in (cid, again)]

    bad = env.create("rmbad", Cmd=["/no/such/binary"], HostConfig={"AutoRemove": True, "NetworkMode": "none"})
    status, _, body = env.api.raw("POST", f"/containers/{bad}/start")
    assert status >= 400 and b"no/such/binary" in body, body
    env.api.json("DELETE", f"/containers/{bad}", query={"force": True})


def test_engine_pause_rename_top_stats_kill(env: Env) -> None:
    cid = env.run("misc", Cmd=["sleep", "600"], HostConfig={"NetworkMode": "none"})
    try:
        env.api.json("POST", f"/containers/{cid}/pause")
        assert env.api.json("GET", f"/containers/{cid}/json")["State"]["Status"] == "paused"
        env.api.json("POST", f"/containers/{cid}/unpause")
        assert env.api.json("GET", f"/containers/{cid}/json")["State"]["Status"] == "running"
        env.api.json("POST", f"/containers/{cid}/rename", query={"name": env.name("misc2")})
        assert env.api.json("GET", f"/containers/{env.name('misc2')}/json")["Id"] == cid
        top = env.api.json("GET", f"/containers/{cid}/top")
        assert any("sleep" in p[-1] for p in top["Processes"])
        st = env.api.json("GET", f"/containers/{cid}/stats", query={"stream": False})
        assert st["id"] == cid
        env.api.json("POST", f"/containers/{cid}/kill", query={"signal": "SIGKILL"})
        assert env.api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 137
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_logs_tail_timestamps_follow(env: Env) -> None:
    cid = env.run("logs", Cmd=["sh", "-c", "for i in 1 2 3; do echo line$i; done; sleep 1; echo late"],
                  HostConfig={"NetworkMode": "none"})
    try:
        chunks = b"".join(env.api.stream("GET", f"/containers/{cid}/logs",
                                         {"stdout": 1, "stderr": 1, "follow": 1}))
        frames, _ = stdcopy.deframe(chunks)
        assert b"".join(d for _, d in frames) == b"line1\nline2\nline3\nlate\n"
        out, _ = env.api.logs(cid, tail=2)
        assert out == b"line3\nlate\n"
        out, _ = env.api.logs(cid, tail=1, timestamps=1)
        assert out.endswith(b" late\n") and out[:4].isdigit()
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_attach_stream(env: Env) -> None:
    cid = env.create("att", Cmd=["sh", "-c", "sleep 0.5; echo attached"], HostConfig={"NetworkMode": "none"})
    try:
        s = env.api.hijack("POST", f"/containers/{cid}/attach", query={"stream": 1, "stdout": 1, "stderr": 1})
        env.api.json("POST", f"/containers/{cid}/start")
        data = read_all(s)
        s.close()
        frames, _ = stdcopy.deframe(data)
        assert b"".join(d for _, d in frames) == b"attached\n"
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_events_stream_sees_start(env: Env) -> None:
    import threading

    got: list[dict] = []
    since = time.time()

    def reader() -> None:
        q = {"until": str(since + 8), "filters": json.dumps({"type": ["container"]})}
        for chunk in env.api.stream("GET", "/events", q):
            for line in chunk.splitlines():
                if line.strip():
                    got.append(json.loads(line))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    cid = env.run("ev", Cmd=["true"], HostConfig={"NetworkMode": "none"})
    env.api.json("POST", f"/containers/{cid}/wait")
    env.api.json("DELETE", f"/containers/{cid}")
    t.join(15)
    actions = [e["Action"] for e in got if e["Actor"]["ID"] == cid]
    assert actions[:1] == ["create"] and "start" in actions and "die" in actions and actions[-1] == "destroy"


def test_engine_image_tag_history_save_load_rmi(env: Env) -> None:
    tagged = f"{env.tag}/bb:one"
    status, _, _ = env.api.raw("POST", "/images/busybox:latest/tag", query={"repo": f"{env.tag}/bb", "tag": "one"})
    assert status == 201
    assert env.api.json("GET", f"/images/{tagged}/json")["Id"] == env.api.json("GET", "/images/busybox/json")["Id"]
    hist = env.api.json("GET", f"/images/{tagged}/history")
    assert hist and "CreatedBy" in hist[0]
    status, _, tar = env.api.raw("GET", "/images/get", query={"names": tagged})
    assert status == 200 and len(tar) > 10000
    gone = env.api.json("DELETE", f"/images/{tagged}")
    assert {"Untagged": tagged} in gone
    with pytest.raises(APIError):
        env.api.json("GET", f"/images/{tagged}/json")
    status, _, body = env.api.raw("POST", "/images/load", tar, headers={"Content-Type": "application/x-tar"})
    assert status == 200 and b"Loaded image" in body, body
    assert env.api.json("GET", f"/images/{tagged}/json")
    env.api.json("DELETE", f"/images/{tagged}")


def test_engine_volume_api_and_network_list(env: Env) -> None:
    v = env.api.json("POST", "/volumes/create", {"Name": env.name("v2"), "Labels": {"a": "b"}})
    assert v["Name"] == env.name("v2") and v["Labels"] == {"a": "b"}
    names = [x["Name"] for x in env.api.json("GET", "/volumes")["Volumes"]]
    assert env.name("v2") in names
    env.api.json("DELETE", f"/volumes/{env.name('v2')}")
    with pytest.raises(APIError) as ei:
        env.api.json("GET", f"/volumes/{env.name('v2')}")
    assert ei.value.status == 404
    nets = [n["Name"] for n in env.api.json("GET", "/networks")]
    assert "bridge" in nets


def test_engine_on_failure_restart_limit(env: Env) -> None:
    cid = env.run("onf", Cmd=["sh", "-c", "exit 2"], HostConfig={"RestartPolicy": {"Name": "on-failure",
                                                                                   "MaximumRetryCount": 2},
                                                                 "NetworkMode": "none"})
    try:
        def settled() -> bool:
            st = env.api.json("GET", f"/containers/{cid}/json")
            return bool(st["RestartCount"] == 2 and not st["State"]["Running"] and not st["State"]["Restarting"])

        assert _wait_for(settled, 20)
        assert env.api.json("GET", f"/containers/{cid}/json")["State"]["ExitCode"] == 2
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_attach_stdin_once(env: Env) -> None:
    cid = env.create("stdin", Cmd=["sh", "-c", "read line; echo got:$line; cat"], OpenStdin=True, StdinOnce=True,
                     AttachStdin=True, HostConfig={"NetworkMode": "none"})
    try:
        s = env.api.hijack("POST", f"/containers/{cid}/attach",
                           query={"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1})
        env.api.json("POST", f"/containers/{cid}/start")
        s.sendall(b"hello\nrest\n")
        s.shutdown(socket.SHUT_WR)
        data = read_all(s)
        s.close()
        frames, _ = stdcopy.deframe(data)
        assert b"".join(d for _, d in frames) == b"got:hello\nrest\n"
        assert env.api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_pull_with_registry_auth_and_push(env: Env, fixtures_info: dict) -> None:
    import base64

    reg = fixtures_info["registries"]["auth"]
    ref = fixtures_info["images"]["auth-busybox"]["ref"]
    lines = _pull(env.api, ref)  # no credentials: refused
    assert "error" in lines[-1]
    auth = base64.urlsafe_b64encode(json.dumps({"username": reg["username"], "password": reg["password"],
                                                "serveraddress": reg["host"]}).encode()).decode()
    lines = []
    for chunk in env.api.stream("POST", "/images/create", {"fromImage": ref}, {"X-Registry-Auth": auth}):
        lines.extend(json.loads(x) for x in chunk.split(b"\r\n") if x.strip())
    assert not [x for x in lines if "error" in x], lines
    assert env.api.json("GET", f"/images/{ref}/json")["Id"]
    # push a tag of busybox to the open registry under this test's own repository
    target = f"{fixtures_info['registries']['open']['host']}/{env.tag}/busybox"
    env.api.raw("POST", "/images/busybox/tag", query={"repo": target, "tag": "latest"})
    out = b"".join(env.api.stream("POST", f"/images/{target}/push", {"tag": "latest"}))
    docs = [json.loads(x) for x in out.split(b"\r\n") if x.strip()]
    assert not [x for x in docs if "error" in x], docs
    assert any("aux" in x and x["aux"]["Digest"].startswith("sha256:") for x in docs)
    manifest = urllib.request.urlopen(urllib.request.Request(
        f"http://{fixtures_info['registries']['open']['host']}/v2/{env.tag}/busybox/manifests/latest",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}), timeout=10).read()
    assert b"layers" in manifest
    env.api.json("DELETE", f"/images/{target}:latest")
    env.api.json("DELETE", f"/images/{ref}")


def _exec(env: Env, cid: str, cmd: list[str], **body: object) -> tuple[int, bytes, bytes]:
    eid = env.api.json("POST", f"/containers/{cid}/exec", {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True,
                                                           **body})["Id"]
    s = env.api.hijack("POST", f"/exec/{eid}/start", {"Detach": False})
    data = read_all(s)
    s.close()
    _wait_for(lambda: not env.api.json("GET", f"/exec/{eid}/json")["Running"], 10)
    frames, _ = stdcopy.deframe(data)
    code = env.api.json("GET", f"/exec/{eid}/json")["ExitCode"]
    return (code, b"".join(d for k, d in frames if k == 1), b"".join(d for k, d in frames if k == 2))


def test_engine_jenkins_style_run(env: Env) -> None:
    """The issue's Jenkins command, with busybox: hostname, env, hosts entries, a named volume, a
    read-only bind, the daemon's socket mounted, privileged, user by name, restart=always, -p."""
    port = _free_port()
    vol = env.name("jhome")
    cid = env.run("jenkins", Cmd=["sleep", "600"], Hostname="jenkins.example.test", User="root",
                  Env=["TZ=Asia/Shanghai"], ExposedPorts={"8080/tcp": {}},
                  HostConfig={"RestartPolicy": {"Name": "always"}, "Privileged": True,
                              "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]},
                              "Binds": ["/etc/localtime:/etc/localtime:ro", f"{vol}:/var/jenkins_home",
                                        f"{env.d.address}:/run/seabox/seaboxd.sock"],
                              "ExtraHosts": ["gitlab.example.test:10.0.0.110", "harbor.example.test:10.0.0.185"]})
    try:
        assert _exec(env, cid, ["hostname"])[1] == b"jenkins.example.test\n"
        assert b"TZ=Asia/Shanghai" in _exec(env, cid, ["env"])[1]
        hosts = _exec(env, cid, ["cat", "/etc/hosts"])[1]
        assert b"10.0.0.110\tgitlab.example.test" in hosts.replace(b" ", b"\t") or b"10.0.0.110" in hosts
        assert b"harbor.example.test" in hosts
        assert _exec(env, cid, ["test", "-S", "/run/seabox/seaboxd.sock"])[0] == 0
        assert _exec(env, cid, ["sh", "-c", "echo x > /etc/localtime"])[0] != 0  # read-only bind
        assert _exec(env, cid, ["sh", "-c", "echo x > /var/jenkins_home/f"])[0] == 0
        v = env.api.json("GET", f"/volumes/{vol}")
        assert Path(v["Mountpoint"], "f").read_text() == "x\n"
        # privileged: CAP_SYS_ADMIN (bit 21) is in the effective set
        caps = _exec(env, cid, ["grep", "CapEff", "/proc/1/status"])[1].split()[1]
        assert int(caps, 16) & (1 << 21)
        ins = env.api.json("GET", f"/containers/{cid}/json")
        assert ins["HostConfig"]["Privileged"] is True and ins["Config"]["Hostname"] == "jenkins.example.test"
        assert ins["NetworkSettings"]["Ports"]["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        assert any(m["Type"] == "volume" and m["Name"] == vol for m in ins["Mounts"])
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})
        env.api.json("DELETE", f"/volumes/{vol}")


def test_engine_init_user_name_and_readonly_rootfs(env: Env) -> None:
    cid = env.create("init", Cmd=["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u; touch /x || echo ro"],
                     User="nobody", HostConfig={"Init": True, "ReadonlyRootfs": True, "NetworkMode": "none"})
    try:
        env.api.json("POST", f"/containers/{cid}/start")
        env.api.json("POST", f"/containers/{cid}/wait")
        out, _ = env.api.logs(cid)
        lines = out.decode().splitlines()
        assert lines[0].startswith("/sbin/docker-init -- sh"), lines
        assert lines[1] == "65534" and lines[2] == "ro"
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_wait_next_exit_sent_before_start(env: Env) -> None:
    import threading

    cid = env.create("nx", Cmd=["sh", "-c", "exit 7"], HostConfig={"NetworkMode": "none"})
    got: dict = {}

    def waiter() -> None:
        got.update(EngineClient(str(env.d.address)).json("POST", f"/containers/{cid}/wait",
                                                         query={"condition": "next-exit"}))

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    time.sleep(0.3)
    assert got == {}  # a created container has not exited yet
    env.api.json("POST", f"/containers/{cid}/start")
    t.join(30)
    try:
        assert got["StatusCode"] == 7
        # not-running on a stopped container answers at once with the last exit code
        assert env.api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 7
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_network_modes_static_ip_port_in_use_publish_all(env: Env) -> None:
    net = env.name("ipnet")
    created = env.api.json("POST", "/networks/create", {"Name": net})
    sub = env.api.json("GET", f"/networks/{net}")["IPAM"]["Config"][0]["Subnet"]
    ip = str(ipaddress.IPv4Network(sub).network_address + 42)
    ids: list[str] = []
    try:
        assert created["Id"]
        a = env.create("ip", Cmd=["sleep", "600"], HostConfig={"NetworkMode": net},
                       NetworkingConfig={"EndpointsConfig": {net: {"IPAMConfig": {"IPv4Address": ip}}}})
        ids.append(a)
        env.api.json("POST", f"/containers/{a}/start")
        ins = env.api.json("GET", f"/containers/{a}/json")
        assert ins["NetworkSettings"]["Networks"][net]["IPAddress"] == ip
        # container:<id> shares a's network namespace
        b = env.create("join", Cmd=["sh", "-c", "ip -4 addr show eth0"], HostConfig={"NetworkMode": f"container:{a}"})
        ids.append(b)
        env.api.json("POST", f"/containers/{b}/start")
        env.api.json("POST", f"/containers/{b}/wait")
        assert ip.encode() in env.api.logs(b)[0]
        # host network: the host's interfaces
        h = env.create("host", Cmd=["cat", "/proc/net/dev"], HostConfig={"NetworkMode": "host"})
        ids.append(h)
        env.api.json("POST", f"/containers/{h}/start")
        env.api.json("POST", f"/containers/{h}/wait")
        assert b"eth0" in env.api.logs(h)[0] or b"ens" in env.api.logs(h)[0]
        # a host port already taken: a clear error at start
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            c = env.create("busyport", Cmd=["sleep", "60"],
                           HostConfig={"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}})
            ids.append(c)
            with pytest.raises(APIError) as ei:
                env.api.json("POST", f"/containers/{c}/start")
            assert "already in use" in ei.value.message or "in use" in ei.value.message
        # -P: every exposed port gets a host port
        p = env.run("puball", Cmd=["sleep", "60"], ExposedPorts={"80/tcp": {}, "81/tcp": {}},
                    HostConfig={"PublishAllPorts": True})
        ids.append(p)
        ports = env.api.json("GET", f"/containers/{p}/json")["NetworkSettings"]["Ports"]
        assert ports["80/tcp"] and ports["81/tcp"] and int(ports["80/tcp"][0]["HostPort"]) > 0
    finally:
        for cid in ids:
            with contextlib.suppress(APIError):
                env.api.json("DELETE", f"/containers/{cid}", query={"force": True})
        env.api.json("DELETE", f"/networks/{net}")


def test_engine_log_rotation_rm_v_and_tmpfs(env: Env) -> None:
    cid = env.create("rot", Cmd=["sh", "-c", "i=0; while [ $i -lt 400 ]; do "
                                             "echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"],
                     Volumes={"/anon": {}},
                     HostConfig={"NetworkMode": "none", "Tmpfs": {"/scratch": "size=1m"},
                                 "LogConfig": {"Type": "json-file", "Config": {"max-size": "4k", "max-file": "2"}}})
    env.api.json("POST", f"/containers/{cid}/start")
    env.api.json("POST", f"/containers/{cid}/wait")
    ins = env.api.json("GET", f"/containers/{cid}/json")
    log = Path(ins["LogPath"])
    assert log.stat().st_size <= 4096 and Path(f"{log}.1").exists() and not Path(f"{log}.2").exists()
    out, _ = env.api.logs(cid)
    assert out.endswith(b"line-399-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")
    assert b"line-0-" not in out  # rotated away
    anon = next(m["Name"] for m in ins["Mounts"] if m["Destination"] == "/anon")
    env.api.json("DELETE", f"/containers/{cid}", query={"v": True})
    with pytest.raises(APIError):
        env.api.json("GET", f"/volumes/{anon}")
    t = env.create("tmpfs", Cmd=["sh", "-c", "grep ' /scratch ' /proc/mounts"],
                   HostConfig={"NetworkMode": "none", "Tmpfs": {"/scratch": "size=1m"}})
    try:
        env.api.json("POST", f"/containers/{t}/start")
        assert env.api.json("POST", f"/containers/{t}/wait")["StatusCode"] == 0
        line = env.api.logs(t)[0]
        assert line.startswith(b"tmpfs /scratch tmpfs") and b"size=1024k" in line
    finally:
        env.api.json("DELETE", f"/containers/{t}", query={"force": True})


def test_engine_stdin_ends_before_start(env: Env) -> None:
    """docker run -i: the CLI attaches, may send all of stdin and close it, then starts."""
    cid = env.create("early", Cmd=["cat"], OpenStdin=True, StdinOnce=True, AttachStdin=True,
                     HostConfig={"NetworkMode": "none"})
    try:
        s = env.api.hijack("POST", f"/containers/{cid}/attach",
                           query={"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1})
        s.sendall(b"piped\n")
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
        env.api.json("POST", f"/containers/{cid}/start")
        s.settimeout(30)
        data = read_all(s)
        s.close()
        assert b"".join(d for _, d in stdcopy.deframe(data)[0]) == b"piped\n"
        assert env.api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


# -- the real docker CLI as a client (interop) ------------------------------------------------------


def _docker(env: Env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, DOCKER_HOST=f"unix://{env.d.address}", DOCKER_CONFIG=str(env.work / "dockercfg"))
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, env=e, input=stdin)


@pytest.fixture
def docker_cli() -> str:
    path = shutil.which("docker")
    if path is None:
        pytest.fail("the docker CLI is needed for the interop tests (Debian's docker.io or docker-ce-cli)")
    return path


def test_engine_docker_cli_run_ps_exec_inspect_rm(env: Env, docker_cli: str) -> None:
    v = _docker(env, "version", "--format", "{{.Server.APIVersion}}")
    assert v.returncode == 0 and v.stdout.strip() == "1.41", v.stderr
    r = _docker(env, "run", "--rm", "--network", "none", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = _docker(env, "run", "-i", "--rm", "--network", "none", "busybox", "cat", stdin="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n"), r.stderr
    r = _docker(env, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 4")
    assert r.returncode == 4
    name = env.name("dk")
    r = _docker(env, "run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "600")
    assert r.returncode == 0, r.stderr
    try:
        ps = _docker(env, "ps", "--format", "{{.Names}} {{.Status}}")
        assert any(line.startswith(f"{name} Up") for line in ps.stdout.splitlines()), ps
        ex = _docker(env, "exec", name, "sh", "-c", "echo in-exec >&2; hostname")
        assert ex.returncode == 0 and ex.stderr == "in-exec\n" and len(ex.stdout.strip()) == 12
        ins = _docker(env, "inspect", "-f", "{{.State.Status}} {{.Name}}", name)
        assert ins.stdout.strip() == f"running /{name}"
        dup = _docker(env, "create", "--name", name, "busybox")
        assert dup.returncode != 0 and "is already in use" in dup.stderr
    finally:
        rm = _docker(env, "rm", "-f", name)
    assert rm.returncode == 0, rm.stderr


def test_engine_nginx_published_port(env: Env) -> None:
    """The walkthrough's ``run -d -p <port>:80 nginx:1.26``, pulled through the docker.io mirror."""
    lines = _pull(env.api, "nginx:1.26")
    assert not [x for x in lines if "error" in x], lines[-3:]
    port = _free_port()
    cid = env.run("nginx", Image="nginx:1.26",
                  HostConfig={"PortBindings": {"80/tcp": [{"HostPort": str(port)}]}})
    try:
        body = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"Welcome to nginx" in body
        ps = env.api.json("GET", "/containers/json", query={"filters": json.dumps({"id": [cid]})})
        assert {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"} in ps[0]["Ports"]
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_tty_container_logs_raw(env: Env) -> None:
    cid = env.create("tty", Cmd=["sh", "-c", "tty; echo done"], Tty=True, HostConfig={"NetworkMode": "none"})
    try:
        env.api.json("POST", f"/containers/{cid}/start")
        assert env.api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
        status, headers, body = env.api.raw("GET", f"/containers/{cid}/logs", query={"stdout": 1})
        assert status == 200
        assert headers["Content-Type"] == "application/vnd.docker.raw-stream"
        assert body.replace(b"\r\n", b"\n") == b"/dev/pts/0\ndone\n"
        r = _docker(env, "run", "--rm", "-t", "--network", "none", "busybox", "echo", "tty-out")
        assert r.returncode == 0 and r.stdout.replace("\r\n", "\n") == "tty-out\n", r
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_events_since_replays(env: Env) -> None:
    since = time.time()
    cid = env.run("evs", Cmd=["true"], HostConfig={"NetworkMode": "none"})
    env.api.json("POST", f"/containers/{cid}/wait")
    env.api.json("DELETE", f"/containers/{cid}")
    out = b"".join(env.api.stream("GET", "/events", {"since": f"{since:.3f}", "until": f"{time.time():.3f}"}))
    actions = [json.loads(x)["Action"] for x in out.splitlines() if x.strip() and json.loads(x)["id"] == cid]
    assert actions == ["create", "start", "die", "destroy"]
    time.sleep(1.1)  # the CLI sends --until 0s as whole seconds
    r = _docker(env, "events", "--since", str(int(since)), "--until", "0s", "--filter", f"container={cid}",
                "--format", "{{.Action}}")
    assert r.stdout.split() == ["create", "start", "die", "destroy"], r


def test_engine_docker_cli_cp_top_stats_logs_pause_rename_restart(env: Env, docker_cli: str) -> None:
    name = env.name("dk2")
    r = _docker(env, "run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", "echo start; sleep 600")
    assert r.returncode == 0, r.stderr
    try:
        src = env.work / "cpfile"
        src.write_text("copied\n")
        assert _docker(env, "cp", str(src), f"{name}:/tmp/cpfile").returncode == 0
        assert _docker(env, "exec", name, "cat", "/tmp/cpfile").stdout == "copied\n"
        out = env.work / "passwd-out"
        assert _docker(env, "cp", f"{name}:/etc/passwd", str(out)).returncode == 0
        assert out.read_text().startswith("root:x:0:0:")
        assert "sleep 600" in _docker(env, "top", name).stdout
        st = _docker(env, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name)
        assert st.stdout.split() == [name, "2"] or st.stdout.split()[0] == name, st
        assert _docker(env, "logs", name).stdout == "start\n"
        assert _docker(env, "pause", name).returncode == 0
        assert "(Paused)" in _docker(env, "ps", "--format", "{{.Status}}", "--filter", f"name={name}").stdout
        assert _docker(env, "unpause", name).returncode == 0
        assert _docker(env, "rename", name, name + "x").returncode == 0
        name += "x"
        assert _docker(env, "restart", "-t", "0", name).returncode == 0
        assert _docker(env, "logs", name).stdout == "start\nstart\n"
        assert _docker(env, "inspect", "-f", "{{.RestartCount}} {{.State.Running}}", name).stdout.split()[1] == "true"
    finally:
        assert _docker(env, "rm", "-f", name).returncode == 0


def test_engine_exits_while_seaboxd_is_down(env: Env) -> None:
    rm = env.run("downrm", Cmd=["sleep", "1"], HostConfig={"AutoRemove": True, "NetworkMode": "none"})
    keep = env.run("downkeep", Cmd=["sh", "-c", "sleep 1; exit 9"], HostConfig={"NetworkMode": "none"})
    try:
        env.d.proc.send_signal(signal.SIGKILL)
        env.d.proc.wait(20)
        time.sleep(2.0)  # both containers end while no daemon runs
        _restart_daemon(env)

        def settled() -> bool:
            st = env.api.json("GET", f"/containers/{keep}/json")["State"]
            gone = env.api.raw("GET", f"/containers/{rm}/json")[0] == 404
            return bool(gone and not st["Running"])

        assert _wait_for(settled, 30)
        st = env.api.json("GET", f"/containers/{keep}/json")["State"]
        assert (st["Status"], st["ExitCode"]) == ("exited", 9)
    finally:
        env.api.json("DELETE", f"/containers/{keep}", query={"force": True})


def test_engine_api_reachable_from_inside_a_container(env: Env) -> None:
    """The Jenkins pattern: the daemon's socket bind-mounted in; a client inside lists the host's
    containers.  The client is the host's curl, run through the host's dynamic loader from a
    read-only bind of the host's /usr (busybox has no unix-socket HTTP client)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is needed on the host for this test")
    lib = "/usr/lib/x86_64-linux-gnu"
    cid = env.run("inside", Cmd=["sleep", "600"],
                  HostConfig={"NetworkMode": "none",
                              "Binds": [f"{env.d.address}:/run/seabox/seaboxd.sock", "/usr:/hostusr:ro"]})
    try:
        code, out, err = _exec(env, cid, ["/hostusr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "--library-path",
                                          lib.replace("/usr", "/hostusr"), curl.replace("/usr", "/hostusr"), "-s",
                                          "--unix-socket", "/run/seabox/seaboxd.sock",
                                          "http://seaboxd/v1.41/containers/json"])
        assert code == 0, err
        assert cid.encode() in out
    finally:
        env.api.json("DELETE", f"/containers/{cid}", query={"force": True})


def test_engine_prunes(env: Env) -> None:
    stopped = env.create("prune", Cmd=["true"], Volumes={"/anon": {}}, HostConfig={"NetworkMode": "none"})
    anon = env.api.json("GET", f"/containers/{stopped}/json")["Mounts"][0]["Name"]
    net = env.name("prunenet")
    env.api.json("POST", "/networks/create", {"Name": net})
    out = env.api.json("POST", "/containers/prune")
    assert stopped in (out["ContainersDeleted"] or [])
    out = env.api.json("POST", "/volumes/prune")
    assert anon in (out["VolumesDeleted"] or [])
    out = env.api.json("POST", "/networks/prune")
    assert net in (out["NetworksDeleted"] or [])
    out = env.api.json("POST", "/images/prune")
    assert "SpaceReclaimed" in out
    assert env.api.json("GET", "/images/busybox/json")["Id"]  # tagged images stay


def test_engine_auth_with_the_docker_cli(env: Env, docker_cli: str, fixtures_info: dict) -> None:
    """``docker login`` against seaboxd: POST /auth checks the credentials at the registry."""
    auth = fixtures_info["registries"]["auth"]
    r = _docker(env, "login", "-u", auth["username"], "--password-stdin", auth["host"], stdin=auth["password"])
    assert r.returncode == 0 and "Login Succeeded" in r.stdout, r.stderr
    r = _docker(env, "login", "-u", auth["username"], "--password-stdin", auth["host"], stdin="wrong-password")
    assert r.returncode != 0 and "401" not in r.stdout and "failed" in r.stderr.lower(), (r.stdout, r.stderr)
    _docker(env, "logout", auth["host"])
    st, _h, body = env.api.raw("POST", "/auth", {"serveraddress": auth["host"]})
    assert st == 400 and b"username" in body
    st, _h, body = env.api.raw("POST", "/auth", {"serveraddress": auth["host"], "username": "admin", "password": "x"})
    assert st == 401 and b"login attempt to 127.0.0.1:5001 failed" in body
