#!/usr/bin/env python3
"""Build the fixture images and push them to the local registries (``make fixtures``).

The fixtures are an oracle: they are built with independent tools (umoci, skopeo, debootstrap,
tar) and never with seabox's own code, so a bug in seabox cannot hide itself in its test data.
Standard library only, so it runs before anything else in the venv works.

    tools/fixtures.py build     build what is missing or stale, push, write fixtures.json
    tools/fixtures.py check     exit 0 when the fixtures are up to date, 1 otherwise

Caching: a sha256 over the recipe (this file, tools/fixtures/*, the host busybox binary, the
arm64 busybox-static package and the nginx rootfs tarball) is stored in fixtures.json; when it
matches and every recorded image still resolves in its registry by digest, nothing is done.
The Debian nginx rootfs is cached on its own, keyed by the source of the function that makes it,
so changing any other fixture never reruns debootstrap.

Everything lives under $SEABOX_FIXTURES (default /var/lib/seabox-fixtures); the registries are the
ones scripts/registries.sh starts.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(os.environ.get("SEABOX_FIXTURES", "/var/lib/seabox-fixtures"))
HERE = Path(__file__).resolve().parent
HOST_BUSYBOX = Path("/bin/busybox")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])


def registries() -> dict[str, dict[str, str]]:
    tls = FIXTURES / "registries" / "tls"
    return {
        "open": {"host": "127.0.0.1:5000", "url": "http://127.0.0.1:5000"},
        "auth": {
            "host": "127.0.0.1:5001",
            "url": "http://127.0.0.1:5001",
            "username": "admin",
            "password": "Harbor12345",
        },
        "tls": {
            "host": "127.0.0.1:5002",
            "url": "https://127.0.0.1:5002",
            "ca": str(tls / "ca.pem"),
            "cert_dir": str(tls / "certs.d"),
        },
    }


# name -> (registry, repository:tag, layout, layout tag, skopeo copy flags)
PUSHES: list[tuple[str, str, str, str, str, list[str]]] = [
    ("busybox", "open", "library/busybox:latest", "busybox", "amd64", ["--format", "v2s2"]),
    ("busybox-oci", "open", "library/busybox:oci", "busybox", "amd64", ["--format", "oci"]),
    (
        "busybox-zstd",
        "open",
        "library/busybox:zstd",
        "busybox-zstd",
        "zstd",
        ["--format", "oci", "--dest-compress-format", "zstd"],
    ),
    ("busybox-multi", "open", "library/busybox:multi", "busybox", "multi", ["--all"]),
    # The image is Debian bookworm's nginx (1.22), not nginx 1.26: the tag is the one the guides use.
    ("nginx", "open", "library/nginx:1.26", "nginx", "1.26", ["--format", "v2s2"]),
    ("auth-busybox", "auth", "infra/busybox:latest", "busybox", "amd64", ["--format", "v2s2"]),
    ("auth-nginx", "auth", "infra/nginx:1.26", "nginx", "1.26", ["--format", "v2s2"]),
    ("tls-busybox", "tls", "library/busybox:latest", "busybox", "amd64", ["--format", "v2s2"]),
]


class FixtureError(Exception):
    """A step failed; the message is one line, ``detail`` the tool's stderr tail."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def say(msg: str) -> None:
    print(f"==> fixtures: {msg}", flush=True)


def run(cmd: Sequence[str | Path], *, quiet_ok: bool = True, timeout: float = 1800) -> str:
    """Run a tool; on failure raise FixtureError with the tail of its stderr."""
    shown = " ".join(str(c) for c in cmd)
    if len(shown) > 160:
        shown = shown[:157] + "..."
    print(f"    $ {shown}", flush=True)
    try:
        p = subprocess.run(
            [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise FixtureError(f"{cmd[0]}: not found (run scripts/setup.sh)")
    except subprocess.TimeoutExpired:
        raise FixtureError(f"{cmd[0]} timed out after {timeout:.0f} s")
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-12:])
        raise FixtureError(
            f"{Path(str(cmd[0])).name} {cmd[1] if len(cmd) > 1 else ''} failed (exit {p.returncode})", tail
        )
    return p.stdout


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- registry access (stdlib HTTP)


