"""CRI v1 end to end: a gRPC client drives seaboxd through a whole pod's life.

Each test runs its own seaboxd (temp root/state/socket) with its own CNI conflist (bridge
``sbt-<rand>``, a free test subnet), its own hosts dir (docker.io mirrored to the fixture
registry) and its own log directory; teardown removes every pod through the CRI, stops the
daemon, and then checks and removes what could leak: network namespaces, the bridge, the
plugins' iptables chains, mounts under the temp dir, shims.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest

from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri
from seabox.api.gen.cri.runtime.v1 import api_pb2_grpc as cri_grpc
from seabox.daemon.testing import RunningDaemon, seaboxd
from seabox.network import iptables as ipt
from seabox.network import netlink, subnets

pytestmark = [pytest.mark.e2e, pytest.mark.root]

CNI_BIN = "/usr/lib/cni"
LOG_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$")


def _subnet() -> str:
    import ipaddress

    start = ipaddress.IPv4Network(f"10.{231 + secrets.randbelow(20)}.{secrets.randbelow(200)}.0/24")
    return str(subnets.pick_subnet(subnets.host_routes(), subnets.candidates(start)))


def _chains() -> set[str]:
    return ipt.chains("nat") | ipt.chains("filter")


@dataclass
class Env:
    tmp: Path
    tag: str
    bridge: str
    subnet: str
    logs: Path
    hosts: Path
    conf: Path
    daemon: RunningDaemon | None = None
    channel: grpc.Channel | None = None

    @property
    def rt(self) -> cri_grpc.RuntimeServiceStub:
        assert self.channel is not None
        return cri_grpc.RuntimeServiceStub(self.channel)

    @property
    def img(self) -> cri_grpc.ImageServiceStub:
        assert self.channel is not None
        return cri_grpc.ImageServiceStub(self.channel)

    @contextlib.contextmanager
    def running(self) -> Iterator[RunningDaemon]:
        """seaboxd on this env's dirs, with a channel to it."""
        with seaboxd(self.tmp) as d:
            self.daemon = d
            self.channel = grpc.insecure_channel(f"unix:{d.address}")
            try:
                yield d
            finally:
                self.channel.close()
                self.channel = None
                self.daemon = None

    def remove_all(self) -> None:
        for p in self.rt.ListPodSandbox(cri.ListPodSandboxRequest()).items:
            self.rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=p.id))


def _write_config(tmp: Path, tag: str, bridge: str, subnet: str) -> tuple[Path, Path, Path]:
    netd = tmp / "net.d"
    netd.mkdir()
    (netd / "10-sbt.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": f"{tag}-pod",
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": str(tmp / "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]}))
    hosts = tmp / "certs.d"
    (hosts / "docker.io").mkdir(parents=True)
    (hosts / "docker.io" / "hosts.toml").write_text(
        'server = "https://registry-1.docker.io"\n\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n')
    conf = tmp / "cri.toml"
    conf.write_text(f"""
[plugins.cri]
restrict_oom_score_adj = true
[plugins.cri.cni]
bin_dir = "{CNI_BIN}"
conf_dir = "{netd}"
[plugins.cri.registry]
config_path = "{hosts}"
""")
    return netd, hosts, conf


def _mounts_under(path: Path) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp.startswith(str(path)):
                out.append(mp)
    return out


