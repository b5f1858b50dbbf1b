"""The OCI runtime library behind ``seabox-runc``: state machine, create/start/kill/delete/exec,
rootfs, namespaces, hooks.  Cgroups live in ``runtime.cgroups``; CLI modules only parse and call.

One file per verb (``create``, ``start``, ``kill``, ``delete``, ``exec``, ``query``; ``pause``,
``update``, ``events`` sit on the cgroups package), the lifecycle rules in ``state``, and the
container side of ``create`` in ``init``.  The process model is runc's::

    seabox-runc create (parent, child subreaper)
      └─ intermediate: non-dumpable, setns(paths), unshare(user) → parent writes id maps and
         │             moves it into the cgroup → unshare(the other namespaces)
         └─ init (pid 1 of a new pid ns): rootfs, [parent runs prestart/createRuntime hooks],
                createContainer hooks, pivot_root, console, hostname, sysctl, read-only/masked
                paths, rlimits, seccomp, fds closed, user + capabilities, cwd → "ready"
                → blocks opening <root>/<id>/exec.fifo ... ``start`` opens it → startContainer
                hooks → execve(user process)

The parent writes state.json and --pid-file after "ready" and exits; the init is re-parented
to the caller's subreaper (a shim).  ``exec`` mirrors it, joining /proc/<init>/ns/* instead.
Every kernel-changing call goes through ``seabox.linux.syscalls.Syscalls`` (recording fake in
unit tests).  Hot-path modules avoid heavy imports (json, re, typing, dataclasses, pathlib,
the ctypes package; ``os`` on the paths of ``start``, ``state`` and ``delete``): every container
start pays for each command's interpreter start-up.
"""
