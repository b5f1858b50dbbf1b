"""Interop: seaboxd's CRI streaming server against spdystream, the SPDY library of kubelet and crictl.

``tools/spdyclient`` (Go, Debian's golang-github-docker-spdystream-dev in GOPATH mode, no
network) is built into a temp dir and driven against the URLs seaboxd's CRI hands out:
exec with stdout, stderr and an exit code; exec with stdin; a tty exec resized through the resize
stream; port-forward to httpd in a pod.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.e2e.test_cri_pod import Env, _container, _pod_config, _wait, env  # noqa: F401

from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri

pytestmark = [pytest.mark.interop, pytest.mark.root]

SRC = Path(__file__).resolve().parents[2] / "tools" / "spdyclient"
GOPATH = "/usr/share/gocode"


@pytest.fixture(scope="module")
def spdyclient(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    assert go, "go is missing: scripts/setup.sh installs golang-go and golang-github-docker-spdystream-dev"
    assert Path(GOPATH, "src/github.com/moby/spdystream/connection.go").exists(), "spdystream sources are missing"
    out = tmp_path_factory.mktemp("spdyclient")
    envv = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOCACHE": str(out / "gocache"),
            "GOFLAGS": "", "GOPROXY": "off", "CGO_ENABLED": "0"}
    r = subprocess.run([go, "build", "-o", str(out / "spdyclient"), "."], cwd=SRC, env=envv, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out / "spdyclient"


def _run(client: Path, *args: str) -> dict:
    r = subprocess.run([str(client), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_cri_spdy_exec_and_portforward_with_spdystream(env: Env, spdyclient: Path) -> None:  # noqa: F811
    with env.running():
        rt = env.rt
        env.img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image="busybox")))
        pcfg = _pod_config(env, f"{env.tag}-go")
        pod = rt.RunPodSandbox(cri.RunPodSandboxRequest(config=pcfg)).pod_sandbox_id
        cmd = ["sh", "-c", "mkdir -p /www && echo served-to-go > /www/index.html && exec httpd -f -p 8080 -h /www"]
        web = rt.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=_container("web", "busybox", cmd), sandbox_config=pcfg)).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=web))

        url = rt.Exec(cri.ExecRequest(container_id=web, cmd=["sh", "-c", "echo spdy-ok; exit 3"],
                                      stdout=True, stderr=True)).url
        got = _run(spdyclient, "-mode", "exec", "-url", url)
        assert got["protocol"] == "v4.channel.k8s.io"
        assert got["stdout"] == "spdy-ok\n" and got.get("stderr", "") == ""
        status = json.loads(got["error"])
        assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]

        url = rt.Exec(cri.ExecRequest(container_id=web, cmd=["sh", "-c", "cat; echo oops >&2"],
                                      stdin=True, stdout=True, stderr=True)).url
        got = _run(spdyclient, "-mode", "exec", "-url", url, "-stdin", "from go\n")
        assert (got["stdout"], got["stderr"]) == ("from go\n", "oops\n")
        assert json.loads(got["error"])["status"] == "Success"

        url = rt.Exec(cri.ExecRequest(container_id=web, tty=True, stdout=True, cmd=[
            "sh", "-c", 'i=0; while [ "$(stty size 2>/dev/null)" != "27 91" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; '
            'echo "size $(stty size)"; exit 4'])).url
        got = _run(spdyclient, "-mode", "exec", "-url", url, "-tty", "-size", "91x27")
        assert got["stdout"] == "size 27 91\r\n", got
        assert json.loads(got["error"])["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]

        _wait(lambda: rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["wget", "-qO-", "http://127.0.0.1:8080/"],
                                                      timeout=10)).exit_code == 0, "httpd in the pod")
        url = rt.PortForward(cri.PortForwardRequest(pod_sandbox_id=pod, port=[8080])).url
        got = _run(spdyclient, "-mode", "portforward", "-url", url, "-port", "8080",
                   "-send", r"GET / HTTP/1.0\r\nHost: go\r\n\r\n")
        assert got["protocol"] == "portforward.k8s.io" and got["error"] == ""
        assert got["data"].startswith("HTTP/1.") and got["data"].endswith("served-to-go\n")

        env.remove_all()
