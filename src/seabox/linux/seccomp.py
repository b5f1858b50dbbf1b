"""OCI seccomp profiles compiled and loaded through libseccomp (ctypes).

libseccomp does the hard parts (syscall numbers per architecture, multiplexed
syscalls such as socketcall on x86, BPF generation); this module only turns the OCI
``linux.seccomp`` object into libseccomp calls.  It is split in two steps so that
``seabox-runc create`` can reject a bad profile in the parent, with a one-line error,
before anything is cloned:

* ``parse`` validates the JSON into a ``Profile`` (pure Python, no library);
* ``compile_check`` additionally builds the filter in libseccomp and releases it;
* ``prepare`` builds it and exports the classic-BPF program (a ``Filter``), whose
  ``load()`` is a single seccomp(2) syscall: build in the runtime before cloning, load
  in the init last before ``execve`` (after this, only the allowed syscalls work);
* ``load_filter`` = ``prepare(...).load()`` in one call.

libseccomp.so is dlopen'ed when this module is imported, not at first use: a caller
that compiles after pivot_root (``load_filter`` in the init) no longer reaches the
host's libraries, so importing this module before pivot_root is what makes that work.
``prepare`` before the root switch needs neither.

Behaviour follows runc: syscall names libseccomp does not know are skipped (profiles
list syscalls of newer kernels); a rule whose action equals the default action is
skipped (libseccomp refuses it); conditions on the same argument index are OR-ed by
adding one rule per condition, conditions on different indexes AND-ed in one rule;
``SCMP_ACT_ERRNO`` without ``errnoRet`` returns EPERM.  libseccomp is told not to set
no_new_privs itself (``SCMP_FLTATR_CTL_NNP`` = 0): that is process.noNewPrivileges'
job.  An unknown action, architecture, operator or flag is an InvalidArgument naming it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os

from seabox.errdefs import FailedPrecondition, InvalidArgument, SeaboxError, subject

ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000

_ACTIONS = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO,
    "SCMP_ACT_TRACE": ACT_TRACE,
    "SCMP_ACT_LOG": ACT_LOG,
    "SCMP_ACT_ALLOW": ACT_ALLOW,
}

OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# libseccomp filter attributes (enum scmp_filter_attr).
_ATTR_CTL_NNP = 3
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 4,  # SCMP_FLTATR_CTL_TSYNC
    "SECCOMP_FILTER_FLAG_LOG": 6,  # SCMP_FLTATR_CTL_LOG
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 7,  # SCMP_FLTATR_CTL_SSB
}

_ARCHES = frozenset(
    {
        "x86", "x86_64", "x32", "arm", "aarch64", "loongarch64", "m68k", "mips", "mips64", "mips64n32",
        "mipsel", "mipsel64", "mipsel64n32", "ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc",
        "parisc64", "riscv64", "sh", "sheb",
    }
)  # fmt: skip


class _Plain:
    """A small typed record (plain class: @dataclass costs ~1 ms of import time per class,
    paid by every ``create``)."""

    __slots__ = ()

    def _fields(self) -> tuple[str, ...]:
        return tuple(getattr(type(self), "__slots__", ()))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(getattr(self, k) == getattr(other, k) for k in self._fields())

    def __hash__(self) -> int:
        return hash(tuple(repr(getattr(self, k)) for k in self._fields()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields())
        return f"{type(self).__name__}({fields})"


class ArgCmp(_Plain):
    __slots__ = ("index", "op", "value", "value_two")

    def __init__(self, index: int, op: int, value: int, value_two: int = 0) -> None:
        self.index = index
        self.op = op
        self.value = value
        self.value_two = value_two


class Rule(_Plain):
    __slots__ = ("action", "args", "names")

    def __init__(self, names: list[str], action: int, args: list[ArgCmp] | None = None) -> None:
        self.names = names
        self.action = action  # the full libseccomp action (errno/trace data included)
        self.args = args or []


class Profile(_Plain):
    __slots__ = ("architectures", "default_action", "flags", "rules")

    def __init__(
        self,
        default_action: int,
        architectures: list[str] | None = None,
        flags: list[str] | None = None,
        rules: list[Rule] | None = None,
    ) -> None:
        self.default_action = default_action
        self.architectures = architectures or []  # libseccomp names: "x86_64"
        self.flags = flags or []
        self.rules = rules or []


def _action(name: object, errno_ret: object, where: str) -> int:
    if not isinstance(name, str) or name not in _ACTIONS:
        if name == "SCMP_ACT_NOTIFY":
            raise InvalidArgument(subject("seccomp action", "SCMP_ACT_NOTIFY", f"is not supported ({where})"))
        raise InvalidArgument(subject("seccomp action", str(name), f"is unknown ({where})"))
    base = _ACTIONS[name]
    if base in (ACT_ERRNO, ACT_TRACE):
        if errno_ret is None:
            errno_ret = errno.EPERM
        if not isinstance(errno_ret, int) or isinstance(errno_ret, bool) or not 0 <= errno_ret <= 0xFFFF:
            raise InvalidArgument(subject("seccomp errnoRet", str(errno_ret), f"must be 0-65535 ({where})"))
        return base | errno_ret
    return base


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**64:
        raise InvalidArgument(subject("seccomp argument", what, f"{value!r} is not an unsigned 64-bit integer"))
    return value


def parse(seccomp: dict) -> Profile:
    """Validate an OCI ``linux.seccomp`` object; raise InvalidArgument naming what is wrong."""
    if not isinstance(seccomp, dict):
        raise InvalidArgument(subject("linux.seccomp", type(seccomp).__name__, "must be an object"))
    if "defaultAction" not in seccomp:
        raise InvalidArgument(subject("linux.seccomp", "defaultAction", "is required"))
    if seccomp.get("listenerPath"):
        raise InvalidArgument(subject("linux.seccomp.listenerPath", seccomp["listenerPath"], "is not supported"))
    default = _action(seccomp["defaultAction"], seccomp.get("defaultErrnoRet"), "defaultAction")
    arches = []
    for arch in seccomp.get("architectures") or []:
        name = arch[len("SCMP_ARCH_"):].lower() if isinstance(arch, str) and arch.startswith("SCMP_ARCH_") else None
        if name not in _ARCHES:
            raise InvalidArgument(subject("seccomp architecture", str(arch), "is unknown"))
        arches.append(name)
    flags = []
    for flag in seccomp.get("flags") or []:
        if flag not in _FLAGS:
            raise InvalidArgument(subject("seccomp flag", str(flag), "is unknown or not supported"))
        flags.append(flag)
    rules = []
    for i, sc in enumerate(seccomp.get("syscalls") or []):
        names = sc.get("names") or ([sc["name"]] if sc.get("name") else [])
        if not names or not all(isinstance(n, str) and n for n in names):
            raise InvalidArgument(subject("seccomp rule", str(i), "needs a non-empty list of syscall names"))
        where = f"syscalls[{i}] {names[0]}"
        action = _action(sc.get("action"), sc.get("errnoRet"), where)
        args = []
        for a in sc.get("args") or []:
            index = a.get("index")
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 5:
                raise InvalidArgument(subject("seccomp argument index", str(index), f"must be 0-5 ({where})"))
            op = a.get("op")
            if op not in OPS:
                raise InvalidArgument(subject("seccomp operator", str(op), f"is unknown ({where})"))
            args.append(
                ArgCmp(index, OPS[op], _int(a.get("value", 0), where), _int(a.get("valueTwo", 0) or 0, where))
            )
        rules.append(Rule(names=list(names), action=action, args=args))
    return Profile(default_action=default, architectures=arches, flags=flags, rules=rules)


# -- libseccomp -----------------------------------------------------------------------


class _ArgCmpC(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


_lib: ctypes.CDLL | None = None


def _libseccomp() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as e:
            raise InvalidArgument(subject("linux.seccomp", "libseccomp.so.2", f"cannot be loaded: {e}"))
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.restype = None
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_add.restype = ctypes.c_int
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_attr_set.restype = ctypes.c_int
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmpC),
        ]
        lib.seccomp_rule_add_array.restype = ctypes.c_int
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_export_bpf.restype = ctypes.c_int
        _lib = lib
    return _lib


with contextlib.suppress(SeaboxError):
    _libseccomp()  # now, while the host's /usr/lib is still our root (see the module docstring)


def _fail(what: str, name: str, rc: int) -> SeaboxError:
    return InvalidArgument(subject(what, name, f"rejected by libseccomp: {errno.errorcode.get(-rc, rc)}"))


def _build(profile: Profile) -> int:
    """A libseccomp filter context for the profile (caller releases it)."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(profile.default_action)
    if not ctx:
        raise InvalidArgument(subject("seccomp defaultAction", hex(profile.default_action), "rejected by libseccomp"))
    try:
        rc = lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0)
        if rc < 0:
            raise _fail("seccomp attribute", "CTL_NNP", rc)
        for flag in profile.flags:
            rc = lib.seccomp_attr_set(ctx, _FLAGS[flag], 1)
            if rc < 0:
                raise _fail("seccomp flag", flag, rc)
        for arch in profile.architectures:
            token = lib.seccomp_arch_resolve_name(arch.encode())
            if token == 0:
                raise InvalidArgument(subject("seccomp architecture", arch, "is unknown to libseccomp"))
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -errno.EEXIST:
                raise _fail("seccomp architecture", arch, rc)
        for rule in profile.rules:
            if rule.action == profile.default_action:
                continue
            groups = _arg_groups(rule.args)
            for name in rule.names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR: unknown to libseccomp on every architecture
                    continue
                for group in groups:
                    arr = (_ArgCmpC * max(1, len(group)))()
                    for i, a in enumerate(group):
                        arr[i] = _ArgCmpC(a.index, a.op, a.value, a.value_two)
                    rc = lib.seccomp_rule_add_array(ctx, rule.action, nr, len(group), arr)
                    if rc < 0:
                        raise _fail("seccomp rule", name, rc)
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return int(ctx)