def _procs_mentioning(text: str) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and int(d) != os.getpid():
            pids.append(int(d))
    return pids


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    tag = "sbt-" + secrets.token_hex(3)
    # short: the shim's socket <state>/shims/k8s.io/<64 hex id>/shim.sock must fit in 107 bytes
    work = Path("/tmp") / f"c{tag[4:8]}"
    work.mkdir()
    bridge = tag
    subnet = _subnet()
    _netd, hosts, conf = _write_config(work, tag, bridge, subnet)
    monkeypatch.setenv("SEABOX_CRI_CONFIG", str(conf))
    logs = work / "pod-logs"
    e = Env(work, tag, bridge, subnet, logs, hosts, conf)
    before = _chains()
    try:
        yield e
    finally:
        problems: list[str] = []
        # pods a failed test left: removed through the CRI by a daemon on the same dirs
        if (work / "root" / "cri" / "cri.db").exists():
            try:
                with e.running():
                    e.remove_all()
            except Exception as exc:
                problems.append(f"cleanup through the CRI failed: {exc}")
        # anything of ours still running now is a leak
        state = work / "state"
        for pid in _procs_mentioning(str(state)):
            problems.append(f"process {pid} left running")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        netns_dir = state / "cri" / "netns"
        if netns_dir.is_dir():
            for n in os.listdir(netns_dir):
                problems.append(f"netns {n} left")
                from seabox.network import netns

                netns.remove(str(netns_dir / n))
        for mp in sorted(_mounts_under(work), key=len, reverse=True):
            problems.append(f"mount {mp} left")
            subprocess.run(["umount", "-l", mp], check=False)
        ipam_default = Path("/var/lib/cni/networks") / f"{tag}-pod"
        if ipam_default.exists():
            problems.append(f"host-local state {ipam_default} left (the conflist gives a dataDir)")
            subprocess.run(["rm", "-rf", str(ipam_default)], check=False)
        if netlink.link_exists(bridge):
            netlink.delete_link(bridge)  # the bridge plugin never deletes its bridge: ours to remove
        veths = [n for n in netlink.link_names() if n.startswith("veth") and False]
        problems += veths
        ipt.remove_idle_chains("", only=_chains() - before)
        leftover = [c for c in _chains() - before if c.startswith("CNI-")]
        rules = "\n".join(r for t in ("nat", "filter") for r in ipt.rules(t))
        for c in leftover:
            if subnet.split("/")[0].rsplit(".", 1)[0] in rules:
                problems.append(f"iptables chain {c} still used by a rule for our subnet")
        if subnet.rsplit(".", 1)[0] + "." in rules:
            problems.append("iptables rules for the test subnet left")
        subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)
        assert problems == []


def _pod_config(env: Env, name: str, host_port: int = 0) -> cri.PodSandboxConfig:
    cfg = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, namespace="default", uid=secrets.token_hex(8), attempt=0),
        hostname=name, log_directory=str(env.logs / name),
        dns_config=cri.DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"], options=["ndots:5"]),
        labels={"app": name, "tier": "test"}, annotations={"seabox.test": "yes"},
        linux=cri.LinuxPodSandboxConfig(sysctls={"net.ipv4.ip_unprivileged_port_start": "0"}))
    if host_port:
        cfg.port_mappings.append(cri.PortMapping(protocol=cri.TCP, container_port=8080, host_port=host_port))
    return cfg


def _container(name: str, image: str, command: list[str], pid_mode: int = cri.POD) -> cri.ContainerConfig:
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=name), image=cri.ImageSpec(image=image), command=command,
        envs=[cri.KeyValue(key="GREETING", value="hello-cri")], log_path=f"{name}/0.log",
        labels={"c": name},
        linux=cri.LinuxContainerConfig(
            resources=cri.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_shares=512, oom_score_adj=-500),
            security_context=cri.LinuxContainerSecurityContext(
                namespace_options=cri.NamespaceOption(pid=pid_mode),
                capabilities=cri.Capability(drop_capabilities=["NET_RAW"]),
                seccomp=cri.SecurityProfile(profile_type=cri.SecurityProfile.RuntimeDefault))))


