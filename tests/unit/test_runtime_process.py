"""Process settings: capability order, user switch, rlimit errors, executable lookup, env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seabox.errdefs import FailedPrecondition, InvalidArgument
from seabox.linux import capabilities as caps
from seabox.linux import syscalls as s
from seabox.linux.syscalls import RecordingSyscalls
from seabox.oci.runtime_spec import Capabilities, Process, Rlimit, User
from seabox.runtime import process as p


def proc(**kw: object) -> Process:
    return Process(args=["sh"], **kw)  # type: ignore[arg-type]


def test_capability_masks() -> None:
    assert caps.mask(["CAP_CHOWN", "kill", "Cap_Net_Raw"]) == (1 << 0) | (1 << 5) | (1 << 13)
    assert caps.names_of(1 << 21) == ["CAP_SYS_ADMIN"]
    with pytest.raises(InvalidArgument, match="CAP_NOPE"):
        caps.mask(["CAP_NOPE"])


def test_user_and_caps_sequence() -> None:
    sc = RecordingSyscalls()
    c = Capabilities(bounding=["CAP_KILL", "CAP_CHOWN"], effective=["CAP_KILL"], permitted=["CAP_KILL"],
                     inheritable=["CAP_KILL"], ambient=["CAP_KILL", "CAP_CHOWN"])
    pr = proc(user=User(uid=1000, gid=1001, additional_gids=[5, 6]), capabilities=c)
    p.setup_user_and_caps(sc, pr, available=(1 << 41) - 1)
    names = sc.names()
    # bounding drops (while privileged), keepcaps, groups/gid/uid, keepcaps off, capset, ambient
    first_set = names.index("setgroups")
    drops = [c for c in sc.calls[:first_set] if c[0] == "prctl" and c[1] == s.PR_CAPBSET_DROP]
    assert {d[2] for d in drops} == set(range(41)) - {0, 5}
    assert sc.calls[first_set - 1] == ("prctl", s.PR_SET_KEEPCAPS, 1, 0, 0, 0)
    assert sc.calls[first_set:first_set + 4] == [("setgroups", [5, 6]), ("setresgid", 1001), ("setresuid", 1000),
                                                 ("prctl", s.PR_SET_KEEPCAPS, 0, 0, 0, 0)]
    capset = sc.of("capset")[0][1]
    assert capset.effective == capset.permitted == capset.inheritable == 1 << 5
    raised = [c[3] for c in sc.of("prctl") if c[1] == s.PR_CAP_AMBIENT and c[2] == s.PR_CAP_AMBIENT_RAISE]
    assert raised == [5]  # CAP_CHOWN is not permitted+inheritable: skipped


def test_caps_missing_from_host_bounding_set_are_left_out_with_warning() -> None:
    sc = RecordingSyscalls()
    c = Capabilities(bounding=["CAP_SYS_RESOURCE", "CAP_KILL"], effective=["CAP_SYS_RESOURCE", "CAP_KILL"],
                     permitted=["CAP_SYS_RESOURCE", "CAP_KILL"])
    warn: list[str] = []
    p.setup_user_and_caps(sc, proc(capabilities=c), available=((1 << 41) - 1) & ~(1 << 24), warn=warn)
    assert sc.of("capset")[0][1].effective == 1 << 5
    assert "CAP_SYS_RESOURCE" in warn[0]


def test_no_capabilities_section_keeps_sets() -> None:
    sc = RecordingSyscalls()
    p.setup_user_and_caps(sc, proc(), available=1)
    assert not sc.of("capset")
    assert ("setresuid", 0) in sc.calls


def test_rlimit_error_names_setting() -> None:
    sc = RecordingSyscalls(fail={"setrlimit": 1})
    with pytest.raises(FailedPrecondition, match=r"process\.rlimits: RLIMIT_NOFILE soft=10 hard=20"):
        p.set_rlimits(sc, [Rlimit("RLIMIT_NOFILE", 10, 20)])
    with pytest.raises(InvalidArgument, match=r"process.rlimits\[0\].type"):
        p.set_rlimits(RecordingSyscalls(), [Rlimit("RLIMIT_BOGUS", 1, 1)])
    sc = RecordingSyscalls()
    p.set_rlimits(sc, [Rlimit("RLIMIT_CORE", 0, 2**64 - 1)])
    assert sc.of("setrlimit") == [("setrlimit", 4, 0, -1)]


def test_oom_score_adj_error_names_setting() -> None:
    sc = RecordingSyscalls(fail={"write_file": 13})
    with pytest.raises(FailedPrecondition, match=r"process\.oomScoreAdj: -500"):
        p.set_oom_score_adj(sc, -500)
    sc = RecordingSyscalls()
    p.set_oom_score_adj(sc, 100)
    assert sc.of("write_file") == [("write_file", "/proc/self/oom_score_adj", "100")]


def test_lookup_and_env(tmp_path: Path) -> None:
    exe = tmp_path / "bin" / "tool"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (tmp_path / "bin" / "noexec").write_text("")
    env = {"PATH": f"/nonexistent:{tmp_path}/bin"}
    assert p.lookup("tool", env) == str(exe)
    with pytest.raises(FailedPrecondition, match='exec: "noexec": executable file not found'):
        p.lookup("noexec", env)
    with pytest.raises(FailedPrecondition, match="stat /no/such"):
        p.lookup("/no/such", env)
    assert p.env_dict(["A=1", "B=x=y", "junk"]) == {"A": "1", "B": "x=y"}
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n")
    assert p.home_of(1000, str(passwd)) == "/home/u"
    assert p.home_of(5, str(passwd)) == "/"


def test_close_fds_keeps_stdio_and_kept(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            fds = [os.open(str(tmp_path), os.O_RDONLY) for _ in range(4)]
            keep = fds[-1]
            p.close_fds({keep}, preserve_fds=0)
            closed = 0
            for fd in fds[:-1]:
                try:
                    os.fstat(fd)
                except OSError:
                    closed += 1
            os.fstat(keep)
            os.fstat(2)
            os._exit(0 if closed == 3 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
