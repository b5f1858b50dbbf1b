"""run/create flags → the container-create body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seabox.client.runopts import (
    Options,
    add_hosts,
    create_body,
    env_list,
    parse_mount,
    parse_port,
    parse_volume,
    read_kv_file,
    restart_policy,
    security_opts,
    ulimit,
)
from seabox.client.units import (
    bytes_size,
    human_duration,
    human_size,
    parse_rfc3339,
    parse_since,
    ram_in_bytes,
)
from seabox.errdefs import InvalidArgument


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("80", [("80/tcp", "", "")]),
        ("8080:80", [("80/tcp", "", "8080")]),
        ("8080:80/udp", [("80/udp", "", "8080")]),
        ("127.0.0.1:8080:80", [("80/tcp", "127.0.0.1", "8080")]),
        ("127.0.0.1::80", [("80/tcp", "127.0.0.1", "")]),
        ("[::1]:8080:80", [("80/tcp", "::1", "8080")]),
        ("8000-8001:80-81", [("80/tcp", "", "8000"), ("81/tcp", "", "8001")]),
        ("8000-8010:80", [("80/tcp", "", "8000-8010")]),
        ("80-81", [("80/tcp", "", ""), ("81/tcp", "", "")]),
    ],
)
def test_ports(spec: str, want: list[tuple[str, str, str]]) -> None:
    assert parse_port(spec) == want


@pytest.mark.parametrize("spec", ["99999:80", "a:80", "1.2.3:80:80", "80/xtp", "8000-8002:80-81", "1:2:3:4", "90-80"])
def test_bad_ports(spec: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_port(spec)


def test_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "env"
    f.write_text("# comment\nA=1\n\n  B=two words\nFROM_HOST\nMISSING_ONE\nC=\n")
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("MISSING_ONE", raising=False)
    assert read_kv_file(str(f)) == ["A=1", "B=two words", "FROM_HOST=h", "C="]
    assert env_list(["X=1", "FROM_HOST", "MISSING_ONE"], [str(f)])[-2:] == ["X=1", "FROM_HOST=h"]
    (tmp_path / "bad").write_text("BAD KEY=1\n")
    with pytest.raises(InvalidArgument, match="contains whitespaces"):
        read_kv_file(str(tmp_path / "bad"))
    with pytest.raises(InvalidArgument, match="open"):
        read_kv_file(str(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("text", "n"), [("64m", 64 << 20), ("1g", 1 << 30), ("512k", 512 << 10), ("100", 100), ("1.5g", 3 << 29), ("2GB", 2 << 30), ("3MiB", 3 << 20)]
)
def test_memory_units(text: str, n: int) -> None:
    assert ram_in_bytes(text) == n


@pytest.mark.parametrize("text", ["lots", "", "1x", "1..2m", "m"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(InvalidArgument):
        ram_in_bytes(text)


def test_human_units() -> None:
    assert human_size(1_979_000) == "1.98MB" and human_size(0) == "0B" and human_size(999) == "999B"
    assert bytes_size(64 << 20) == "64MiB" and bytes_size(588 * 1024) == "588KiB"
    assert [human_duration(s) for s in (0.5, 1, 30, 60, 150, 3600, 7200, 3 * 86400, 30 * 86400)] == [
        "Less than a second", "1 second", "30 seconds", "About a minute", "2 minutes", "About an hour", "2 hours",
        "3 days", "4 weeks"]  # fmt: skip
    assert parse_rfc3339("2001-09-09T01:46:40.5Z") == 1_000_000_000.5
    assert parse_rfc3339("2001-09-09T03:46:40+02:00") == 1_000_000_000
    assert parse_rfc3339("0001-01-01T00:00:00Z") == 0
    assert parse_since("0s", now=100.0) == "100.000000000" and parse_since("1m30s", now=100.0) == "10.000000000"
    assert parse_since("1700000000") == "1700000000" and parse_since("2001-09-09T01:46:40Z") == "1000000000.000000000"
    with pytest.raises(InvalidArgument):
        parse_since("soon")


def test_volumes_and_mounts() -> None:
    assert parse_volume("data:/var/lib/data") == ("data:/var/lib/data", None)
    assert parse_volume("/etc/localtime:/etc/localtime:ro") == ("/etc/localtime:/etc/localtime:ro", None)
    assert parse_volume("/cache") == (None, "/cache")
    for bad in ("rel", "a:rel", "/a:/b:xx", "a:b:c:d"):
        with pytest.raises(InvalidArgument):
            parse_volume(bad)
    assert parse_mount("type=bind,src=/a,dst=/b,readonly") == {"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True}
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=64m") == {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 64 << 20}}
    assert parse_mount("source=v,target=/v") == {"Type": "volume", "Source": "v", "Target": "/v"}
    for bad in ("type=bind,dst=/b", "src=/a", "type=nfs,dst=/x", "bogus=1,dst=/x"):
        with pytest.raises(InvalidArgument):
            parse_mount(bad)


def test_policies_limits_hosts_security(tmp_path: Path) -> None:
    assert restart_policy("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert restart_policy("no") == {"Name": "", "MaximumRetryCount": 0}
    assert restart_policy("unless-stopped")["Name"] == "unless-stopped"
    for bad in ("always:3", "sometimes", "on-failure:x"):
        with pytest.raises(InvalidArgument):
            restart_policy(bad)
    assert ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert ulimit("nproc=10") == {"Name": "nproc", "Soft": 10, "Hard": 10}
    with pytest.raises(InvalidArgument):
        ulimit("nofile=2:1")
    assert add_hosts(["gitlab.example.test:10.0.0.110", "host.docker.internal:host-gateway"]) == [
        "gitlab.example.test:10.0.0.110", "host.docker.internal:host-gateway"]
    with pytest.raises(InvalidArgument):
        add_hosts(["x:notanip"])
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert security_opts([f"seccomp={profile}", "seccomp=unconfined", "no-new-privileges"]) == [
        'seccomp={"defaultAction": "SCMP_ACT_ALLOW"}', "seccomp=unconfined", "no-new-privileges=true"]
    with pytest.raises(InvalidArgument):
        security_opts([f"seccomp={tmp_path}/missing.json"])


def test_create_body_jenkins_style() -> None:
    o = Options(image="jenkins", command=[], detach=True, name="jenkins", hostname="jenkins.example.test",
                restart="always", publish=["8080:8080", "50000:50000"], user="root", privileged=True,
                env=["TZ=Asia/Shanghai"], volume=["/etc/localtime:/etc/localtime:ro", "jenkins_home:/var/jenkins_home"],
                add_host=["gitlab.example.test:10.0.0.110"], memory="1g", cpus="1.5", pids_limit="100",
                label=["a=b"], stop_signal="SIGINT", stop_timeout=5, ulimit=["nofile=10:20"], tmpfs=["/run:size=1m"])  # fmt: skip
    b = create_body(o)
    json.dumps(b)
    assert b["Hostname"] == "jenkins.example.test" and b["User"] == "root" and b["Env"] == ["TZ=Asia/Shanghai"]
    assert b["ExposedPorts"] == {"8080/tcp": {}, "50000/tcp": {}}
    hc = b["HostConfig"]
    assert hc["PortBindings"]["8080/tcp"] == [{"HostIp": "", "HostPort": "8080"}]
    assert hc["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0} and hc["Privileged"] is True
    assert hc["Binds"] == ["/etc/localtime:/etc/localtime:ro", "jenkins_home:/var/jenkins_home"]
    assert hc["ExtraHosts"] == ["gitlab.example.test:10.0.0.110"]
    assert hc["Memory"] == 1 << 30 and hc["NanoCpus"] == 1_500_000_000 and hc["PidsLimit"] == 100
    assert hc["Tmpfs"] == {"/run": "size=1m"} and hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert b["AttachStdout"] is False and b["Labels"] == {"a": "b"} and b["StopTimeout"] == 5
    assert b["Cmd"] is None and b["Entrypoint"] is None


def test_create_body_attach_and_network() -> None:
    b = create_body(Options(image="busybox", command=["ls", "-l"], interactive=True, tty=True, network="none", rm=True))
    assert b["Cmd"] == ["ls", "-l"] and b["AttachStdin"] and b["OpenStdin"] and b["StdinOnce"] and b["Tty"]
    assert b["HostConfig"]["NetworkMode"] == "none" and b["HostConfig"]["AutoRemove"] is True
    b = create_body(Options(image="busybox", command=[], network="mynet", ip="10.1.2.3", entrypoint=""))
    assert b["NetworkingConfig"] == {"EndpointsConfig": {"mynet": {"IPAMConfig": {"IPv4Address": "10.1.2.3"}}}}
    assert b["Entrypoint"] == [""]
    with pytest.raises(InvalidArgument, match="user defined networks"):
        create_body(Options(image="busybox", command=[], ip="10.1.2.3"))
