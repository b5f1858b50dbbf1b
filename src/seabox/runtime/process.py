"""The last steps before execve of a container process (init or exec), in runc's order.

Design reason: the order is what makes it safe — rlimits and oomScoreAdj while still
privileged; no_new_privs; every inherited fd except stdio and --preserve-fds *closed* (not
just marked close-on-exec) before the working directory is entered, so a leaked host directory
fd cannot become the cwd (CVE-2024-21626); the bounding set dropped, then the user switch with
KEEPCAPS, then the remaining capability sets; the cwd checked to be reachable from the
container root; the executable looked up in the container's PATH.  Settings the host refuses
(an rlimit above the hard limit, a negative oomScoreAdj without CAP_SYS_RESOURCE) raise errors
that name the setting.
"""

from __future__ import annotations

import os
import stat

from seabox.errdefs import FailedPrecondition, InvalidArgument
from seabox.linux import capabilities as caps_mod
from seabox.linux import syscalls as s
from seabox.linux.syscalls import Syscalls
from seabox.oci.runtime_spec import Process, Rlimit

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _rlim(v: int) -> int:
    return -1 if v >= 2**63 else v


def set_rlimits(sc: Syscalls, rlimits: list[Rlimit]) -> None:
    for i, r in enumerate(rlimits):
        if r.type not in RLIMITS:
            raise InvalidArgument(f"process.rlimits[{i}].type: unknown rlimit {r.type!r}")
        try:
            sc.setrlimit(RLIMITS[r.type], _rlim(r.soft), _rlim(r.hard))
        except (OSError, ValueError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise FailedPrecondition(
                f"process.rlimits: {r.type} soft={r.soft} hard={r.hard}: the host refused it ({why}); "
                "raising a hard limit needs CAP_SYS_RESOURCE"
            )


def set_oom_score_adj(sc: Syscalls, value: int | None, pid: str = "self") -> None:
    if value is None:
        return
    try:
        sc.write_file(f"/proc/{pid}/oom_score_adj", str(value))
    except OSError as e:
        raise FailedPrecondition(
            f"process.oomScoreAdj: {value}: the host refused it ({e.strerror}); "
            "lowering it below the current value needs CAP_SYS_RESOURCE"
        )


def close_fds(keep: set[int], preserve_fds: int = 0) -> None:
    """Close every fd but 0-2, the ``preserve_fds`` after them, and ``keep``."""
    limit = 3 + preserve_fds
    fds = [int(x) for x in os.listdir("/proc/self/fd")]
    for fd in fds:
        if fd >= limit and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    for fd in range(3, limit):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass


def bounding_available() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return (1 << (caps_mod.last_cap() + 1)) - 1


def setup_user_and_caps(sc: Syscalls, proc: Process, available: int | None = None,
                        warn: list[str] | None = None) -> None:
    """Bounding set, user switch keeping capabilities, then E/P/I and ambient."""
    c = proc.capabilities
    avail = bounding_available() if available is None else available
    sets = None
    if c is not None:
        sets = {k: caps_mod.mask(getattr(c, k), f"process.capabilities.{k}") for k in caps_mod_sets()}
        missing = 0
        for k in sets:
            missing |= sets[k] & ~avail
            sets[k] &= avail
        if missing and warn is not None:
            warn.append("capabilities not in the host's bounding set were left out: "
                        + ", ".join(caps_mod.names_of(missing)))
        caps_mod.drop_bounding(sc, sets["bounding"], caps_mod.last_cap(), present=avail)
    u = proc.user
    sc.prctl(s.PR_SET_KEEPCAPS, 1)
    sc.setgroups(list(u.additional_gids))
    sc.setresgid(u.gid)
    sc.setresuid(u.uid)
    sc.prctl(s.PR_SET_KEEPCAPS, 0)
    if sets is not None:
        caps_mod.apply_sets(sc, sets["effective"], sets["permitted"], sets["inheritable"], sets["ambient"])


def caps_mod_sets() -> tuple[str, ...]:
    return ("bounding", "effective", "inheritable", "permitted", "ambient")


def enter_cwd(sc: Syscalls, cwd: str) -> None:
    """chdir into the cwd and make sure it is reachable from the container root."""
    try:
        try:
            sc.chdir(cwd)
        except FileNotFoundError:
            os.makedirs(cwd, mode=0o755, exist_ok=True)
            sc.chdir(cwd)
    except OSError as e:
        raise FailedPrecondition(f"process.cwd: {cwd!r}: {e.strerror}")
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    if not here.startswith("/"):
        raise FailedPrecondition(f"process.cwd: {cwd!r}: current working directory is outside of container root")


def env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in env:
        k, sep, v = e.partition("=")
        if sep:
            out[k] = v
    return out


def home_of(uid: int, passwd: str = "/etc/passwd") -> str:
    try:
        with open(passwd) as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def build_env(proc: Process) -> dict[str, str]:
    env = env_dict(proc.env)
    if "HOME" not in env:
        env["HOME"] = home_of(proc.user.uid)
    return env


def lookup(arg0: str, env: dict[str, str]) -> str:
    """Find the executable as execvp would, inside the (already switched) root."""
    if "/" in arg0:
        try:
            st = os.stat(arg0)
        except OSError as e:
            raise FailedPrecondition(f'exec: "{arg0}": stat {arg0}: {e.strerror.lower() if e.strerror else e}')
        if stat.S_ISDIR(st.st_mode):
            raise FailedPrecondition(f'exec: "{arg0}": is a directory')
        return arg0
    for d in env.get("PATH", DEFAULT_PATH).split(":"):
        p = os.path.join(d or ".", arg0)
        try:
            st = os.stat(p)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return p
    raise FailedPrecondition(f'exec: "{arg0}": executable file not found in $PATH')
