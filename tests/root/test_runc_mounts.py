"""Mounts, masked/read-only paths, read-only root and symlink-escape safety under seabox-runc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.runtime.testsupport import Runc
from seabox.testing.bundle import default_spec

pytestmark = pytest.mark.root


def host_mounts(under: str) -> set[str]:
    """Host mount points below ``under`` (the test's own dir: other tests mount elsewhere concurrently)."""
    with open("/proc/self/mountinfo") as f:
        return {m for m in (line.split()[4] for line in f) if m.startswith(under)}


def test_masked_and_readonly_paths(runc: Runc, tmp_path: Path) -> None:
    b = runc.bundle(["sh", "-c",
                     "cat /proc/kcore | head -c 10 | wc -c; ls /proc/acpi 2>/dev/null | wc -l; "
                     "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo WRITABLE || echo RO; "
                     "echo 1 > /proc/sysrq-trigger 2>/dev/null && echo WRITABLE || echo RO"])
    before = host_mounts(str(tmp_path))
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0", "RO", "RO"]
    assert host_mounts(str(tmp_path)) == before  # nothing propagated back to the host


def test_ro_bind_tmpfs_and_readonly_root(runc: Runc, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("from host\n")
    spec = default_spec(["sh"])
    mounts = spec["mounts"] + [
        {"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"]},
    ]
    b = runc.bundle(["sh", "-c",
                     "cat /data/hello; touch /data/x 2>/dev/null && echo DATA-RW || echo DATA-RO; "
                     "touch /scratch/y && echo SCRATCH-RW; grep ' /scratch ' /proc/mounts | cut -d' ' -f3; "
                     "touch /rootfile 2>/dev/null && echo ROOT-RW || echo ROOT-RO"],
                    mounts=mounts, root={"path": "rootfs", "readonly": True})
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:5] == ["from host", "DATA-RO", "SCRATCH-RW", "tmpfs", "ROOT-RO"]
    assert not (shared / "x").exists()
    assert not (b / "rootfs" / "rootfile").exists()


def test_mount_destination_symlink_cannot_escape(runc: Runc, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    b = runc.bundle(["sh", "-c", "ls /evil; ls /escape/target"])
    rootfs = b / "rootfs"
    # /evil -> the host's tmp dir by absolute path; /escape -> ../../.. relative climbing
    os.symlink(str(outside), rootfs / "evil")
    os.symlink("../../../../../../..", rootfs / "escape")
    spec = default_spec(["sh", "-c", "ls /evil; ls /escape"])
    mounts = spec["mounts"] + [
        {"destination": "/evil/mnt", "type": "tmpfs", "source": "tmpfs", "options": []},
        {"destination": "/escape" + str(outside) + "/mnt2", "type": "tmpfs", "source": "tmpfs", "options": []},
    ]
    b = runc.bundle(["sh", "-c", "true"], mounts=mounts, root={"path": str(rootfs)})
    before = host_mounts(str(tmp_path))
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert not (outside / "mnt").exists()
    assert not (outside / "mnt2").exists()
    # the mounts landed inside the rootfs instead
    assert (rootfs / str(outside).lstrip("/") / "mnt").is_dir()
    assert host_mounts(str(tmp_path)) == before


def test_default_devices_and_dev_symlinks(runc: Runc) -> None:
    b = runc.bundle(["sh", "-c", "for d in null zero full random urandom tty; do stat -c '%n %t:%T' /dev/$d; done; "
                     "readlink /dev/fd; readlink /dev/ptmx; echo ok > /dev/null && head -c 4 /dev/zero | wc -c"])
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:6] == ["/dev/null 1:3", "/dev/zero 1:5", "/dev/full 1:7", "/dev/random 1:8", "/dev/urandom 1:9",
                         "/dev/tty 5:0"]
    assert lines[6:8] == ["/proc/self/fd", "pts/ptmx"]
    assert lines[8].strip() == "4"


def test_linux_devices_and_sysctl(runc: Runc) -> None:
    b = runc.bundle(["sh", "-c", "stat -c '%t:%T %a' /dev/sbtnull; cat /proc/sys/net/ipv4/ip_forward"],
                    linux={**default_spec(["true"])["linux"],
                           "devices": [{"type": "c", "path": "/dev/sbtnull", "major": 1, "minor": 3,
                                        "fileMode": 0o600}],
                           "sysctl": {"net.ipv4.ip_forward": "1"}})
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["1:3 600", "1"]


def test_no_pivot(runc: Runc) -> None:
    r = runc.run(runc.bundle(["sh", "-c", "ls /bin/busybox && cat /proc/self/mountinfo | wc -l"]), None,
                 "--no-pivot")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("/bin/busybox\n")


def test_recursive_read_only_bind(runc: Runc, tmp_path: Path) -> None:
    import subprocess

    shared = tmp_path / "rro"
    sub = shared / "sub"
    sub.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "sbt-rro", str(sub)], check=True)  # a submount (test oracle tool)
    try:
        spec = default_spec(["sh"])
        mounts = spec["mounts"] + [{"destination": "/data", "type": "bind", "source": str(shared),
                                    "options": ["rbind", "rro"]}]
        b = runc.bundle(["sh", "-c", "touch /data/sub/x 2>/dev/null && echo SUB-RW || echo SUB-RO"], mounts=mounts)
        r = runc.run(b)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "SUB-RO"
        assert not (sub / "x").exists()
    finally:
        subprocess.run(["umount", str(sub)], check=False)


def test_cgroup_namespace_and_mount(runc: Runc) -> None:
    linux = default_spec(["true"])["linux"]
    linux["namespaces"] = [*linux["namespaces"], {"type": "cgroup"}]
    b = runc.bundle(["sh", "-c", "cat /proc/self/cgroup; echo --; ls /sys/fs/cgroup/memory/cgroup.procs"],
                    linux=linux)
    r = runc.run(b)
    assert r.returncode == 0, r.stderr
    cgroups, _, rest = r.stdout.partition("--\n")
    lines = cgroups.splitlines()
    assert lines and all(line.endswith(":/") for line in lines)  # each hierarchy is rooted at our cgroup
    assert rest.strip() == "/sys/fs/cgroup/memory/cgroup.procs"
