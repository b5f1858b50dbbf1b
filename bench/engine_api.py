"""Engine API benchmarks: the mux's per-RPC cost, and a docker-style ``run --rm`` over HTTP.

1. gRPC ``Version`` calls on one channel (50 per sample, reported per call): straight to the
   internal gRPC socket vs through seaboxd's mux (splice threads) vs through a mux in this
   process using recv/sendall (the fallback path; it also competes for this process's GIL).
2. ``run --rm busybox true`` as the docker CLI does it over the Engine API: create
   (AutoRemove), start, wait?condition=removed — with ``--network none`` and with the default
   bridge network (CNI add/del included).

Usage: ``sudo .venv/bin/python -m bench.engine_api [--copy]`` (``--copy``: seaboxd's mux uses recv/sendall) (needs the fixture registry and root).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from bench.harness import Contender, compare

CALLS = 50


def main() -> int:
    import grpc
    from google.protobuf import empty_pb2

    from seabox.api.gen.containerd.api.services.version.v1 import version_pb2_grpc as vgrpc
    from seabox.daemon.tasks.testing import purge
    from seabox.daemon.testing import seaboxd
    from seabox.engine.mux import Mux
    from seabox.engine.testing import EngineClient

    tag = "sbt-" + secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix="sbt", dir="/tmp"))
    state = Path(f"/tmp/{tag.replace('-', '')}")
    hosts = work / "certs.d" / "docker.io"
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text('server = "https://registry-1.docker.io"\n'
                                      '[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n')
    cfg = work / "engine.json"
    cfg.write_text(json.dumps({"hosts_dir": str(work / "certs.d"), "network": {
        "conf_dir": str(work / "net.d"), "bin_dirs": ["/usr/lib/cni"], "default_bridge": f"{tag}-d",
        "bridge_prefix": tag, "admin_chain": f"SBT-{tag[4:].upper()}-ADMIN", "subnet_start": "10.247.0.0/24",
        "file_prefix": f"{tag}-"}, "mux_splice": "--copy" not in sys.argv}))
    os.environ["SEABOX_ENGINE_CONFIG"] = str(cfg)
    results = {}
    try:
        with seaboxd(work, "--state", str(state)) as d:
            api = EngineClient(str(d.address))
            for _ in api.stream("POST", "/images/create", {"fromImage": "busybox:latest"}):
                pass
            internal = state / "grpc.sock"
            copy_sock = work / "copy.sock"
            copy_mux = Mux(copy_sock, internal, lambda c: c.close(), use_splice=False)
            copy_mux.start()
            chans = {name: grpc.insecure_channel(f"unix:{path}") for name, path in
                     (("direct", internal), ("seaboxd mux " + ("copy" if "--copy" in sys.argv else "splice"), d.address),
                      ("bench-process mux copy", copy_sock))}
            stubs = {k: vgrpc.VersionStub(c) for k, c in chans.items()}
            for s in stubs.values():
                s.Version(empty_pb2.Empty())

            def calls(stub: vgrpc.VersionStub) -> None:
                for _ in range(CALLS):
                    stub.Version(empty_pb2.Empty())

            results["grpc"] = compare("engine_mux_grpc_version_x50", [
                Contender(f"{k} x{CALLS}", (lambda s=s: calls(s))) for k, s in stubs.items()
            ], runs=20, warmup=3, baseline=f"direct x{CALLS}")

            def run_rm(network: str) -> None:
                c = EngineClient(str(d.address))
                cid = c.json("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"],
                                                            "HostConfig": {"AutoRemove": True,
                                                                           "NetworkMode": network}})["Id"]
                done = threading.Event()

                def wait() -> None:
                    EngineClient(str(d.address)).json("POST", f"/containers/{cid}/wait",
                                                      query={"condition": "removed"})
                    done.set()

                t = threading.Thread(target=wait)
                t.start()
                c.json("POST", f"/containers/{cid}/start")
                t.join()
                c.close()

            contenders = [
                Contender("http run --rm (network none)", lambda: run_rm("none")),
                Contender("http run --rm (bridge)", lambda: run_rm("bridge")),
            ]
            if shutil.which("docker"):  # the real docker CLI as the client of seaboxd
                contenders.append(Contender("docker CLI run --rm (none)", [
                    "docker", "-H", f"unix://{d.address}", "run", "--rm", "--network", "none", "busybox", "true"]))
            results["run"] = compare("engine_run_rm_busybox_true", contenders, runs=15, warmup=2,
                                     baseline="http run --rm (network none)")
            for c in chans.values():
                c.close()
            copy_mux.close()
    finally:
        purge(state)
        from seabox.network import iptables as ipt
        from seabox.network import netlink
        from seabox.network.manager import Networks, Settings

        s = Settings(conf_dir=str(work / "net.d"), bin_dirs=("/usr/lib/cni",), state_dir=str(state / "network"),
                     netns_dir=str(state / "netns"), default_bridge=f"{tag}-d", bridge_prefix=tag,
                     admin_chain=f"SBT-{tag[4:].upper()}-ADMIN", file_prefix=f"{tag}-")
        for n in Networks(s).list():
            try:
                Networks(s).remove(n.name, allow_default=True)
            except Exception as e:  # report and go on
                print("network cleanup:", e, file=sys.stderr)
        for link in netlink.link_names():
            if link.startswith(tag):
                netlink.delete_link(link)
        ipt.remove_idle_chains(s.admin_chain)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    per_call = {k: v["median"] / CALLS * 1000 for k, v in results["grpc"]["results"].items()}
    print("\nper gRPC call (µs):", {k: round(v, 1) for k, v in per_call.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
