"""seabox.testing.bundle: the busybox rootfs and the runc-like bundle the runtime's tests use."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.testing import bundle


def test_rootfs_layout(tmp_path: Path) -> None:
    root = bundle.make_busybox_rootfs(tmp_path / "rootfs")
    assert root == tmp_path / "rootfs"
    bb = root / "bin" / "busybox"
    assert bb.is_file() and not bb.is_symlink()
    assert bb.stat().st_mode & 0o111
    assert bb.read_bytes() == Path("/bin/busybox").read_bytes()
    for d in ("proc", "sys", "dev", "etc", "home", "root", "tmp", "var/tmp"):
        assert (root / d).is_dir(), d
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert stat.S_IMODE((root / "root").stat().st_mode) == 0o700
    assert (root / "etc/seabox-fixture").read_text().startswith("busybox linux/")


def test_every_applet_is_a_symlink_to_busybox(tmp_path: Path) -> None:
    root = bundle.make_busybox_rootfs(tmp_path / "r")
    listed = subprocess.run(
        ["/bin/busybox", "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "sh" in listed
    for applet in listed:
        if applet == "busybox":
            continue
        link = root / "bin" / applet
        assert link.is_symlink(), applet
        assert link.readlink() == Path("busybox")


def test_users_and_groups(tmp_path: Path) -> None:
    root = bundle.make_busybox_rootfs(tmp_path / "r")
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    assert passwd["root"][2:4] == ["0", "0"]
    assert passwd["nobody"][2:4] == ["65534", "65534"]
    groups = {
        line.split(":")[0]: line.split(":")[2] for line in (root / "etc/group").read_text().splitlines()
    }
    assert groups["root"] == "0"
    assert groups["nogroup"] == "65534"
    assert groups["nobody"] == "65534"


def test_rootfs_shell_runs(tmp_path: Path) -> None:
    # static binary: runs from the rootfs without chroot, as any user, via its applet symlink
    root = bundle.make_busybox_rootfs(tmp_path / "r")
    out = subprocess.run([str(root / "bin/sh"), "-c", "echo hello from $0"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("hello from")


def test_rootfs_is_idempotent(tmp_path: Path) -> None:
    root = bundle.make_busybox_rootfs(tmp_path / "r")
    (root / "tmp" / "keep").write_text("x")
    bundle.make_busybox_rootfs(root)
    assert (root / "tmp" / "keep").read_text() == "x"
    assert (root / "bin" / "sh").is_symlink()


def test_missing_busybox_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(errdefs.NotFound, match="not found"):
        bundle.make_busybox_rootfs(tmp_path / "r", busybox=tmp_path / "no-busybox")


def _config(path: Path) -> dict:
    return json.loads((path / "config.json").read_text())


def test_default_bundle_is_runc_like(tmp_path: Path) -> None:
    b = bundle.make_bundle(tmp_path / "b", ["sh", "-c", "true"])
    assert b == tmp_path / "b"
    cfg = _config(b)
    assert cfg["process"]["args"] == ["sh", "-c", "true"]
    assert cfg["process"]["terminal"] is False
    assert cfg["root"] == {"path": "rootfs", "readonly": False}
    assert (b / "rootfs" / "bin" / "busybox").is_file()
    assert sorted(n["type"] for n in cfg["linux"]["namespaces"]) == ["ipc", "mount", "network", "pid", "uts"]
    assert {m["destination"]: m["type"] for m in cfg["mounts"]} == {
        "/proc": "proc",
        "/dev": "tmpfs",
        "/dev/pts": "devpts",
        "/dev/shm": "tmpfs",
        "/dev/mqueue": "mqueue",
        "/sys": "sysfs",
        "/sys/fs/cgroup": "cgroup",
    }
    caps = cfg["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted", "ambient"):
        assert caps[kind] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert cfg["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"]
    assert "/proc/sys" in cfg["linux"]["readonlyPaths"]
    assert any(e.startswith("PATH=") for e in cfg["process"]["env"])


def test_overrides_merge_process_keys_and_replace_top_level(tmp_path: Path) -> None:
    b = bundle.make_bundle(
        tmp_path / "b",
        ["id"],
        hostname="web",
        process={"user": {"uid": 65534, "gid": 65534}, "noNewPrivileges": None},
        linux={"namespaces": [{"type": "mount"}]},
    )
    cfg = _config(b)
    assert cfg["hostname"] == "web"
    assert cfg["process"]["user"] == {"uid": 65534, "gid": 65534}
    assert cfg["process"]["args"] == ["id"]  # untouched process keys stay
    assert cfg["process"]["cwd"] == "/"
    assert "noNewPrivileges" not in cfg["process"]
    assert cfg["linux"] == {"namespaces": [{"type": "mount"}]}  # top level replaced, not merged


def test_overrides_do_not_leak_between_bundles(tmp_path: Path) -> None:
    env = ["A=1"]
    one = _config(bundle.make_bundle(tmp_path / "one", ["true"], process={"env": env}))
    env.append("B=2")
    two = _config(bundle.make_bundle(tmp_path / "two", ["true"]))
    assert one["process"]["env"] == ["A=1"]
    assert two["process"]["env"][0].startswith("PATH=")


def test_existing_rootfs_is_kept_and_custom_root_path(tmp_path: Path) -> None:
    b = tmp_path / "b"
    bundle.make_bundle(b, ["true"])
    (b / "rootfs" / "marker").write_text("mine")
    bundle.make_bundle(b, ["false"])
    assert (b / "rootfs" / "marker").read_text() == "mine"
    assert _config(b)["process"]["args"] == ["false"]

    other = tmp_path / "elsewhere"
    c = bundle.make_bundle(tmp_path / "c", ["true"], root={"path": str(other), "readonly": True})
    assert (other / "bin" / "busybox").is_file()
    assert not (c / "rootfs").exists()
    assert _config(c)["root"] == {"path": str(other), "readonly": True}
