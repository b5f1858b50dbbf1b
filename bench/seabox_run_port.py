"""`seabox run -d -p` until the first HTTP answer vs `docker run -d -p`, interleaved.

Each run starts nginx (the fixture image nginx:1.26) detached with one published port — a free
127.0.0.1 port picked for that run — and polls it with a plain socket (connect, ``GET /``, read
the status line) every millisecond until nginx answers; the time is from the CLI's start to that
first answer.  The container is removed (``rm -f``) after the clock stops.

seabox: a private seaboxd (``bench.seabox_run.seabox_env``), its default CNI bridge network
(bridge, host-local, portmap: DNAT rules in seaboxd's own chains).  docker: a private dockerd
(temp data/exec root, its own containerd) whose default network is a bridge device created here
(``sbt-<hex>-k``, 10.247.<n>.1/24) with ``--iptables=false``: a second dockerd with iptables on
would fight any other dockerd on the host over the fixed DOCKER chains, so the published port
goes through docker-proxy (``--userland-proxy=true``), which is also what answers 127.0.0.1
traffic in a default docker install.  Traffic goes only to 127.0.0.1 and the bench's own
containers.

Usage: ``sudo .venv/bin/python -m bench.seabox_run_port`` (needs root and the fixtures).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from bench.harness import Contender, compare
from bench.seabox_run import FIXTURES, private_dockerd, seabox_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_answer(port: int, timeout: float = 30.0) -> bytes:
    """Poll 127.0.0.1:port until an HTTP status line comes back; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                line = s.recv(64)
                if line.startswith(b"HTTP/"):
                    return line.split(b"\r\n", 1)[0]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered HTTP on 127.0.0.1:{port} within {timeout}s")
        time.sleep(0.001)


@contextlib.contextmanager
def bridge_device(name: str, cidr: str) -> Iterator[str]:
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", cidr, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


class Runner:
    """One contender: ``run -d -p 127.0.0.1:<port>:80 nginx`` then poll; ``rm -f`` after."""

    def __init__(self, cli: list[str], image: str) -> None:
        self.cli, self.image = cli, image
        self.name = ""
        self.answers: list[bytes] = []

    def run(self) -> None:
        port = free_port()
        self.name = "sbt-port-" + secrets.token_hex(4)
        res = subprocess.run([*self.cli, "run", "-d", "--name", self.name, "-p", f"127.0.0.1:{port}:80", self.image],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(self.cli)} run -d -p: {res.stderr.decode()[-400:]}")
        self.answers.append(first_answer(port))

    def remove(self) -> None:
        if self.name:
            subprocess.run([*self.cli, "rm", "-f", self.name], capture_output=True)
            self.name = ""


def main() -> int:
    runs = int(os.environ.get("SEABOX_BENCH_RUNS", "20"))
    fx = json.loads(FIXTURES.read_text())
    with seabox_env(nginx=True) as env:
        if not env.engine:
            print("seaboxd has no Engine API endpoint", file=sys.stderr)
            return 1
        archive = env.work / "nginx.tar"
        layout, ltag = fx["layouts"]["nginx"], fx["images"]["nginx"]["layout_tag"]
        subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:{ltag}", f"docker-archive:{archive}:nginx:1.26"],
                       check=True, capture_output=True)  # fmt: skip
        (env.work / "docker").mkdir()
        net = secrets.randbelow(200) + 20
        with bridge_device(f"{env.tag}-k", f"10.247.{net}.1/24") as br, private_dockerd(env.work / "docker", br) as dhost:
            docker = ["docker", "-H", dhost]
            subprocess.run([*docker, "load", "-i", str(archive)], check=True, capture_output=True)
            sb = Runner(env.sb, "nginx:1.26")
            dk = Runner(docker, "nginx:1.26")
            contenders = [Contender("seabox run -d -p", sb.run, after=sb.remove),
                          Contender("docker run -d -p", dk.run, after=dk.remove)]  # fmt: skip
            print(f"load average before: {os.getloadavg()}", file=sys.stderr)
            try:
                compare("seabox_run_port_first_answer", contenders, runs=runs, warmup=2,
                        baseline="docker run -d -p")  # fmt: skip
            finally:
                sb.remove()
                dk.remove()
            print(f"load average after: {os.getloadavg()}", file=sys.stderr)
            print(f"answers: seabox {set(sb.answers)}, docker {set(dk.answers)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
