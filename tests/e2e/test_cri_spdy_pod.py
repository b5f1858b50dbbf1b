"""CRI streaming over SPDY/3.1 end to end: exec, tty exec with resize, attach, port-forward.

seaboxd runs as in ``test_cri_pod`` (its ``env`` fixture: temp dirs, own conflist, subnet and
bridge, a teardown that checks for and removes leaks); the client is the stdlib SPDY client of
``tests/unit/test_cri_spdy_client.py``, opening its streams as kubelet's remotecommand and
portforward clients do.
"""

from __future__ import annotations

import json
import os

import pytest
from tests.e2e.test_cri_pod import Env, _container, _pod_config, _wait, env  # noqa: F401
from tests.unit.test_cri_spdy_client import SpdyClient

from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri

pytestmark = [pytest.mark.e2e, pytest.mark.root]

V4 = "v4.channel.k8s.io"


def _exec_streams(c: SpdyClient, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> dict[str, int]:
    """The streams remotecommand's v4 client opens, in its order."""
    ids = {"error": c.open({"streamType": "error"})}
    for name, want in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr and not tty), ("resize", tty)):
        if want:
            ids[name] = c.open({"streamType": name})
    return ids


def _pod_with_web(e: Env) -> tuple[str, str, cri.PodSandboxConfig]:
    img = e.img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image="busybox"))).image_ref
    assert img.startswith("sha256:")
    pcfg = _pod_config(e, f"{e.tag}-spdy")
    pod = e.rt.RunPodSandbox(cri.RunPodSandboxRequest(config=pcfg)).pod_sandbox_id
    cmd = ["sh", "-c", 'mkdir -p /www && echo "$GREETING over spdy" > /www/index.html && exec httpd -f -p 8080 -h /www']
    web = e.rt.CreateContainer(cri.CreateContainerRequest(
        pod_sandbox_id=pod, config=_container("web", "busybox", cmd), sandbox_config=pcfg)).container_id
    e.rt.StartContainer(cri.StartContainerRequest(container_id=web))
    return pod, web, pcfg


def test_cri_spdy_exec_tty_attach_portforward(env: Env) -> None:  # noqa: F811
    with env.running():
        rt = env.rt
        pod, web, pcfg = _pod_with_web(env)
        _wait(lambda: rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=["wget", "-qO-", "http://127.0.0.1:8080/"],
                                                      timeout=10)).exit_code == 0, "httpd in the pod")

        # exec: stdout, stderr and a non-zero exit code in a v4 Status
        url = rt.Exec(cri.ExecRequest(container_id=web, cmd=["sh", "-c", "echo out; echo err >&2; exit 2"],
                                      stdout=True, stderr=True)).url
        c = SpdyClient.dial(url, [V4, "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"])
        assert c.protocol == V4
        ids = _exec_streams(c, stdin=False, stdout=True, stderr=True, tty=False)
        status = json.loads(c.read_all(ids["error"]))
        assert c.read_all(ids["stdout"]) == b"out\n" and c.read_all(ids["stderr"]) == b"err\n"
        assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "2"}]
        c.close()

        # a command that cannot start: a Failure status, and the session ends
        url = rt.Exec(cri.ExecRequest(container_id=web, cmd=["/no/such/binary"], stdout=True, stderr=True)).url
        c = SpdyClient.dial(url, [V4])
        ids = _exec_streams(c, stdin=False, stdout=True, stderr=True, tty=False)
        assert json.loads(c.read_all(ids["error"]))["status"] == "Failure"
        c.close()

        # exec with stdin: data in, EOF (the stdin stream's FIN) ends cat, Success
        url = rt.Exec(cri.ExecRequest(container_id=web, cmd=["cat"], stdin=True, stdout=True, stderr=True)).url
        c = SpdyClient.dial(url, [V4])
        ids = _exec_streams(c, stdin=True, stdout=True, stderr=True, tty=False)
        c.write(ids["stdin"], b"through stdin\n" + b"x" * 100000)
        c.write(ids["stdin"], b"\nend\n", fin=True)
        assert json.loads(c.read_all(ids["error"])) == {"metadata": {}, "status": "Success"}
        assert c.read_all(ids["stdout"]) == b"through stdin\n" + b"x" * 100000 + b"\nend\n"
        assert sum(d for s, d in c.window_updates if s == ids["stdin"]) == 100000 + 19  # consumed, acknowledged
        c.close()

        # a tty exec: the size sent on the resize stream reaches the terminal
        url = rt.Exec(cri.ExecRequest(container_id=web, tty=True, stdin=True, stdout=True, cmd=[
            "sh", "-c", 'i=0; while [ "$(stty size 2>/dev/null)" != "27 91" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; '
            'echo "size $(stty size)"; [ -t 0 ] && echo tty-yes'])).url
        c = SpdyClient.dial(url, [V4])
        ids = _exec_streams(c, stdin=True, stdout=True, stderr=True, tty=True)
        assert "stderr" not in ids
        c.write(ids["resize"], b'{"Width":91,"Height":27}')
        assert json.loads(c.read_all(ids["error"]))["status"] == "Success"
        out = c.read_all(ids["stdout"])
        assert b"size 27 91\r\n" in out and b"tty-yes\r\n" in out, out
        c.close()

        # attach: a running container's output over SPDY
        talker = rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=_container(
            "talker", "busybox", ["sh", "-c", "while true; do echo tick; sleep 0.2; done"]), sandbox_config=pcfg)
        ).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=talker))
        url = rt.Attach(cri.AttachRequest(container_id=talker, stdout=True, stderr=True)).url
        c = SpdyClient.dial(url, [V4])
        ids = _exec_streams(c, stdin=False, stdout=True, stderr=True, tty=False)
        out = b""
        while b"tick\ntick\n" not in out:
            chunk = c.read(ids["stdout"])
            assert chunk is not None, out
            out += chunk
        rt.StopContainer(cri.StopContainerRequest(container_id=talker, timeout=5))
        assert json.loads(c.read_all(ids["error"]))["status"] == "Success"  # the attach ends with the container
        c.close()

        # port-forward: two requests on one connection to httpd inside the pod's network namespace
        url = rt.PortForward(cri.PortForwardRequest(pod_sandbox_id=pod, port=[8080])).url
        c = SpdyClient.dial(url, ["portforward.k8s.io"])
        assert c.protocol == "portforward.k8s.io"
        for rid in ("0", "1"):
            e = c.open({"streamType": "error", "port": "8080", "requestID": rid})
            c.write(e, b"", fin=True)
            d = c.open({"streamType": "data", "port": "8080", "requestID": rid})
            c.write(d, f"GET / HTTP/1.0\r\nHost: req-{rid}\r\n\r\n".encode(), fin=True)
            body = c.read_all(d)
            assert body.startswith(b"HTTP/1.") and body.endswith(b"hello-cri over spdy\n"), body
            assert c.read_all(e) == b""
        # a port nothing listens on: the error stream says so
        e = c.open({"streamType": "error", "port": "8081", "requestID": "2"})
        d = c.open({"streamType": "data", "port": "8081", "requestID": "2"})
        assert b"localhost:8081" in c.read_all(e)
        c.close()

        assert os.listdir(env.tmp / "state" / "cri" / "exec") == []  # no exec FIFOs left behind
        env.remove_all()
