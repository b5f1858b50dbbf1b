"""Image references the way docker's CLI normalizes them (``busybox`` → ``docker.io/library/busybox:latest``)."""

from __future__ import annotations


def split(ref: str) -> tuple[str, str, str]:
    """(repository, tag, digest) — the tag is "" when a digest is given and no tag is."""
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def domain_of(repo: str) -> str:
    first, sep, _rest = repo.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def familiar(ref: str) -> str:
    """``busybox`` → ``busybox:latest`` (docker's short form with the default tag)."""
    repo, tag, digest = split(ref)
    if digest:
        return f"{repo}{':' + tag if tag else ''}@{digest}"
    return f"{repo}:{tag or 'latest'}"


def canonical(ref: str) -> str:
    repo, tag, digest = split(ref)
    if domain_of(repo) == "docker.io" and not repo.startswith("docker.io/"):
        repo = "docker.io/" + (repo if "/" in repo else "library/" + repo)
    if digest:
        return f"{repo}{':' + tag if tag else ''}@{digest}"
    return f"{repo}:{tag or 'latest'}"