def _request(reg: dict[str, str], path: str, accept: str = ACCEPT, method: str = "GET") -> tuple[bytes, Any]:
    req = urllib.request.Request(reg["url"] + path, method=method, headers={"Accept": accept})
    if "username" in reg:
        token = base64.b64encode(f"{reg['username']}:{reg['password']}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context(cafile=reg["ca"]) if "ca" in reg else None
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return r.read(), r.headers


def fetch_manifest(reg: dict[str, str], repo: str, ref: str) -> tuple[bytes, str]:
    body, headers = _request(reg, f"/v2/{repo}/manifests/{ref}")
    return body, headers.get("Content-Type", "")


def resolves(reg: dict[str, str], repo: str, digest: str) -> bool:
    try:
        body, _ = fetch_manifest(reg, repo, digest)
    except (urllib.error.URLError, OSError):
        return False
    return sha256_bytes(body) == digest


# ---------------------------------------------------------------- inputs


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in src.read_text().splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri.rstrip("/")
    for src in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if src.exists():
            for line in src.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb":
                    uri = next((p for p in parts[1:] if p.startswith("http")), "")
                    if uri.rstrip("/").endswith("/debian"):
                        return uri.rstrip("/")
    return DEFAULT_MIRROR


def arm64_busybox_deb() -> Path:
    """busybox-static for arm64 from Debian, cached under $SEABOX_FIXTURES/debs/."""
    debs = FIXTURES / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob("busybox-static_*_arm64.deb"))
    if found:
        return found[-1]
    foreign = run(["dpkg", "--print-foreign-architectures"]).split()
    if "arm64" not in foreign:
        say("adding the arm64 architecture to dpkg (to download busybox-static:arm64)")
        run(["dpkg", "--add-architecture", "arm64"])
    say("downloading busybox-static:arm64")
    try:
        run_in(debs, ["apt-get", "download", "busybox-static:arm64"])
    except FixtureError:
        say("apt lists have no arm64 packages yet: apt-get update")
        run(["apt-get", "update", "-q"], timeout=900)
        run_in(debs, ["apt-get", "download", "busybox-static:arm64"])
    found = sorted(debs.glob("busybox-static_*_arm64.deb"))
    if not found:
        raise FixtureError(f"apt-get download left no busybox-static_*_arm64.deb in {debs}")
    return found[-1]


def run_in(cwd: Path, cmd: list[str]) -> str:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return run(cmd)
    finally:
        os.chdir(old)


def recipe_sources() -> list[Path]:
    paths = [Path(__file__).resolve()]
    extra = HERE / "fixtures"
    if extra.is_dir():
        paths += sorted(p for p in extra.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return paths


def recipe_hash(arm64_deb: Path, nginx_tar: Path) -> str:
    h = hashlib.sha256()
    for p in recipe_sources():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    for p in (HOST_BUSYBOX, arm64_deb, nginx_tar):
        h.update(f"{p.name}:{sha256_file(p)}\0".encode())
    return h.hexdigest()


# ---------------------------------------------------------------- busybox rootfs


def busybox_applets(binary: Path) -> list[str]:
    out = run([str(binary), "--list"])
    return sorted({a.strip() for a in out.split() if a.strip() and "/" not in a and a != "busybox"})


def populate_busybox(root: Path, binary: Path, applets: list[str], platform: str) -> None:
    """The busybox image's filesystem: /bin/busybox, one symlink per applet, users and base dirs."""
    for d, mode in [
        ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("proc", 0o555),
        ("root", 0o700), ("run", 0o755), ("sys", 0o555), ("tmp", 0o1777), ("usr", 0o755),
        ("usr/bin", 0o755), ("var", 0o755), ("var/tmp", 0o1777),
    ]:  # fmt: skip
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
    shutil.copyfile(binary, root / "bin" / "busybox")
    os.chmod(root / "bin" / "busybox", 0o755)
    for applet in applets:
        link = root / "bin" / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n",
        "etc/shadow": "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
        "etc/hostname": "busybox\n",
        "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "etc/seabox-fixture": f"busybox {platform}\n",
    }
    for rel, text in files.items():
        (root / rel).write_text(text)
        os.chmod(root / rel, 0o640 if rel == "etc/shadow" else 0o644)