def _arg_groups(args: list[ArgCmp]) -> list[list[ArgCmp]]:
    """One rule with all conditions, or one rule per condition when an index repeats (OR)."""
    if not args:
        return [[]]
    indexes = [a.index for a in args]
    if len(set(indexes)) == len(indexes):
        return [args]
    return [[a] for a in args]


def compile_check(seccomp: dict) -> None:
    """Validate a profile and build it in libseccomp without loading it."""
    profile = parse(seccomp)
    ctx = _build(profile)
    _libseccomp().seccomp_release(ctx)


_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "armv7l": 383, "ppc64le": 358, "s390x": 348, "riscv64": 277}
_SECCOMP_SET_MODE_FILTER = 1
_FILTER_FLAG_BITS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Filter:
    """A compiled filter: classic BPF bytes plus seccomp(2) flags, loadable without libseccomp.

    ``prepare`` runs in the runtime (host root, libseccomp at hand, errors reported before
    anything is cloned); the container's init then calls ``load()`` last before execve —
    one seccomp(2) syscall, no library, no file access, no second compilation.
    """

    __slots__ = ("_buf", "_libc", "_nr", "flags", "program")

    def __init__(self, program: bytes, flags: int) -> None:
        self.program = program
        self.flags = flags
        self._buf = ctypes.create_string_buffer(program, len(program))
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._nr = _SYS_SECCOMP.get(os.uname().machine, -1)

    def load(self) -> None:
        if self._nr < 0:
            raise FailedPrecondition(subject("linux.seccomp", os.uname().machine, "seccomp(2) number unknown"))
        prog = _SockFprog(len(self.program) // 8, ctypes.addressof(self._buf))
        rc = self._libc.syscall(
            ctypes.c_long(self._nr), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER), ctypes.c_uint(self.flags),
            ctypes.byref(prog),
        )  # fmt: skip
        if rc != 0:
            err = ctypes.get_errno()
            raise FailedPrecondition(subject("linux.seccomp", "filter", f"cannot be loaded: {os.strerror(err)}"))


