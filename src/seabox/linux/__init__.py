"""The only place seabox calls libc or raw syscalls (see ``syscalls.Syscalls``)."""
