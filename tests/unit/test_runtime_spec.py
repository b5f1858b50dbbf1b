"""config.json parsing: typed objects, and errors that name the offending field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seabox.errdefs import InvalidArgument
from seabox.oci.runtime_spec import SpecError, load_spec, parse_spec
from seabox.runtime.specgen import default_spec


def spec(**over: object) -> dict:
    d = default_spec()
    d.update(over)
    return d


def test_default_spec_parses() -> None:
    s = parse_spec(default_spec())
    assert s.process is not None
    assert s.process.args == ["sh"]
    assert s.process.terminal is True
    assert s.process.capabilities is not None
    assert "CAP_KILL" in s.process.capabilities.bounding
    assert s.process.rlimits[0].type == "RLIMIT_NOFILE"
    assert s.root.path == "rootfs" and s.root.readonly
    assert [m.destination for m in s.mounts][:2] == ["/proc", "/dev"]
    assert s.linux.namespace("pid") is not None
    assert s.linux.namespace("user") is None
    assert s.linux.resources == {"devices": [{"allow": False, "access": "rwm"}]}
    assert "/proc/kcore" in s.linux.masked_paths


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["process"].pop("args"), "process.args"),
        (lambda d: d["process"].update(args="sh"), "process.args"),
        (lambda d: d["process"].update(cwd="relative"), "process.cwd"),
        (lambda d: d["process"]["user"].update(uid="0"), "process.user.uid"),
        (lambda d: d["process"]["rlimits"][0].pop("soft"), "process.rlimits[0].soft"),
        (lambda d: d["process"]["capabilities"].update(bounding="CAP_KILL"), "process.capabilities.bounding"),
        (lambda d: d["mounts"][1].update(destination="dev"), "mounts[1].destination"),
        (lambda d: d["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[6].type"),
        (lambda d: d["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[6].type"),
        (lambda d: d["linux"].update(rootfsPropagation="sideways"), "linux.rootfsPropagation"),
        (lambda d: d.update(hooks={"prestart": [{"path": "rel"}]}), "hooks.prestart[0].path"),
        (lambda d: d.update(hooks={"prestart": [{"path": "/x", "timeout": 0}]}), "hooks.prestart[0].timeout"),
        (lambda d: d.update(hooks={"sometime": []}), "hooks.sometime"),
        (lambda d: d["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
         "linux.uidMappings"),
        (lambda d: d["linux"].update(devices=[{"type": "x", "path": "/dev/x"}]), "linux.devices[0].type"),
        (lambda d: d.pop("ociVersion"), "ociVersion"),
        (lambda d: d.update(ociVersion="2.0.0"), "ociVersion"),
        (lambda d: d["root"].pop("path"), "root.path"),
        (lambda d: d.update(annotations={"a": 1}), "annotations.a"),
    ],
)
def test_errors_name_the_field(mutate: object, field: str) -> None:
    d = default_spec()
    mutate(d)  # type: ignore[operator]
    with pytest.raises(SpecError) as e:
        parse_spec(d)
    assert f"config.json: {field}:" in str(e.value)
    assert isinstance(e.value, InvalidArgument)


def test_user_namespace_mappings_and_paths() -> None:
    d = default_spec(rootless=True)
    s = parse_spec(d)
    assert s.linux.uid_mappings[0].host_id == 1000
    d["linux"]["namespaces"].append({"type": "network", "path": "/var/run/netns/x"})
    s = parse_spec(d)
    ns = s.linux.namespace("network")
    assert ns is not None and ns.path == "/var/run/netns/x"


def test_load_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"config\.json not found"):
        load_spec(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match="invalid JSON"):
        load_spec(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(default_spec()))
    assert load_spec(tmp_path).hostname == "runc"


@pytest.mark.parametrize(("key", "namespaces", "ok"), [
    ("net.ipv4.ip_forward", ["network"], True),
    ("net.ipv4.ip_forward", [], False),
    ("kernel.shmmax", ["ipc"], True),
    ("fs.mqueue.msg_max", [], False),
    ("kernel.domainname", ["uts"], True),
    ("vm.swappiness", ["network", "ipc", "uts"], False),
    ("kernel.panic", ["network", "ipc", "uts"], False),
])
def test_sysctl_must_be_namespaced(key: str, namespaces: list[str], ok: bool) -> None:
    from seabox.runtime.create import validate_sysctls

    d = default_spec()
    d["linux"]["namespaces"] = [{"type": t} for t in ["mount", *namespaces]]
    d["linux"]["sysctl"] = {key: "1"}
    spec = parse_spec(d)
    if ok:
        validate_sysctls(spec)
    else:
        with pytest.raises(InvalidArgument, match=f"linux.sysctl.{key}"):
            validate_sysctls(spec)
