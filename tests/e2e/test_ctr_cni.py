"""``seabox-ctr run --cni`` against seaboxd: the container gets eth0 on a bridge network of the
test's own (the real bridge/host-local plugins), and ``run --rm`` and ``containers rm`` give the
address back and remove the veth.  Bridge ``sbt-<rand>``, a free subnet, the IPAM state and the
CNI cache all belong to the test and are removed at the end."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seabox.ctr import testing
from seabox.network import netlink, subnets

pytestmark = [pytest.mark.e2e, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
SEABOX_CTR = str(REPO / ".venv" / "bin" / "seabox-ctr")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[tuple[Path, str, str, Path]]:
    import ipaddress

    bridge = f"sbt-{secrets.token_hex(3)}"
    start = ipaddress.IPv4Network(f"10.{200 + secrets.randbelow(20)}.{secrets.randbelow(200)}.0/24")
    subnet = str(subnets.pick_subnet(subnets.host_routes(), subnets.candidates(start)))
    conf = tmp_path / "net.d"
    conf.mkdir()
    ipam = tmp_path / "ipam"
    (conf / "10-sbt.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": bridge,
        "plugins": [{"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(ipam)}}]}))
    try:
        yield conf, bridge, subnet, ipam
    finally:
        if netlink.link_exists(bridge):
            netlink.delete_link(bridge)  # the bridge plugin never removes its bridge


def _leases(ipam: Path, network: str) -> list[str]:
    d = ipam / network
    return sorted(f for f in os.listdir(d) if f[0].isdigit()) if d.is_dir() else []


def _veths_on(bridge: str) -> list[str]:
    base = Path(f"/sys/class/net/{bridge}/brif")
    return sorted(os.listdir(base)) if base.is_dir() else []


def test_run_cni_rm_and_detached(net: tuple[Path, str, str, Path], fixtures_info: dict) -> None:
    conf, bridge, subnet, ipam = net
    img = fixtures_info["images"]["busybox"]["ref"]
    with testing.private_seaboxd() as (d, ns, work):
        run = testing.CtrRunner(SEABOX_CTR, str(d.address), ns, log=lambda: d.log_text()[-3000:])
        run("images", "pull", "--plain-http", img)
        (work / "fifo").mkdir()
        cni = ["--cni", "--cni-conf-dir", str(conf), "--cni-bin-dir", "/usr/lib/cni", "--fifo-dir", str(work / "fifo")]
        prefix = subnet.rsplit(".", 1)[0] + "."
        out = run("run", "--rm", *cni, img, "c1", "ip", "-4", "-o", "addr").stdout
        assert any(ln.split()[1] == "eth0" and ln.split()[3].startswith(prefix) for ln in out.splitlines()), out
        assert any(ln.split()[1] == "lo" and ln.split()[3] == "127.0.0.1/8" for ln in out.splitlines()), out
        assert _leases(ipam, bridge) == [] and _veths_on(bridge) == []  # --rm gave it all back

        run("run", "-d", *cni, img, "c2", "sleep", "300")
        assert len(_leases(ipam, bridge)) == 1 and len(_veths_on(bridge)) == 1
        run("task", "kill", "--signal", "9", "c2")
        deadline = time.monotonic() + 15
        while "STOPPED" not in run("task", "ls").stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        run("containers", "rm", "c2")
        assert _leases(ipam, bridge) == []

        bad = run("run", "--rm", "--cni", "--cni-conf-dir", str(work / "empty"), "--fifo-dir", str(work / "fifo"), img,
                  "c3", "true", check=False)
        assert bad.returncode != 0 and "--cni: " in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        assert run("containers", "ls", "-q").stdout.split() == []
