"""Pod start latency through the CRI: seaboxd vs containerd 1.6's CRI plugin.

Timed: RunPodSandbox + CreateContainer + StartContainer (busybox ``sleep 3600``) over gRPC on
the daemon's unix socket.  Untimed after each run: StopPodSandbox + RemovePodSandbox.

Both daemons are private (temp root/state/socket), each with its own CNI conf dir (bridge +
host-local, its own ``sbt-`` bridge and test subnet) and a hosts dir that serves the fixture
registry over plain HTTP.  containerd runs with ``restrict_oom_score_adj = true`` (root here
lacks CAP_SYS_RESOURCE) and, since no pause image can come from the internet, with a pause
image made here (the host's static busybox running ``sleep``, imported with ``ctr``): both
sides run the same pause program.

    sudo .venv/bin/python bench/cri_pod.py [--runs 10]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from bench.harness import Contender, compare
from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri
from seabox.api.gen.cri.runtime.v1 import api_pb2_grpc as cri_grpc
from seabox.network import iptables as ipt
from seabox.network import netlink, subnets

IMAGE = "127.0.0.1:5000/library/busybox:latest"
PAUSE = "seabox.local/pause:bench"


def _subnet(first: int) -> str:
    start = ipaddress.IPv4Network(f"10.{first}.{secrets.randbelow(200)}.0/24")
    return str(subnets.pick_subnet(subnets.host_routes(), subnets.candidates(start)))


def _conflist(d: Path, name: str, bridge: str, subnet: str) -> None:
    d.mkdir(parents=True)
    (d / "10-bench.conflist").write_text(json.dumps({
        "cniVersion": "0.4.0", "name": name,
        "plugins": [{"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(d / "ipam")}},
                    {"type": "portmap", "capabilities": {"portMappings": True}}]}))


def _hosts(d: Path) -> None:
    (d / "127.0.0.1:5000").mkdir(parents=True)
    (d / "127.0.0.1:5000" / "hosts.toml").write_text(
        'server = "http://127.0.0.1:5000"\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n')


def pause_image_tar(path: Path) -> None:
    from seabox.cri.pause import write_image_archive

    write_image_archive(path, PAUSE)


@contextlib.contextmanager
def private_containerd(tmp: Path, conf_dir: Path, hosts: Path) -> Iterator[str]:
    tmp.mkdir(parents=True)
    address = str(tmp / "c.sock")
    (tmp / "config.toml").write_text(f"""version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{address}"
[ttrpc]
  address = "{address}.ttrpc"
[debug]
  address = "{tmp}/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  restrict_oom_score_adj = true
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{conf_dir}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{hosts}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
""")
    log = open(tmp / "containerd.log", "w")  # noqa: SIM115
    had_run = Path("/run/containerd").exists()
    proc = subprocess.Popen(["containerd", "--config", str(tmp / "config.toml")], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not Path(address).exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"containerd with CRI did not start: {(tmp / 'containerd.log').read_text()[-2000:]}")
            time.sleep(0.05)
        pause_image_tar(tmp / "pause.tar")
        subprocess.run(["ctr", "-a", address, "-n", "k8s.io", "images", "import", str(tmp / "pause.tar")], check=True,
                       stdout=subprocess.DEVNULL)
        yield address
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        for pid in _pids_mentioning(str(tmp)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for mp in sorted(_mounts_under(str(tmp)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        if not had_run:
            shutil.rmtree("/run/containerd", ignore_errors=True)


def _pids_mentioning(needle: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in Path(f"/proc/{d}/cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(d))
    return out


def _mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(prefix)]


class Client:
    def __init__(self, address: str, tag: str) -> None:
        self.channel = grpc.insecure_channel(f"unix:{address}")
        self.rt = cri_grpc.RuntimeServiceStub(self.channel)
        self.img = cri_grpc.ImageServiceStub(self.channel)
        self.tag = tag
        self.n = 0
        self.pod = ""

    def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                st = self.rt.Status(cri.StatusRequest(), timeout=5)
                if all(c.status for c in st.status.conditions):
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("CRI not ready")
            time.sleep(0.2)

    def pull(self) -> None:
        self.img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=IMAGE)), timeout=300)

    def start_pod(self) -> None:
        self.n += 1
        md = cri.PodSandboxMetadata(name=f"{self.tag}-{self.n}", namespace="bench", uid=secrets.token_hex(8))
        cfg = cri.PodSandboxConfig(metadata=md, hostname="bench", linux=cri.LinuxPodSandboxConfig())
        self.pod = self.rt.RunPodSandbox(cri.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        c = cri.ContainerConfig(metadata=cri.ContainerMetadata(name="sleep"), image=cri.ImageSpec(image=IMAGE),
                                command=["sleep", "3600"])
        cid = self.rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=self.pod, config=c,
                                                                 sandbox_config=cfg)).container_id
        self.rt.StartContainer(cri.StartContainerRequest(container_id=cid))

    def remove_pod(self) -> None:
        if self.pod:
            self.rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=self.pod))
            self.rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=self.pod))
            self.pod = ""

    def remove_all(self) -> None:
        with contextlib.suppress(grpc.RpcError):
            for p in self.rt.ListPodSandbox(cri.ListPodSandboxRequest()).items:
                self.rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=p.id))
                self.rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=p.id))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)
    from seabox.daemon.testing import seaboxd

    tag = "sbt-" + secrets.token_hex(3)
    work = Path("/tmp") / f"b{tag[4:8]}"
    work.mkdir()
    before = ipt.chains("nat") | ipt.chains("filter")
    bridges = [f"{tag}s", f"{tag}c"]
    hosts = work / "certs.d"
    _hosts(hosts)
    _conflist(work / "net-s", f"{tag}-s", bridges[0], _subnet(232))
    _conflist(work / "net-c", f"{tag}-c", bridges[1], _subnet(242))
    (work / "cri.toml").write_text(f"""[plugins.cri]
restrict_oom_score_adj = true
[plugins.cri.cni]
bin_dir = "/usr/lib/cni"
conf_dir = "{work / 'net-s'}"
[plugins.cri.registry]
config_path = "{hosts}"
""")
    os.environ["SEABOX_CRI_CONFIG"] = str(work / "cri.toml")
    clients: list[Client] = []
    try:
        with seaboxd(work / "s") as d, private_containerd(work / "c", work / "net-c", hosts) as caddr:
            sb, cd = Client(str(d.address), f"{tag}-s"), Client(caddr, f"{tag}-c")
            clients = [sb, cd]
            for c in clients:
                c.ready()
                c.pull()
            summary = compare("cri_pod", [
                Contender("seaboxd CRI", sb.start_pod, after=sb.remove_pod),
                Contender("containerd 1.6 CRI", cd.start_pod, after=cd.remove_pod),
            ], runs=args.runs, warmup=args.warmup, baseline="containerd 1.6 CRI")
            for c in clients:
                c.remove_all()
            _ = summary
    finally:
        for b in bridges:
            if netlink.link_exists(b):
                netlink.delete_link(b)
        ipt.remove_idle_chains("", only=(ipt.chains("nat") | ipt.chains("filter")) - before)
        for pid in _pids_mentioning(str(work)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for mp in sorted(_mounts_under(str(work)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
