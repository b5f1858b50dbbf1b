"""`seabox run --rm busybox true` vs Debian's `docker run --rm` vs `ctr run --rm`, interleaved.

Each contender runs against a private daemon started here: seaboxd (its Docker Engine API on the
unix socket), dockerd (temp data/exec root, its own containerd, no bridge/iptables) and
containerd (``seabox.testing.peers``).  Every run uses no network (``--network none``; ctr's
default).  Also timed: the CLI's start-up alone (``seabox ps`` vs ``docker ps``) and the
single-file build (dist/seabox) when present.  If seaboxd has no Engine API endpoint the seabox
side is reported as missing and the anchors still run.

Usage: ``sudo .venv/bin/python -m bench.seabox_run`` (needs root and the fixtures).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import Contender, compare

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("SEABOX_FIXTURES", "/var/lib/seabox-fixtures/fixtures.json"))
SEABOX = [str(REPO / ".venv" / "bin" / "seabox")]


@contextlib.contextmanager
def private_dockerd(tmp: Path, bridge: str = "none") -> Iterator[str]:
    """dockerd on ``tmp`` with its own containerd (``seabox.testing.peers.dockerd``); ``bridge``: an
    existing bridge device for its default network (published ports then go through
    docker-proxy; never iptables).  Yields its ``-H`` address."""
    from seabox.testing.peers import dockerd

    with dockerd(tmp, bridge=bridge) as d:
        yield d.host


@dataclasses.dataclass
class Env:
    """A private seaboxd with busybox pulled (``sb``: the seabox CLI pointed at it)."""

    daemon: Any
    sb: list[str]
    work: Path
    tag: str
    archive: Path
    engine: bool


@contextlib.contextmanager
def seabox_env(*seaboxd_args: str, nginx: bool = False, src: Path | None = None) -> Iterator[Env]:
    """seaboxd on temp dirs (its own bridge name, iptables chain and subnet), images pulled through
    a docker.io mirror to the fixtures registry; everything removed afterwards.  ``src``: another
    tree's ``src`` directory (an older revision) for the daemon, its shims and the CLI."""
    from seabox.daemon.tasks.testing import purge
    from seabox.daemon.testing import seaboxd

    fx = json.loads(FIXTURES.read_text())
    layout, ltag = fx["layouts"]["busybox"], fx["images"]["busybox"]["layout_tag"]
    tag = "sbt-" + secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix="sbt", dir="/tmp"))
    state = Path(f"/tmp/{tag.replace('-', '')}")
    archive = work / "busybox.tar"
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:{ltag}", f"docker-archive:{archive}:busybox:latest"],
                   check=True, capture_output=True)  # fmt: skip
    hosts = work / "certs.d" / "docker.io"
    hosts.mkdir(parents=True)
    reg = fx["registries"]["open"]["host"]
    (hosts / "hosts.toml").write_text(f'server = "https://registry-1.docker.io"\n[host."http://{reg}"]\n  capabilities = ["pull", "resolve"]\n')
    cfg = work / "engine.json"
    cfg.write_text(json.dumps({"hosts_dir": str(work / "certs.d"), "network": {
        "conf_dir": str(work / "net.d"), "bin_dirs": ["/usr/lib/cni"], "default_bridge": f"{tag}-d",
        "bridge_prefix": tag, "admin_chain": f"SBT-{tag[4:].upper()}-ADMIN", "subnet_start": "10.246.0.0/24",
        "file_prefix": f"{tag}-"}}))  # fmt: skip
    os.environ["SEABOX_ENGINE_CONFIG"] = str(cfg)
    try:
        old_path = os.environ.get("PYTHONPATH")
        if src is not None:
            os.environ["PYTHONPATH"] = str(src)
        try:
            cm = seaboxd(work / "seaboxd", "--state", str(state), *seaboxd_args)
            d = cm.__enter__()
        finally:
            if src is not None:
                if old_path is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = old_path
        with contextlib.ExitStack() as stack:
            stack.push(cm)
            cli = SEABOX if src is None else [sys.executable, "-I", "-S", "-c",
                                              f"import sys; sys.path.insert(0, {str(src)!r}); "
                                              "from seabox.cli.seabox import main; sys.exit(main())"]  # fmt: skip
            sb = [*cli, "--address", str(d.address)]
            probe = subprocess.run([*sb, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
            engine = probe.returncode == 0 and probe.stdout.strip() != ""
            if engine:
                for image in ("busybox", "nginx:1.26") if nginx else ("busybox",):
                    pulled = subprocess.run([*sb, "pull", "-q", image], capture_output=True, text=True)
                    if pulled.returncode != 0:
                        raise RuntimeError(f"seabox pull {image}: {pulled.stderr.strip()[-500:]}")
            else:
                print(f"seaboxd at {d.address} has no Docker Engine API endpoint: {probe.stderr.strip()[:200]}"
                      " — the seabox side is missing from this run", file=sys.stderr)  # fmt: skip
            yield Env(d, sb, work, tag, archive, engine)
    finally:
        purge(state)
        from seabox.network import iptables as ipt
        from seabox.network import netlink
        from seabox.network.manager import Networks, Settings

        s = Settings(conf_dir=str(work / "net.d"), bin_dirs=("/usr/lib/cni",), state_dir=str(state / "network"),
                     netns_dir=str(state / "netns"), default_bridge=f"{tag}-d", bridge_prefix=tag,
                     admin_chain=f"SBT-{tag[4:].upper()}-ADMIN", file_prefix=f"{tag}-")  # fmt: skip
        for net in Networks(s).list():
            with contextlib.suppress(Exception):
                Networks(s).remove(net.name, allow_default=True)
        for link in netlink.link_names():
            if link.startswith(tag):
                netlink.delete_link(link)
        ipt.remove_idle_chains(s.admin_chain)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


def main() -> int:
    from seabox.testing.peers import containerd

    runs = int(os.environ.get("SEABOX_BENCH_RUNS", "20"))
    with seabox_env() as env:
        (env.work / "docker").mkdir()
        (env.work / "containerd").mkdir()
        with private_dockerd(env.work / "docker") as dhost, containerd(env.work / "containerd") as ctrd:
            sb = env.sb
            subprocess.run(["docker", "-H", dhost, "load", "-i", str(env.archive)], check=True, capture_output=True)
            ctrd.ctr("images", "import", "--base-name", "docker.io/library/busybox", str(env.archive))
            ctr_ref = "docker.io/library/busybox:latest"
            contenders = []
            if env.engine:
                contenders.append(Contender("seabox run --rm", [*sb, "run", "--rm", "--network", "none", "busybox", "true"]))
                single = REPO / "dist" / "seabox"
                if single.exists() and os.environ.get("SEABOX_BENCH_SINGLE", "1") != "0":
                    contenders.append(Contender("dist/seabox run --rm", [str(single), "--address", str(env.daemon.address),
                                                                         "run", "--rm", "--network", "none", "busybox",
                                                                         "true"]))  # fmt: skip
            contenders.append(Contender("docker run --rm", ["docker", "-H", dhost, "run", "--rm", "--network", "none", "busybox", "true"]))
            n = [0]

            def ctr_run() -> None:
                n[0] += 1
                ctrd.ctr("run", "--rm", ctr_ref, f"sbt-bench-{n[0]}", "true")

            contenders.append(Contender("ctr run --rm", ctr_run))
            print(f"load average before: {os.getloadavg()}", file=sys.stderr)
            compare("seabox_run_rm_busybox_true", contenders, runs=runs, warmup=2, baseline="ctr run --rm")
            startup = [Contender("docker ps", ["docker", "-H", dhost, "ps"])]
            if env.engine:
                startup.insert(0, Contender("seabox ps", [*sb, "ps"]))
            startup.append(Contender("python -I -S -c pass", [sys.executable, "-I", "-S", "-c", "pass"]))
            compare("seabox_cli_ps_startup", startup, runs=runs, warmup=3, baseline="docker ps")
            print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
