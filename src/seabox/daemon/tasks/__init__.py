"""seaboxd's tasks: the running side of containers, kept by one shim each.

Design reason: the gRPC servicer (``seabox.api.containerd.tasks``) only translates wire
messages; everything a task needs — the bundle on disk, the rootfs mounts, starting a shim
through the warm launcher, remembering which shim serves which container, turning shim
events into containerd's task events, finding the shims again after a restart — lives here,
behind :class:`TaskManager`, so it can be tested without gRPC and reused by other front ends
(CRI).  The manager keeps no state that the shims do not also keep: a restarted daemon
rebuilds its table from the shims' state directories (``seabox.shim.client.recover``).
"""

from seabox.daemon.tasks.manager import Process, TaskEvent, TaskManager

__all__ = ["Process", "TaskEvent", "TaskManager"]