# ---------------------------------------------------------------- nginx rootfs (debootstrap, cached)


def build_nginx_rootfs(out_tar: Path, work: Path, mirror: str) -> None:
    """Debian bookworm minbase with nginx-light, logging to the container's stdout/stderr."""
    target = work / "nginx-rootfs"
    if target.exists():
        unmount_under(target)
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # debootstrap itself puts an "exit 101" policy-rc.d in the target while it installs, so
    # nginx's postinst never starts a real nginx on the host's network.
    run(["debootstrap", "--variant=minbase", "--include=nginx-light", "bookworm", target, mirror])
    unmount_under(target)
    # logs go to the container's stdout/stderr, as the official image does
    logs = target / "var/log/nginx"
    logs.mkdir(parents=True, exist_ok=True)
    for name, dest in (("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")):
        with contextlib.suppress(FileNotFoundError):
            (logs / name).unlink()
        (logs / name).symlink_to(dest)
    # keep it small: apt lists and caches, logs, device nodes (the runtime provides /dev)
    for pattern in (
        "var/lib/apt/lists/*", "var/cache/apt/*", "var/cache/debconf/*-old", "var/log/*.log",
        "var/log/apt/*", "dev/*", "run/*", "tmp/*", "var/tmp/*", "usr/share/doc/*", "usr/share/man/*",
        "usr/share/info/*", "usr/share/locale/*",
    ):  # fmt: skip
        for p in target.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    (target / "etc/hostname").write_text("nginx\n")
    tmp = out_tar.with_name(out_tar.name + ".tmp")
    run(["tar", "--numeric-owner", "--sort=name", "--xattrs", "-C", target, "-czf", tmp, "."])
    tmp.replace(out_tar)
    shutil.rmtree(target)


def unmount_under(target: Path) -> None:
    prefix = str(target.resolve())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if mp == prefix or mp.startswith(prefix + "/"):
            mounts.append(mp)
    for mp in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


def nginx_rootfs() -> Path:
    rootfs_dir = FIXTURES / "rootfs"
    rootfs_dir.mkdir(parents=True, exist_ok=True)
    out = rootfs_dir / "nginx-bookworm.tar.gz"
    keyfile = rootfs_dir / "nginx-bookworm.key"
    key = hashlib.sha256(inspect.getsource(build_nginx_rootfs).encode()).hexdigest()
    if out.exists() and keyfile.exists() and keyfile.read_text().strip() == key:
        say(f"nginx rootfs cached: {out}")
        return out
    mirror = debian_mirror()
    say(f"building the nginx rootfs with debootstrap from {mirror} (takes minutes)")
    t0 = time.monotonic()
    build_nginx_rootfs(out, FIXTURES / "work", mirror)
    keyfile.write_text(key + "\n")
    say(f"nginx rootfs done in {time.monotonic() - t0:.0f} s: {out} ({out.stat().st_size // 1024} KiB)")
    return out


# ---------------------------------------------------------------- OCI layouts (umoci)


def umoci_image(layout: Path, tag: str, bundle: Path, fill: Any, config: list[str]) -> None:
    """A one-layer image in ``layout:tag``: new, unpack, ``fill(rootfs)``, repack, config."""
    ref = f"{layout}:{tag}"
    if bundle.exists():
        shutil.rmtree(bundle)
    run(["umoci", "new", "--image", ref])
    run(["umoci", "unpack", "--image", ref, bundle])
    fill(bundle / "rootfs")
    run(["umoci", "repack", "--image", ref, "--history.created_by", "seabox tools/fixtures.py", bundle])
    run(["umoci", "config", "--image", ref, "--author", "seabox fixtures", *config])
    shutil.rmtree(bundle)


def readable_by_all(layout: Path) -> list[Path]:
    """Make a layout world-readable (files 0644, directories 0755); return what was changed.

    umoci writes blobs and index.json with mode 0600 (its temp files, renamed into place), so a
    root-built layout could not be read by the unit tests, which run as any user.  Content and
    digests do not depend on modes: an existing cache is fixed in place, never rebuilt for this.
    """
    changed = []
    for path in [layout, *layout.rglob("*")]:
        if path.is_symlink():
            continue
        want = 0o755 if path.is_dir() else 0o644
        if path.stat().st_mode & 0o7777 != want:
            os.chmod(path, want)
            changed.append(path)
    return changed