def _wait(pred: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


# -- a minimal WebSocket client (stdlib only) --------------------------------------------------


class WS:
    def __init__(self, url: str, protocol: str) -> None:
        from seabox.cri.streaming import accept_key

        u = urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + (f"?{u.query}" if u.query else "")
        req = (f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n")
        self.sock.sendall(req.encode())
        self.rf = self.sock.makefile("rb")
        status = self.rf.readline().decode()
        assert " 101 " in status, status + self.rf.read(500).decode(errors="replace")
        headers = {}
        while True:
            line = self.rf.readline().decode().strip()
            if not line:
                break
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        assert headers["sec-websocket-accept"] == accept_key(key)
        assert headers["sec-websocket-protocol"] == protocol

    def send(self, channel: int, data: bytes) -> None:
        from seabox.cri.streaming import encode_frame

        self.sock.sendall(encode_frame(bytes([channel]) + data, 2, mask=os.urandom(4)))

    def recv(self) -> tuple[int, bytes] | None:
        from seabox.cri.streaming import read_message

        try:
            op, payload = read_message(self.rf)
        except EOFError:
            return None
        if op == 8:
            return None
        return payload[0], payload[1:]

    def close(self) -> None:
        self.rf.close()
        self.sock.close()


def _collect(ws: WS) -> dict[int, bytes]:
    got: dict[int, bytes] = {}
    while True:
        m = ws.recv()
        if m is None:
            return got
        got[m[0]] = got.get(m[0], b"") + m[1]


def _code(exc_info: Any) -> grpc.StatusCode:
    return exc_info.value.code()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_cri_pod_lifecycle(env: Env, fixtures_info: dict) -> None:
    auth = fixtures_info["registries"]["auth"]
    with env.running():
        rt, img = env.rt, env.img
        v = rt.Version(cri.VersionRequest())
        assert (v.runtime_name, v.runtime_api_version) == ("seabox", "v1")
        st = rt.Status(cri.StatusRequest(verbose=True))
        conds = {c.type: c.status for c in st.status.conditions}
        assert conds == {"RuntimeReady": True, "NetworkReady": True}
        rt.UpdateRuntimeConfig(cri.UpdateRuntimeConfigRequest(
            runtime_config=cri.RuntimeConfig(network_config=cri.NetworkConfig(pod_cidr=env.subnet))))
        assert env.subnet in rt.Status(cri.StatusRequest(verbose=True)).info["config"]

        # images: docker.io through the mirror; the auth registry without and with credentials
        ref = img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image="busybox"))).image_ref
        assert ref == fixtures_info["images"]["busybox"]["config_digest"] if "config_digest" in \
            fixtures_info["images"]["busybox"] else ref.startswith("sha256:")
        s = img.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image="busybox:latest"), verbose=True))
        assert s.image.id == ref and "docker.io/library/busybox:latest" in s.image.repo_tags
        assert json.loads(s.info["info"])["imageSpec"]["os"] == "linux"
        assert not img.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image="nope:1"))).HasField("image")
        auth_ref = fixtures_info["images"]["auth-busybox"]["ref"]
        with pytest.raises(grpc.RpcError):
            img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=auth_ref)))
        aref = img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=auth_ref), auth=cri.AuthConfig(
            username=auth["username"], password=auth["password"]))).image_ref
        assert aref.startswith("sha256:")
        listed = img.ListImages(cri.ListImagesRequest()).images
        assert {ref, aref} <= {i.id for i in listed}
        assert img.ImageFsInfo(cri.ImageFsInfoRequest()).image_filesystems[0].used_bytes.value > 0

        # a pod with two containers sharing its network
        host_port = _free_port()
        pcfg = _pod_config(env, f"{env.tag}-web", host_port)
        pod = rt.RunPodSandbox(cri.RunPodSandboxRequest(config=pcfg)).pod_sandbox_id
        ps = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod, verbose=True))
        assert ps.status.state == cri.SANDBOX_READY
        ip = ps.status.network.ip
        assert ip and ip.rsplit(".", 1)[0] == env.subnet.rsplit(".", 1)[0]
        info = json.loads(ps.info["info"])
        assert info["pid"] > 0 and info["netNamespacePath"]
        web_cmd = ["sh", "-c", 'mkdir -p /www && echo "$GREETING from web" > /www/index.html && echo started && '
                   'echo to-stderr >&2 && exec httpd -f -p 8080 -h /www']
        web = rt.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=_container("web", "busybox", web_cmd, cri.CONTAINER), sandbox_config=pcfg)
        ).container_id
        client_cmd = ["sh", "-c", "until wget -qO- http://127.0.0.1:8080/; do sleep 0.2; done; "
                      "cat /etc/hostname; sleep 3600"]
        client = rt.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=_container("client", ref, client_cmd), sandbox_config=pcfg)).container_id
        assert rt.ContainerStatus(cri.ContainerStatusRequest(container_id=web)).status.state == cri.CONTAINER_CREATED
        rt.StartContainer(cri.StartContainerRequest(container_id=web))
        rt.StartContainer(cri.StartContainerRequest(container_id=client))
        cs = rt.ContainerStatus(cri.ContainerStatusRequest(container_id=client, verbose=True)).status
        assert cs.state == cri.CONTAINER_RUNNING
        client_log = Path(cs.log_path)
        assert client_log == env.logs / pcfg.metadata.name / "client" / "0.log"

        def log_lines(p: Path) -> list[tuple[str, str, str]]:
            if not p.exists():
                return []
            out = []
            for line in p.read_text().splitlines():
                m = LOG_RE.match(line)
                assert m, f"not CRI log format: {line!r}"
                out.append((m.group(1), m.group(2), m.group(3)))
            return out

        _wait(lambda: ("stdout", "F", "hello-cri from web") in log_lines(client_log), "the client's fetch")
        _wait(lambda: ("stdout", "F", pcfg.hostname) in log_lines(client_log), "the pod's hostname in the log")
        web_log = env.logs / pcfg.metadata.name / "web" / "0.log"
        _wait(lambda: ("stderr", "F", "to-stderr") in log_lines(web_log), "web's stderr in its log")
        assert ("stdout", "F", "started") in log_lines(web_log)

        # exec: ExecSync (stdout, stderr, exit code, timeout) and the pod's files
        r = rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["cat", "/www/index.html"], timeout=30))
        assert (r.exit_code, r.stdout) == (0, b"hello-cri from web\n")
        r = rt.ExecSync(cri.ExecSyncRequest(container_id=client, cmd=["sh", "-c", "echo e >&2; exit 3"], timeout=30))
        assert (r.exit_code, r.stdout, r.stderr) == (3, b"", b"e\n")
        r = rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["cat", "/etc/resolv.conf"], timeout=30))
        assert b"nameserver 10.96.0.10" in r.stdout and b"ndots:5" in r.stdout
        r = rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
                                            timeout=30))
        assert r.stdout == b"0\n"
        r = rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["cat", "/proc/1/cmdline"], timeout=30))
        assert r.stdout.startswith(b"httpd\0")  # own pid namespace (CONTAINER): pid 1 is its own process
        r = rt.ExecSync(cri.ExecSyncRequest(container_id=client, cmd=["cat", "/proc/1/cmdline"], timeout=30))
        assert b"sleep" in r.stdout  # the pod's pid namespace: pid 1 is the pause
        with pytest.raises(grpc.RpcError) as ei:
            rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["sleep", "30"], timeout=1))
        assert _code(ei) == grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(grpc.RpcError):
            rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["/no/such/binary"], timeout=30))
        assert os.listdir(env.tmp / "state" / "cri" / "exec") == []  # no exec FIFOs left behind
        url = rt.Exec(cri.ExecRequest(container_id=web, cmd=["/no/such/binary"], stdout=True)).url
        ws = WS(url, "v4.channel.k8s.io")
        got = _collect(ws)
        ws.close()
        assert json.loads(got[3])["status"] == "Failure"

        # streaming: exec over WebSocket (v4.channel.k8s.io) and port-forward
        url = rt.Exec(cri.ExecRequest(container_id=web, cmd=["sh", "-c", "echo out; echo err >&2; exit 2"],
                                      stdout=True, stderr=True)).url
        ws = WS(url, "v4.channel.k8s.io")
        got = _collect(ws)
        ws.close()
        assert got.get(1) == b"out\n" and got.get(2) == b"err\n"
        status = json.loads(got[3])
        assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"][0]["message"] == "2"
        url = rt.PortForward(cri.PortForwardRequest(pod_sandbox_id=pod, port=[8080])).url
        ws = WS(url + "?port=8080", "portforward.k8s.io")
        first = [ws.recv(), ws.recv()]
        assert sorted(m[0] for m in first if m) == [0, 1] and all(m and m[1] == b"\x90\x1f" for m in first)
        ws.send(0, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        body = b""
        while b"hello-cri from web" not in body:
            m = ws.recv()
            assert m is not None, body
            if m[0] == 0:
                body += m[1]
        ws.close()

        # attach: a third container's live output over WebSocket
        talker = rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=_container(
            "talker", "busybox", ["sh", "-c", "while true; do echo tick; sleep 0.2; done"]), sandbox_config=pcfg)
        ).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=talker))
        url = rt.Attach(cri.AttachRequest(container_id=talker, stdout=True, stderr=True)).url
        ws = WS(url, "v4.channel.k8s.io")
        out = b""
        while b"tick\n" not in out:
            m = ws.recv()
            assert m is not None
            if m[0] == 1:
                out += m[1]
        ws.close()
        rt.StopContainer(cri.StopContainerRequest(container_id=talker, timeout=5))
        ts = rt.ContainerStatus(cri.ContainerStatusRequest(container_id=talker)).status
        assert ts.state == cri.CONTAINER_EXITED and ts.exit_code == 143 and ts.reason == "Error"
        rt.RemoveContainer(cri.RemoveContainerRequest(container_id=talker))
        with pytest.raises(grpc.RpcError) as ei:
            rt.ContainerStatus(cri.ContainerStatusRequest(container_id=talker))
        assert _code(ei) == grpc.StatusCode.NOT_FOUND

        # lists and filters
        def pods(**kw: Any) -> set[str]:
            return {p.id for p in rt.ListPodSandbox(cri.ListPodSandboxRequest(filter=cri.PodSandboxFilter(**kw))).items}

        assert pods(label_selector={"app": pcfg.metadata.name}) == {pod}
        assert pods(label_selector={"app": "other"}) == set()
        assert pods(id=pod[:12]) == {pod}
        assert pods(state=cri.PodSandboxStateValue(state=cri.SANDBOX_NOTREADY)) == set()

        def ctrs(**kw: Any) -> set[str]:
            return {c.id for c in rt.ListContainers(cri.ListContainersRequest(
                filter=cri.ContainerFilter(**kw))).containers}

        assert ctrs(pod_sandbox_id=pod) == {web, client}
        assert ctrs(label_selector={"c": "web"}) == {web}
        assert ctrs(state=cri.ContainerStateValue(state=cri.CONTAINER_RUNNING)) == {web, client}
        assert ctrs(state=cri.ContainerStateValue(state=cri.CONTAINER_EXITED)) == set()
        for call, req in ((rt.ContainerStatus, cri.ContainerStatusRequest(container_id="nope")),
                          (rt.PodSandboxStatus, cri.PodSandboxStatusRequest(pod_sandbox_id="nope")),
                          (rt.StartContainer, cri.StartContainerRequest(container_id="nope")),
                          (rt.ExecSync, cri.ExecSyncRequest(container_id="nope", cmd=["true"])),
                          (rt.CreateContainer, cri.CreateContainerRequest(pod_sandbox_id="nope",
                                                                          config=_container("x", "busybox", ["true"])))):
            with pytest.raises(grpc.RpcError) as ei:
                call(req)
            assert _code(ei) == grpc.StatusCode.NOT_FOUND, call
        with pytest.raises(grpc.RpcError) as ei:
            rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=_container("x", "nope:1", ["true"])))
        assert _code(ei) == grpc.StatusCode.NOT_FOUND
        stats = rt.ListContainerStats(cri.ListContainerStatsRequest()).stats
        assert {s.attributes.id for s in stats} == {web, client}
        assert all(s.memory.usage_bytes.value > 0 and s.cpu.usage_core_nano_seconds.value > 0 for s in stats)
        pstats = rt.PodSandboxStats(cri.PodSandboxStatsRequest(pod_sandbox_id=pod)).stats
        assert {c.attributes.id for c in pstats.linux.containers} == {web, client}
        rt.UpdateContainerResources(cri.UpdateContainerResourcesRequest(
            container_id=web, linux=cri.LinuxContainerResources(memory_limit_in_bytes=96 << 20)))
        # ReopenContainerLog: kubelet renamed the file; new output goes to a new file at the path
        web_log.rename(web_log.with_suffix(".log.1"))
        rt.ReopenContainerLog(cri.ReopenContainerLogRequest(container_id=web))
        assert web_log.exists()

        # a container that exits while seaboxd is down: its exit is recorded after the restart
        oneshot = rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=_container(
            "oneshot", "busybox", ["sh", "-c", "sleep 2; exit 7"]), sandbox_config=pcfg)).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=oneshot))

    # seaboxd restarted with the pod running: everything still listed and running
    with env.running():
        rt = env.rt
        p = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
        assert p.state == cri.SANDBOX_READY and p.network.ip == ip
        states = {c.id: c.state for c in rt.ListContainers(cri.ListContainersRequest()).containers}
        assert states[web] == cri.CONTAINER_RUNNING and states[client] == cri.CONTAINER_RUNNING
        done = _wait(lambda: (lambda st: st if st.state == cri.CONTAINER_EXITED else None)(
            rt.ContainerStatus(cri.ContainerStatusRequest(container_id=oneshot)).status), "the oneshot's exit")
        assert done.exit_code == 7 and done.reason == "Error"
        rt.RemoveContainer(cri.RemoveContainerRequest(container_id=oneshot))
        r = rt.ExecSync(cri.ExecSyncRequest(container_id=client, cmd=["wget", "-qO-", "http://127.0.0.1:8080/"],
                                            timeout=30))
        assert r.stdout == b"hello-cri from web\n"

        # stop (timeout, then SIGKILL) and remove everything
        rt.StopContainer(cri.StopContainerRequest(container_id=client, timeout=2))
        cs = rt.ContainerStatus(cri.ContainerStatusRequest(container_id=client)).status
        assert cs.state == cri.CONTAINER_EXITED and cs.finished_at > 0
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod))
        assert rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod)).status.state == \
            cri.SANDBOX_NOTREADY
        assert rt.ContainerStatus(cri.ContainerStatusRequest(container_id=web)).status.state == cri.CONTAINER_EXITED
        rt.RemoveContainer(cri.RemoveContainerRequest(container_id=client))
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod))
        assert rt.ListPodSandbox(cri.ListPodSandboxRequest()).items == []
        assert rt.ListContainers(cri.ListContainersRequest()).containers == []
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod))  # idempotent
        env.img.RemoveImage(cri.RemoveImageRequest(image=cri.ImageSpec(image=ref)))
        assert not env.img.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image="busybox"))).HasField("image")


