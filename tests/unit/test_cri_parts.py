"""CRI pieces without a daemon: config, log format, WebSocket framing, records, pause rootfs, auth."""

from __future__ import annotations

import base64
import io
import os
import re
import threading
from pathlib import Path

import pytest

from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri
from seabox.cri import config, logs, pause, store, streaming
from seabox.cri.api import credentials
from seabox.errdefs import InvalidArgument


def test_config_defaults_and_table(tmp_path: Path) -> None:
    c = config.load("/r", "/s", env={})
    assert c.root == "/r/cri" and c.state == "/s/cri" and c.cni_conf_dir == "/etc/seabox/cni/net.d"
    f = tmp_path / "cri.toml"
    f.write_text('[plugins.cri]\nrestrict_oom_score_adj = true\nstream_server_port = 10010\n'
                 '[plugins.cri.cni]\nbin_dir = "/b"\nconf_dir = "/c"\n[plugins.cri.registry]\nconfig_path = "/h"\n')
    c = config.load("/r", "/s", env={config.ENV: str(f)})
    assert c.restrict_oom_score_adj and c.stream_server_port == 10010
    assert (c.cni_bin_dirs, c.cni_conf_dir, c.hosts_dir()) == (["/b"], "/c", "/h")


@pytest.mark.parametrize("text", ['[plugins.cri]\ntypo = 1\n', '[plugins.cri]\nrestrict_oom_score_adj = "yes"\n',
                                  '[plugins.cri.cni]\nbogus = 1\n', 'other = 1\n', '[plugins.cri\n'])
def test_config_errors(tmp_path: Path, text: str) -> None:
    f = tmp_path / "cri.toml"
    f.write_text(text)
    with pytest.raises(InvalidArgument):
        config.load("/r", "/s", env={config.ENV: str(f)})


def test_config_missing_explicit_file() -> None:
    with pytest.raises(InvalidArgument):
        config.load("/r", "/s", env={config.ENV: "/nonexistent/cri.toml"})


LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] ")


def test_log_entry_format() -> None:
    e = logs.format_entry("stdout", "F", b"hello", 1_700_000_000_123_456_789)
    assert e == b"2023-11-14T22:13:20.123456789Z stdout F hello\n"
    assert logs.parse_entry(e.decode()) == ("2023-11-14T22:13:20.123456789Z", "stdout", "F", "hello")


def test_line_splitter_full_partial_and_flush() -> None:
    s = logs.LineSplitter(max_line=4)
    assert s.feed(b"ab\ncd") == [("F", b"ab")]
    assert s.feed(b"efgh\r\n") == [("P", b"cdef"), ("F", b"gh")]
    assert s.feed(b"xyz") == []
    assert s.flush() == [("F", b"xyz")] and s.flush() == []


def test_log_relay_from_fifos_and_reopen(tmp_path: Path) -> None:
    fifo_out, fifo_err = tmp_path / "o", tmp_path / "e"
    os.mkfifo(fifo_out)
    os.mkfifo(fifo_err)
    path = tmp_path / "logs" / "c.log"
    r = logs.LogRelay(str(path), {"stdout": str(fifo_out), "stderr": str(fifo_err)})
    got: list[tuple[str, bytes]] = []
    r.subscribe(lambda s, d: got.append((s, d)))
    r.start()
    wo = os.open(fifo_out, os.O_WRONLY)
    we = os.open(fifo_err, os.O_WRONLY)
    os.write(wo, b"one\ntw")
    os.write(we, b"err\n")
    os.write(wo, b"o\n")
    os.close(we)
    os.rename(path, tmp_path / "logs" / "c.log.1")
    os.close(wo)
    assert r.wait(10)
    lines = (tmp_path / "logs" / "c.log.1").read_text().splitlines()
    assert all(LINE.match(ln) for ln in lines)
    assert sorted(ln.split(" ", 1)[1] for ln in lines) == ["stderr F err", "stdout F one", "stdout F two"]
    assert ("stderr", b"err\n") in got
    r.reopen()
    assert path.exists()
    r.close()


def test_websocket_frames_roundtrip() -> None:
    for n in (0, 5, 200, 70000):
        payload = bytes(range(256)) * (n // 256) + bytes(n % 256)
        for mask in (None, b"\x01\x02\x03\x04"):
            op, got, fin = streaming.read_frame(io.BytesIO(streaming.encode_frame(payload, 2, mask)))
            assert (op, got, fin) == (2, payload, True)
    # continuation frames are joined; pings go to the control callback
    data = bytes([0x02, 2]) + b"ab" + bytes([0x89, 1]) + b"p" + bytes([0x80, 1]) + b"c"
    seen = []
    assert streaming.read_message(io.BytesIO(data), lambda op, p: seen.append((op, p))) == (2, b"abc")
    assert seen == [(9, b"p")]
    assert streaming.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's example


def test_status_json() -> None:
    import json

    assert json.loads(streaming.status_json(0))["status"] == "Success"
    f = json.loads(streaming.status_json(3))
    assert f["reason"] == "NonZeroExitCode" and f["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert json.loads(streaming.status_json(None, "boom"))["message"] == "boom"


def test_stream_server_refuses_unknown_tokens_and_spdy() -> None:
    import http.client

    srv = streaming.StreamServer(backend=None)
    srv.start()
    try:
        url = srv.url(streaming.Request("exec", "c1", ["true"]))
        path = url.split(str(srv.port), 1)[1]
        for headers, want in (({"Upgrade": "SPDY/3.1", "Connection": "Upgrade"}, 400),
                              ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "x"}, 404)):
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            c.request("GET", path.replace("/exec/", "/exec/bad") if want == 404 else path, headers=headers)
            assert c.getresponse().status == want
            c.close()
    finally:
        srv.close()


