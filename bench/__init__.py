"""Benchmarks: seabox side by side with the real anchors (runc, crun, containerd, docker)."""
