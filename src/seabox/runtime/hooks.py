"""Running OCI hooks: each gets the container state JSON on stdin and its own timeout.

Design reason: the spec gives every hook kind the same contract and only differs in where it
runs and whether failure is fatal (prestart, createRuntime, createContainer and startContainer
fail the operation; poststart and poststop only warn), so one function serves all, called from
the process that is in the right namespace at the right moment.
"""

from __future__ import annotations

import json
import sys

from seabox.errdefs import FailedPrecondition
from seabox.oci.runtime_spec import Hook

TYPE_CHECKING = False  # typing is not imported at run time (import cost); mypy reads this block
if TYPE_CHECKING:
    from typing import Any

FATAL = ("prestart", "createRuntime", "createContainer", "startContainer")


def run_hook(kind: str, index: int, hook: Hook, state: dict[str, Any]) -> None:
    import subprocess  # only paid when a hook exists

    argv = hook.args or [hook.path]
    env = dict(e.split("=", 1) for e in hook.env if "=" in e)
    try:
        proc = subprocess.Popen(argv, executable=hook.path, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    except OSError as e:
        raise FailedPrecondition(f"hook {kind}[{index}] {hook.path}: {e.strerror}")
    try:
        out, err = proc.communicate(json.dumps(state).encode(), timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise FailedPrecondition(f"hook {kind}[{index}] {hook.path}: timed out after {hook.timeout}s")
    if proc.returncode != 0:
        detail = (err or out).decode(errors="replace").strip().splitlines()
        raise FailedPrecondition(
            f"hook {kind}[{index}] {hook.path}: exit status {proc.returncode}"
            + (f": {detail[-1]}" if detail else "")
        )


def run_hooks(kind: str, hooks: dict[str, list[Hook]], state: dict[str, Any]) -> None:
    """Run every hook of ``kind`` in order; fatal kinds raise, the others warn on stderr."""
    for i, hook in enumerate(hooks.get(kind, [])):
        try:
            run_hook(kind, i, hook, state)
        except FailedPrecondition as e:
            if kind in FATAL:
                raise
            print(f"seabox-runc: warning: {e}", file=sys.stderr)
            try:
                sys.stderr.flush()
            except OSError:
                pass