CACHE_FORMAT = b"seabox-seccomp-bpf-1"


def _cache_path(seccomp: dict, cache_dir: str) -> str:
    # on every create and exec: the C codec and the builtin sha256, not json (re, enum) and
    # hashlib (OpenSSL), which would cost more than the cache saves
    from _sha256 import sha256

    from seabox import jsonlite

    doc = jsonlite.dumps(seccomp, sort_keys=True).encode()
    return os.path.join(cache_dir, sha256(CACHE_FORMAT + b"\0" + doc).hexdigest())


def prepare(seccomp: dict, cache_dir: str | None = None) -> Filter:
    """Validate and compile a profile into a ``Filter`` (nothing is loaded).

    With ``cache_dir`` (the runtime's root-owned state dir), a profile compiled before — the
    same JSON, byte for byte once keys are sorted — is read back instead of built again: a
    container engine passes the same default profile to every container and exec, and
    building it through libseccomp costs milliseconds each time.  A damaged entry is ignored
    and rewritten."""
    path = _cache_path(seccomp, cache_dir) if cache_dir else ""
    if path:
        try:
            with open(path, "rb") as f:
                data = f.read()
            if len(data) > 4 and (len(data) - 4) % 8 == 0:
                return Filter(data[4:], int.from_bytes(data[:4], "little"))
        except OSError:
            pass
    f_ = _compile(seccomp)
    if path:
        try:
            os.makedirs(cache_dir or "", mode=0o700, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as out:
                out.write(f_.flags.to_bytes(4, "little") + f_.program)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs the next compile
    return f_


def _compile(seccomp: dict) -> Filter:
    profile = parse(seccomp)
    lib = _libseccomp()
    ctx = _build(profile)
    try:
        fd = os.memfd_create("seabox-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise _fail("linux.seccomp", "filter", rc)
            size = os.lseek(fd, 0, os.SEEK_CUR)
            program = os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    flags = 0
    for flag in profile.flags:
        flags |= _FILTER_FLAG_BITS[flag]
    return Filter(program, flags)


def load_filter(seccomp: dict) -> None:
    """Compile the profile and load it into the calling thread (TSYNC flag: every thread)."""
    prepare(seccomp).load()
