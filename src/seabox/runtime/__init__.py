"""The OCI runtime library behind ``seabox-runc``: state machine, create/start/kill/delete/exec,
rootfs, namespaces, hooks.  Cgroups live in ``runtime.cgroups``; CLI modules only parse and call."""