def test_cri_network_not_ready_without_config(env: Env) -> None:
    for f in (env.tmp / "net.d").iterdir():
        f.unlink()
    with env.running():
        st = env.rt.Status(cri.StatusRequest())
        net = next(c for c in st.status.conditions if c.type == "NetworkReady")
        assert not net.status and net.reason == "NetworkPluginNotReady"
        with pytest.raises(grpc.RpcError) as ei:
            env.rt.RunPodSandbox(cri.RunPodSandboxRequest(config=_pod_config(env, f"{env.tag}-x")))
        assert _code(ei) == grpc.StatusCode.FAILED_PRECONDITION
        assert env.rt.ListPodSandbox(cri.ListPodSandboxRequest()).items == []


def test_cri_host_network_security_and_target_pid(env: Env) -> None:
    with env.running():
        rt, img = env.rt, env.img
        img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image="busybox")))
        pcfg = _pod_config(env, f"{env.tag}-host")
        pcfg.linux.sysctls.clear()
        pcfg.linux.security_context.namespace_options.network = cri.NODE
        pod = rt.RunPodSandbox(cri.RunPodSandboxRequest(config=pcfg)).pod_sandbox_id
        st = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod, verbose=True))
        assert st.status.linux.namespaces.options.network == cri.NODE
        assert json.loads(st.info["info"])["netNamespacePath"] == ""
        c = _container("locked", "busybox", ["sleep", "3600"], cri.CONTAINER)
        sc = c.linux.security_context
        sc.run_as_user.value = 1000
        sc.readonly_rootfs = True
        sc.no_new_privs = True
        sc.supplemental_groups.append(2000)
        cid = rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=c, sandbox_config=pcfg)
                                 ).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=cid))

        def run(c: str, *cmd: str) -> cri.ExecSyncResponse:
            return rt.ExecSync(cri.ExecSyncRequest(container_id=c, cmd=list(cmd), timeout=30))

        assert run(cid, "id", "-u").stdout == b"1000\n"
        assert b"2000" in run(cid, "id", "-G").stdout
        assert run(cid, "touch", "/x").exit_code != 0  # read-only rootfs
        assert b"NoNewPrivs:\t1" in run(cid, "cat", "/proc/self/status").stdout
        assert run(cid, "hostname").stdout.decode().strip() == os.uname().nodename  # the host's network and name
        # a container in another container's pid namespace (TARGET)
        t = _container("peek", "busybox", ["sleep", "3600"], cri.TARGET)
        t.linux.security_context.namespace_options.target_id = cid
        tid = rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=t, sandbox_config=pcfg)
                                 ).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=tid))
        assert run(tid, "cat", "/proc/1/cmdline").stdout == b"sleep\x003600\x00"
        assert b"sleep 3600" in run(tid, "ps").stdout
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod))
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod))
        assert rt.ListContainers(cri.ListContainersRequest()).containers == []