def fix_layout_modes(info: dict[str, Any]) -> None:
    for name, layout in info.get("layouts", {}).items():
        if Path(layout).is_dir() and (changed := readable_by_all(Path(layout))):
            say(f"layout {name}: made {len(changed)} files and directories readable by all")


def layout_descriptor(layout: Path, tag: str) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    for d in index["manifests"]:
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return dict(d)
    raise FixtureError(f"layout {layout}: no tag {tag!r}")


def add_index(layout: Path, tag: str, platforms: dict[str, str]) -> None:
    """Write an OCI image index over ``platforms`` (``os/arch`` -> tag) and tag it (umoci cannot)."""
    manifests = []
    for platform, src_tag in platforms.items():
        d = layout_descriptor(layout, src_tag)
        os_, arch = platform.split("/")
        plat: dict[str, str] = {"architecture": arch, "os": os_}
        if arch == "arm64":
            plat["variant"] = "v8"
        manifests.append(
            {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"], "platform": plat}
        )
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}, indent=2).encode()
    digest = sha256_bytes(body)
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(body)
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    index["manifests"] = [
        d
        for d in index["manifests"]
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ]
    index["manifests"].append(
        {
            "mediaType": OCI_INDEX,
            "digest": digest,
            "size": len(body),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    )
    index_path.write_text(json.dumps(index))


def build_busybox_layout(layout: Path, arm64_deb: Path) -> Path:
    """Layout tags: amd64, arm64, multi (index). Returns the unpacked amd64 rootfs dir."""
    work = FIXTURES / "work"
    work.mkdir(parents=True, exist_ok=True)
    applets = busybox_applets(HOST_BUSYBOX)
    say(f"busybox rootfs: {len(applets)} applets from {HOST_BUSYBOX}")
    rootfs = FIXTURES / "rootfs" / "busybox"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.mkdir(parents=True)
    populate_busybox(rootfs, HOST_BUSYBOX, applets, "linux/amd64")

    arm = work / "busybox-arm64-deb"
    if arm.exists():
        shutil.rmtree(arm)
    run(["dpkg-deb", "-x", arm64_deb, arm])
    arm_binary = arm / "bin" / "busybox"
    if not arm_binary.exists():
        raise FixtureError(f"{arm64_deb.name} has no /bin/busybox")
    head = arm_binary.read_bytes()[:20]
    if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != 183:
        raise FixtureError(f"{arm_binary}: not an aarch64 ELF")

    if layout.exists():
        shutil.rmtree(layout)
    layout.parent.mkdir(parents=True, exist_ok=True)
    say(f"busybox OCI layout {layout}")
    run(["umoci", "init", "--layout", layout])
    common = ["--config.cmd=sh", f"--config.env={PATH_ENV}", "--os=linux"]

    def fill_amd64(r: Path) -> None:
        run(["cp", "-a", f"{rootfs}/.", r])

    def fill_arm64(r: Path) -> None:
        populate_busybox(r, arm_binary, applets, "linux/arm64")

    umoci_image(layout, "amd64", work / "bundle-amd64", fill_amd64, [*common, "--architecture=amd64"])
    umoci_image(layout, "arm64", work / "bundle-arm64", fill_arm64, [*common, "--architecture=arm64"])
    run(["umoci", "gc", "--layout", layout])
    add_index(layout, "multi", {"linux/amd64": "amd64", "linux/arm64": "arm64"})
    shutil.rmtree(arm)
    return rootfs


def build_zstd_layout(layout: Path, source: Path) -> None:
    """The amd64 busybox image with its layer recompressed to zstd, in a layout of its own.

    Pushing busybox:amd64 with --dest-compress-format zstd straight to the registry does not
    recompress: skopeo reuses the gzip blob already in the repository. An OCI layout destination
    has no such blob, so the recompression happens there and the push then keeps it.
    """
    if layout.exists():
        shutil.rmtree(layout)
    say(f"busybox zstd OCI layout {layout}")
    run(
        ["skopeo", "--insecure-policy", "copy", "--format", "oci", "--dest-compress-format", "zstd",
         f"oci:{source}:amd64", f"oci:{layout}:zstd"]
    )  # fmt: skip
    manifest = json.loads(blob(layout, layout_descriptor(layout, "zstd")["digest"]))
    kinds = [layer["mediaType"] for layer in manifest["layers"]]
    if any(k != ZSTD_LAYER for k in kinds):
        raise FixtureError(f"{layout}: layers not recompressed to zstd: {kinds}")


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def build_nginx_layout(layout: Path, tarball: Path) -> None:
    work = FIXTURES / "work"
    if layout.exists():
        shutil.rmtree(layout)
    say(f"nginx OCI layout {layout}")
    run(["umoci", "init", "--layout", layout])

    def fill(r: Path) -> None:
        run(["tar", "--numeric-owner", "--xattrs", "-xzf", tarball, "-C", r])

    config = [
        "--config.cmd=nginx", "--config.cmd=-g", "--config.cmd=daemon off;",
        "--config.exposedports=80/tcp", f"--config.env={PATH_ENV}", "--config.stopsignal=SIGQUIT",
        "--os=linux", "--architecture=amd64",
    ]  # fmt: skip
    umoci_image(layout, "1.26", work / "bundle-nginx", fill, config)
    run(["umoci", "gc", "--layout", layout])


# ---------------------------------------------------------------- push and record


def push(name: str, reg_name: str, target: str, layout: Path, tag: str, flags: list[str]) -> dict[str, Any]:
    reg = registries()[reg_name]
    dest = f"docker://{reg['host']}/{target}"
    say(f"push {name}: {layout.name}:{tag} -> {reg['host']}/{target}")
    cmd = ["skopeo", "--insecure-policy", "copy", "--retry-times", "2", *flags]
    if reg_name == "tls":
        cmd += ["--dest-cert-dir", reg["cert_dir"]]
    else:
        cmd += ["--dest-tls-verify=false"]
    if "username" in reg:
        cmd += ["--dest-creds", f"{reg['username']}:{reg['password']}"]
    run([*cmd, f"oci:{layout}:{tag}", dest])
    repo, ref_tag = target.rsplit(":", 1)
    body, ctype = fetch_manifest(reg, repo, ref_tag)
    manifest = json.loads(body)
    entry: dict[str, Any] = {
        "ref": f"{reg['host']}/{target}",
        "registry": reg_name,
        "repository": repo,
        "tag": ref_tag,
        "digest": sha256_bytes(body),
        "mediaType": manifest.get("mediaType") or ctype,
        "size": len(body),
        "layout": layout.name,
        "layout_tag": tag,
    }
    if "layers" in manifest:
        entry["layers"] = [
            {"digest": layer["digest"], "mediaType": layer["mediaType"]} for layer in manifest["layers"]
        ]
        entry["config"] = manifest["config"]["digest"]
    if "manifests" in manifest:
        entry["platforms"] = {
            f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
            for m in manifest["manifests"]
        }
    return entry


def verify(images: dict[str, dict[str, Any]]) -> None:
    zstd = images["busybox-zstd"]
    if zstd["mediaType"] != OCI_MANIFEST or any(layer["mediaType"] != ZSTD_LAYER for layer in zstd["layers"]):
        raise FixtureError(
            f"busybox-zstd was pushed without zstd layers: {[x['mediaType'] for x in zstd['layers']]}"
        )
    expect = {
        "busybox": DOCKER_MANIFEST,
        "busybox-oci": OCI_MANIFEST,
        "busybox-multi": OCI_INDEX,
        "nginx": DOCKER_MANIFEST,
        "auth-busybox": DOCKER_MANIFEST,
        "auth-nginx": DOCKER_MANIFEST,
        "tls-busybox": DOCKER_MANIFEST,
    }
    for name, mt in expect.items():
        if images[name]["mediaType"] != mt:
            raise FixtureError(f"{name}: pushed as {images[name]['mediaType']}, expected {mt}")
    if sorted(images["busybox-multi"].get("platforms", {})) != ["linux/amd64", "linux/arm64"]:
        raise FixtureError(f"busybox-multi: platforms {images['busybox-multi'].get('platforms')}")


def up_to_date(info: dict[str, Any], want: str) -> bool:
    if info.get("recipe") != want:
        return False
    regs = info.get("registries", {})
    for name, img in info.get("images", {}).items():
        reg = regs.get(img.get("registry", ""))
        if reg is None or not resolves(reg, img["repository"], img["digest"]):
            say(f"{name} no longer resolves in its registry")
            return False
    if {name for name, *_ in PUSHES} - set(info.get("images", {})):
        return False
    paths = [*info.get("layouts", {}).values(), *info.get("rootfs", {}).values()]
    return all(Path(p).exists() for p in paths)


def require_registries() -> None:
    for name, reg in registries().items():
        try:
            _request(reg, "/v2/")
        except urllib.error.HTTPError as e:
            if e.code == 401 and "username" in reg:
                raise FixtureError(f"registry {name} ({reg['url']}) refuses {reg['username']}: HTTP 401")
            if e.code != 401:
                raise FixtureError(f"registry {name} ({reg['url']}) answers HTTP {e.code} to GET /v2/")
        except (urllib.error.URLError, OSError) as e:
            raise FixtureError(
                f"registry {name} ({reg['url']}) does not answer ({e}): run `bash scripts/registries.sh start`"
            )


def build(force: bool = False) -> int:
    if os.geteuid() != 0:
        raise FixtureError("must run as root (debootstrap, chroot, umoci unpack)")
    require_registries()
    t0 = time.monotonic()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    lock = (FIXTURES / ".build.lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    meta = FIXTURES / "fixtures.json"
    deb = arm64_busybox_deb()
    tarball = nginx_rootfs()
    want = recipe_hash(deb, tarball)
    if not force and meta.exists():
        with contextlib.suppress(ValueError):
            if up_to_date(info := json.loads(meta.read_text()), want):
                fix_layout_modes(info)
                say("fixtures up to date")
                return 0
    say(f"building (recipe {want[:12]})")
    layouts = FIXTURES / "layouts"
    busybox_rootfs = build_busybox_layout(layouts / "busybox", deb)
    build_zstd_layout(layouts / "busybox-zstd", layouts / "busybox")
    build_nginx_layout(layouts / "nginx", tarball)
    for name in ("busybox", "busybox-zstd", "nginx"):
        readable_by_all(layouts / name)
    images: dict[str, dict[str, Any]] = {}
    for name, reg_name, target, layout_name, tag, flags in PUSHES:
        images[name] = push(name, reg_name, target, layouts / layout_name, tag, flags)
    verify(images)
    regs = registries()
    info = {
        "recipe": want,
        "registries": {k: {f: v for f, v in r.items() if f != "cert_dir"} for k, r in regs.items()},
        "images": images,
        "layouts": {name: str(layouts / name) for name in ("busybox", "busybox-zstd", "nginx")},
        "rootfs": {"busybox": str(busybox_rootfs), "nginx": str(tarball)},
    }
    info["registries"]["tls"]["cert_dir"] = regs["tls"]["cert_dir"]
    tmp = meta.with_name("fixtures.json.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(meta)
    with contextlib.suppress(OSError):
        (FIXTURES / "work").rmdir()
    say(f"wrote {meta} ({len(images)} images) in {time.monotonic() - t0:.0f} s")
    return 0


def check() -> int:
    meta = FIXTURES / "fixtures.json"
    if not meta.exists():
        print(f"fixtures: {meta} is missing")
        return 1
    info = json.loads(meta.read_text())
    debs = sorted((FIXTURES / "debs").glob("busybox-static_*_arm64.deb"))
    tarball = Path(info.get("rootfs", {}).get("nginx", "/nonexistent"))
    if not debs or not tarball.exists():
        print("fixtures: inputs missing")
        return 1
    if up_to_date(info, recipe_hash(debs[-1], tarball)):
        if os.geteuid() == 0:
            fix_layout_modes(info)
        print("fixtures up to date")
        return 0
    print("fixtures: stale")
    return 1


def main(argv: list[str]) -> int:
    usage = "usage: fixtures.py build [--force] | check"
    if not argv or argv[0] not in ("build", "check"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "check":
            return check()
        return build(force="--force" in argv[1:])
    except FixtureError as e:
        print(f"fixtures: error: {e}", file=sys.stderr)
        if e.detail:
            for line in e.detail.splitlines():
                print(f"    {line}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as e:
        print(f"fixtures: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
