"""The mount sequence for a spec, checked with the recording syscalls fake on a temp-dir rootfs."""

from __future__ import annotations

import os
from pathlib import Path

from seabox.linux import syscalls as s
from seabox.linux.syscalls import RecordingSyscalls
from seabox.oci.runtime_spec import Mount, parse_spec
from seabox.runtime import rootfs as rf
from seabox.runtime.specgen import default_spec


def ctx(tmp_path: Path, **kw: object) -> rf.RootfsContext:
    root = tmp_path / "rootfs"
    root.mkdir(exist_ok=True)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("")
    return rf.RootfsContext(bundle=str(tmp_path), rootfs=str(root), mountinfo=str(mountinfo), **kw)  # type: ignore[arg-type]


def test_parse_options() -> None:
    o = rf.parse_options(["rbind", "ro", "nosuid", "rprivate", "mode=755", "size=1m", "rro"])
    assert o.flags == s.MS_BIND | s.MS_REC | s.MS_RDONLY | s.MS_NOSUID
    assert o.propagation == [s.MS_PRIVATE | s.MS_REC]
    assert o.data_str == "mode=755,size=1m"
    assert o.recursive_ro
    assert rf.parse_options(["ro", "rw"]).flags == 0


def test_prepare_rootfs_sequence(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    spec = parse_spec(default_spec())
    sc = RecordingSyscalls()
    rf.prepare_rootfs(sc, c, spec)
    mounts = sc.of("mount")
    # root propagation first, then the rootfs bind, then the spec mounts in order
    assert mounts[0] == ("mount", None, "/", None, s.MS_SLAVE | s.MS_REC, None)
    assert mounts[1] == ("mount", c.rootfs, c.rootfs, "bind", s.MS_BIND | s.MS_REC, None)
    assert mounts[2] == ("mount", "proc", f"{c.rootfs}/proc", "proc", 0, None)
    assert mounts[3][1:4] == ("tmpfs", f"{c.rootfs}/dev", "tmpfs")
    assert mounts[3][4] == s.MS_NOSUID | s.MS_STRICTATIME and mounts[3][5] == "mode=755,size=65536k"
    assert mounts[4][1:4] == ("devpts", f"{c.rootfs}/dev/pts", "devpts")
    sysfs = next(m for m in mounts if m[3] == "sysfs")
    assert sysfs[4] == s.MS_NOSUID | s.MS_NOEXEC | s.MS_NODEV | s.MS_RDONLY
    # default devices by mknod, then /dev symlinks
    nodes = {m[1][len(c.rootfs):]: (m[2], m[3]) for m in sc.of("mknod")}
    assert nodes["/dev/null"][1] == os.makedev(1, 3)
    assert set(nodes) == {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/random", "/dev/urandom"}
    assert os.readlink(f"{c.rootfs}/dev/ptmx") == "pts/ptmx"
    assert os.readlink(f"{c.rootfs}/dev/fd") == "/proc/self/fd"
    assert sc.names().index("mknod") > sc.names().index("mount")


def test_user_namespace_binds_devices(tmp_path: Path) -> None:
    c = ctx(tmp_path, userns=True)
    sc = RecordingSyscalls()
    rf.prepare_rootfs(sc, c, parse_spec(default_spec()))
    assert not sc.of("mknod")
    binds = [m for m in sc.of("mount") if m[1] == "/dev/null"]
    assert binds == [("mount", "/dev/null", f"{c.rootfs}/dev/null", "bind", s.MS_BIND, None)]


def test_ro_bind_is_remounted_and_propagation_applied(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    sc = RecordingSyscalls()
    rf.mount_entry(sc, c, Mount("/data", "bind", str(src), ["rbind", "ro", "nosuid", "rshared"]))
    dest = f"{c.rootfs}/data"
    assert os.path.isdir(dest)
    assert sc.of("mount") == [
        ("mount", str(src), dest, "bind", s.MS_BIND | s.MS_REC, None),
        ("mount", None, dest, None, s.MS_RDONLY | s.MS_NOSUID | s.MS_REMOUNT | s.MS_BIND, None),
        ("mount", None, dest, None, s.MS_SHARED | s.MS_REC, None),
    ]


def test_bind_of_a_file_creates_a_file(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    f = tmp_path / "resolv.conf"
    f.write_text("nameserver 1.1.1.1\n")
    sc = RecordingSyscalls()
    rf.mount_entry(sc, c, Mount("/etc/resolv.conf", "bind", str(f), ["bind"]))
    assert os.path.isfile(f"{c.rootfs}/etc/resolv.conf")
    assert sc.of("mount") == [("mount", str(f), f"{c.rootfs}/etc/resolv.conf", "bind", s.MS_BIND, None)]


def test_recursive_read_only_uses_mount_setattr(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    sc = RecordingSyscalls()
    rf.mount_entry(sc, c, Mount("/data", "bind", str(tmp_path), ["rbind", "rro"]))
    assert sc.of("mount_setattr_rdonly") == [("mount_setattr_rdonly", f"{c.rootfs}/data", True)]


def test_destination_symlink_stays_inside(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    os.symlink("/", f"{c.rootfs}/escape")
    sc = RecordingSyscalls()
    rf.mount_entry(sc, c, Mount("/escape/tmp/x", "tmpfs", "tmpfs", []))
    assert sc.of("mount")[0][2] == f"{c.rootfs}/tmp/x"


def test_pivot_and_no_pivot(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    sc = RecordingSyscalls()
    rf.switch_root(sc, c)
    assert sc.names() == ["fchdir", "pivot_root", "fchdir", "mount", "umount2", "chdir"]
    assert sc.of("pivot_root") == [("pivot_root", ".", ".")]
    assert sc.of("umount2") == [("umount2", ".", s.MNT_DETACH)]
    sc = RecordingSyscalls()
    rf.switch_root(sc, ctx(tmp_path, no_pivot=True))
    assert sc.calls == [("chdir", c.rootfs), ("mount", c.rootfs, "/", None, s.MS_MOVE, None), ("chroot", "."),
                        ("chdir", "/")]


def test_finalize_readonly_then_masked(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "proc" / "sys").mkdir(parents=True)
    (root / "proc" / "kcore").write_text("")
    d = default_spec()
    d["linux"]["readonlyPaths"] = ["/proc/sys", "/proc/missing"]
    d["linux"]["maskedPaths"] = ["/proc/kcore", "/proc/sys"]
    sc = RecordingSyscalls()
    rf.finalize_rootfs(sc, parse_spec(d), root=str(root))
    m = sc.of("mount")
    assert m[0] == ("mount", None, str(root), None, s.MS_RDONLY | s.MS_REMOUNT | s.MS_BIND, None)  # root.readonly
    assert m[1] == ("mount", f"{root}/proc/sys", f"{root}/proc/sys", None, s.MS_BIND | s.MS_REC, None)
    assert m[2][4] == s.MS_RDONLY | s.MS_REC | s.MS_REMOUNT | s.MS_BIND
    assert m[3] == ("mount", "/dev/null", f"{root}/proc/kcore", None, s.MS_BIND, None)
    assert m[4] == ("mount", "tmpfs", f"{root}/proc/sys", "tmpfs", s.MS_RDONLY, None)
    assert len(m) == 5


def test_shared_root_propagation_privatises_parent(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    Path(c.mountinfo).write_text(f"1 0 0:1 / / rw - ext4 x rw\n2 1 0:2 / {tmp_path} rw - tmpfs x rw\n")
    d = default_spec()
    d["linux"]["rootfsPropagation"] = "rshared"
    d["mounts"] = []
    sc = RecordingSyscalls()
    rf.prepare_rootfs(sc, c, parse_spec(d))
    m = sc.of("mount")
    assert m[0] == ("mount", None, "/", None, s.MS_SHARED | s.MS_REC, None)
    assert m[1] == ("mount", None, str(tmp_path), None, s.MS_PRIVATE, None)


def test_mounts_over_proc_are_restricted(tmp_path: Path) -> None:
    import pytest

    from seabox.errdefs import InvalidArgument

    c = ctx(tmp_path)
    sc = RecordingSyscalls()
    rf.mount_entry(sc, c, Mount("/proc", "proc", "proc", []))
    src = tmp_path / "cpuinfo"
    src.write_text("")
    rf.mount_entry(sc, c, Mount("/proc/cpuinfo", "bind", str(src), ["bind"]))
    with pytest.raises(InvalidArgument, match="/proc/self/attr"):
        rf.mount_entry(sc, c, Mount("/proc/self/attr/exec", "bind", str(src), ["bind"]))
    os.symlink("/proc", f"{c.rootfs}/p")  # through a symlink too
    with pytest.raises(InvalidArgument, match="not allowed"):
        rf.mount_entry(sc, c, Mount("/p/sys", "tmpfs", "tmpfs", []))
    with pytest.raises(InvalidArgument):
        rf.mount_entry(sc, c, Mount("/proc", "tmpfs", "tmpfs", []))