def test_cri_sandbox_image_instead_of_the_builtin_pause(env: Env) -> None:
    import sys

    from seabox.cri.pause import write_image_archive

    name = f"seabox.local/{env.tag}/pause:1"
    env.conf.write_text(env.conf.read_text().replace("[plugins.cri]\n", f'[plugins.cri]\nsandbox_image = "{name}"\n', 1))
    archive = env.tmp / "pause.tar"
    write_image_archive(archive, name)
    with env.running() as d:
        rt = env.rt
        subprocess.run([sys.executable, "-m", "seabox.cli.ctr", "--address", str(d.address), "--namespace", "k8s.io",
                        "images", "import", str(archive)], check=True, capture_output=True)
        pcfg = _pod_config(env, f"{env.tag}-img")
        pod = rt.RunPodSandbox(cri.RunPodSandboxRequest(config=pcfg)).pod_sandbox_id
        st = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod, verbose=True))
        assert st.status.state == cri.SANDBOX_READY and st.status.network.ip
        pid = json.loads(st.info["info"])["pid"]
        roots = [ln.split(" - ")[1].split()[0] for ln in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
                 if ln.split()[4] == "/"]
        assert roots[-1] == "overlay"  # the image's snapshot (the built-in pause is a bind mount of a directory)
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:3] == [b"sleep", b"2147483647"]
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod))
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod))
        assert rt.ListPodSandbox(cri.ListPodSandboxRequest()).items == []