def test_store_records(tmp_path: Path) -> None:
    s = store.Store(tmp_path / "cri.db")
    s.put(store.SANDBOX, {"id": "a", "x": 1})
    s.put(store.CONTAINER, {"id": "c", "sandbox_id": "a"})
    s.put(store.SANDBOX, {"id": "a", "x": 2})
    assert s.get(store.SANDBOX, "a") == {"id": "a", "x": 2} and s.get(store.SANDBOX, "c") is None
    assert [r["id"] for r in s.all(store.CONTAINER)] == ["c"]
    s.delete(store.CONTAINER, "c")
    assert s.all(store.CONTAINER) == []
    s.close()
    assert store.Store(tmp_path / "cri.db").get(store.SANDBOX, "a") == {"id": "a", "x": 2}


def test_pause_rootfs(tmp_path: Path) -> None:
    if not pause.is_static("/bin/busybox"):
        pytest.fail("this machine's /bin/busybox is not static (install busybox-static)")
    root = pause.ensure_rootfs(tmp_path / "pause")
    assert (root / "bin" / "busybox").stat().st_size == Path("/bin/busybox").stat().st_size
    assert all((root / d).is_dir() for d in ("proc", "dev", "sys"))
    assert pause.ensure_rootfs(tmp_path / "pause") == root
    dyn = "/bin/ls"
    assert not pause.is_static(dyn)
    from seabox.errdefs import FailedPrecondition

    with pytest.raises(FailedPrecondition):
        pause.ensure_rootfs(tmp_path / "p2", dyn)


def test_auth_config_credentials() -> None:
    assert credentials(cri.AuthConfig()) is None
    assert credentials(cri.AuthConfig(username="u", password="p")) == ("u", "p")
    assert credentials(cri.AuthConfig(auth=base64.b64encode(b"u:p:x").decode())) == ("u", "p:x")
    assert credentials(cri.AuthConfig(identity_token="tok")) == ("", "tok")


def test_drain_waits_for_a_writer(tmp_path: Path) -> None:
    from seabox.cri.service import _drain

    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    buf = bytearray()
    t = threading.Thread(target=_drain, args=(fd, buf))
    t.start()
    t.join(1.2)
    assert t.is_alive()  # no writer yet: not mistaken for EOF
    w = os.open(fifo, os.O_WRONLY)
    os.write(w, b"data")
    os.close(w)
    t.join(10)
    assert bytes(buf) == b"data"


def test_lazy_handler_passes_other_services_and_reports_a_failed_start() -> None:
    from types import SimpleNamespace

    from seabox.cri.server import LazyHandler

    h = LazyHandler()
    assert h.service(SimpleNamespace(method="/containerd.services.tasks.v1.Tasks/List")) is None
    h.error = "bad config"
    h.ready.set()
    failing = h.service(SimpleNamespace(method="/runtime.v1.RuntimeService/Version"))
    aborted: list[tuple[object, str]] = []

    class Ctx:
        def abort(self, code: object, msg: str) -> None:
            aborted.append((code, msg))

    failing.unary_unary(b"", Ctx())
    import grpc

    assert aborted == [(grpc.StatusCode.UNAVAILABLE, "cri: failed to start: bad config")]
    h.error = ""
    sentinel = object()
    h.handlers = [SimpleNamespace(service=lambda d: sentinel if d.method.endswith("/Version") else None)]
    assert h.service(SimpleNamespace(method="/runtime.v1.RuntimeService/Version")) is sentinel
    assert h.service(SimpleNamespace(method="/runtime.v1.RuntimeService/Nope")) is None


def test_pod_resolv_conf() -> None:
    from seabox.cri.service import pod_resolv

    host = "nameserver 1.1.1.1\nsearch host.lan\noptions edns0\n"
    assert pod_resolv(host, ["10.96.0.10"], [], []) == "nameserver 10.96.0.10\n"  # only what kubelet gave
    assert pod_resolv(host, ["10.96.0.10"], ["a.svc", "svc"], ["ndots:5"]) == \
        "search a.svc svc\nnameserver 10.96.0.10\noptions ndots:5\n"
    assert "nameserver 1.1.1.1" in pod_resolv(host, [], [], [])
