"""Debian's real `ctr` (containerd 1.6) against seaboxd: the wire really is containerd's.

Two kinds of checks. First, the descriptors: Go protobuf code embeds each .proto's
FileDescriptorProto (gzipped) in the binary, so the real ctr and containerd carry the ground
truth for the wire; every message, field number, type and RPC that seabox declares for
containerd's API must match them, and everything they have in the files seabox covers must
exist in seabox's. Second, behaviour:

Each test starts its own seaboxd in temp dirs (seabox.daemon.testing) and runs
``ctr --address <socket> ...``; objects ctr cannot create without the content store
(containers, images) are created through seabox's generated stubs and then read, labelled,
tagged and removed with ctr.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import re
import select
import shutil
import subprocess
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, descriptor_pool
from google.protobuf import descriptor_pb2 as dpb

import seabox.api.gen
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2 as cpb
from seabox.api.gen.containerd.api.services.containers.v1 import containers_pb2_grpc as cgrpc
from seabox.api.gen.containerd.api.services.images.v1 import images_pb2 as ipb
from seabox.api.gen.containerd.api.services.images.v1 import images_pb2_grpc as igrpc
from seabox.api.gen.containerd.api.types import descriptor_pb2
from seabox.daemon.testing import RunningDaemon, seaboxd

pytestmark = [pytest.mark.interop, pytest.mark.root]

CTR = shutil.which("ctr")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    if CTR is None:
        pytest.skip("ctr (Debian containerd) is not installed")
    with seaboxd(tmp_path / "d") as d:
        yield d
        assert d.proc.poll() is None, d.log_text()
    assert d.proc.returncode == 0, d.log_text()
    assert not d.address.exists()


def ctr(d: RunningDaemon, *args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [CTR or "ctr", "--address", str(d.address)]
    if ns is not None:
        cmd += ["--namespace", ns]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"ctr {' '.join(args)} failed ({p.returncode}): {p.stderr}\ndaemon log:\n{d.log_text()}")
    return p


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()[1:]]


def test_version(daemon: RunningDaemon) -> None:
    import seabox

    out = ctr(daemon, "version").stdout
    server = out.split("Server:", 1)[1]
    assert f"Version:  {seabox.__version__}" in server
    assert "UUID: " in server and len(server.split("UUID: ")[1].split()[0]) == 36


def test_namespaces_create_label_list_remove(daemon: RunningDaemon) -> None:
    ctr(daemon, "namespaces", "create", "x")
    ctr(daemon, "namespaces", "label", "x", "team=blue", "tier=web")
    assert ["x", "team=blue,tier=web"] in rows(ctr(daemon, "namespaces", "ls").stdout)
    assert ctr(daemon, "namespaces", "ls", "-q").stdout.split() == ["x"]
    dup = ctr(daemon, "namespaces", "create", "x", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    ctr(daemon, "namespaces", "remove", "x")
    assert ctr(daemon, "namespaces", "ls", "-q").stdout.split() == []


def test_empty_lists_and_unknown_namespace(daemon: RunningDaemon) -> None:
    ctr(daemon, "namespaces", "create", "x")
    assert rows(ctr(daemon, "containers", "ls", ns="x").stdout) == []
    assert rows(ctr(daemon, "images", "ls").stdout) == []
    assert ctr(daemon, "images", "ls", "-q").stdout == ""
    # like containerd: listing in a namespace nobody created is empty, not an error
    assert rows(ctr(daemon, "containers", "ls", ns="unknown").stdout) == []
    bad = ctr(daemon, "containers", "ls", ns="bad name", check=False)
    assert bad.returncode != 0 and "invalid argument" in bad.stderr
    missing = ctr(daemon, "containers", "info", "nope", ns="unknown", check=False)
    assert missing.returncode != 0 and 'container "nope": not found' in missing.stderr


def test_leases(daemon: RunningDaemon) -> None:
    ctr(daemon, "leases", "create", "--id", "l1")
    generated = ctr(daemon, "leases", "create").stdout.strip()
    ids = [r[0] for r in rows(ctr(daemon, "leases", "ls").stdout)]
    assert "l1" in ids and generated in ids
    ctr(daemon, "leases", "rm", "l1")
    assert [r[0] for r in rows(ctr(daemon, "leases", "ls").stdout)] == [generated]
    gone = ctr(daemon, "leases", "rm", "l1", check=False)
    assert gone.returncode != 0 and "not found" in gone.stderr


def test_plugins(daemon: RunningDaemon) -> None:
    listed = {(r[0], r[1]): r[-1] for r in rows(ctr(daemon, "plugins", "ls").stdout)}
    for svc in ("containers", "events", "images", "introspection", "leases", "namespaces", "version"):
        assert listed[("io.containerd.grpc.v1", svc)] == "ok"


def test_events_sees_namespace_create(daemon: RunningDaemon) -> None:
    events = subprocess.Popen(
        [CTR or "ctr", "--address", str(daemon.address), "events"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # the subscription may not be registered yet: create namespaces until one is seen
        line = ""
        for i in range(100):
            ctr(daemon, "namespaces", "create", f"ev{i}")
            ready, _, _ = select.select([events.stdout], [], [], 0.1)
            if ready:
                line = events.stdout.readline()  # type: ignore[union-attr]
                break
        assert "/namespaces/create" in line, line
        parts = line.split()
        payload = json.loads(parts[-1])
        assert payload["name"] == parts[-3]  # "<time...> <namespace> <topic> <json>"
    finally:
        events.terminate()
        events.wait(10)


def _stub_objects(d: RunningDaemon, ns: str) -> None:
    ch = grpc.insecure_channel(f"unix:{d.address}")
    md = [("containerd-namespace", ns)]
    spec = {"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}
    try:
        cgrpc.ContainersStub(ch).Create(cpb.CreateContainerRequest(container=cpb.Container(
            id="web", image="docker.io/library/busybox:latest", labels={"app": "web"},
            spec=any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                             value=json.dumps(spec).encode()),
            runtime=cpb.Container.Runtime(name="io.containerd.runc.v2"),
        )), metadata=md)
        igrpc.ImagesStub(ch).Create(ipb.CreateImageRequest(image=ipb.Image(
            name="docker.io/library/busybox:latest",
            target=descriptor_pb2.Descriptor(media_type="application/vnd.oci.image.index.v1+json",
                                             digest="sha256:" + "a" * 64, size=100),
        )), metadata=md)
    finally:
        ch.close()


def test_containers_and_images_read_and_changed_by_ctr(daemon: RunningDaemon) -> None:
    _stub_objects(daemon, "x")
    assert rows(ctr(daemon, "containers", "ls", ns="x").stdout) == [
        ["web", "docker.io/library/busybox:latest", "io.containerd.runc.v2"]
    ]
    info = json.loads(ctr(daemon, "containers", "info", "web", ns="x").stdout)
    assert info["Spec"]["process"]["args"] == ["sh"] and info["Labels"] == {"app": "web"}
    ctr(daemon, "containers", "label", "web", "k=v", ns="x")
    assert json.loads(ctr(daemon, "containers", "info", "web", ns="x").stdout)["Labels"] == {"app": "web", "k": "v"}

    assert ctr(daemon, "images", "ls", "-q", ns="x").stdout.split() == ["docker.io/library/busybox:latest"]
    ctr(daemon, "images", "label", "docker.io/library/busybox:latest", "foo=bar", ns="x")
    ctr(daemon, "images", "tag", "docker.io/library/busybox:latest", "example.com/b:1", ns="x")
    assert ctr(daemon, "images", "ls", "-q", ns="x").stdout.split() == [
        "docker.io/library/busybox:latest", "example.com/b:1",
    ]
    busy = ctr(daemon, "namespaces", "rm", "x", check=False)
    assert busy.returncode != 0 and "must be empty" in busy.stderr and "failed precondition" in busy.stderr

    ctr(daemon, "images", "rm", "example.com/b:1", "docker.io/library/busybox:latest", ns="x")
    ctr(daemon, "containers", "rm", "web", ns="x")
    assert rows(ctr(daemon, "containers", "ls", ns="x").stdout) == []
    ctr(daemon, "namespaces", "rm", "x")


def test_content_ingest_get_label_rm(daemon: RunningDaemon, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    data = bytes(range(256)) * 1200
    blob.write_bytes(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(blob, "rb") as f:
        p = subprocess.run([CTR or "ctr", "--address", str(daemon.address), "content", "ingest", "--expected-size",
                            str(len(data)), "--expected-digest", digest, "ref1"], stdin=f, capture_output=True,
                           text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert rows(ctr(daemon, "content", "ls").stdout)[0][0] == digest
    got = subprocess.run([CTR or "ctr", "--address", str(daemon.address), "content", "get", digest],
                         capture_output=True, timeout=60)
    assert got.stdout == data
    ctr(daemon, "content", "label", digest, "k=v")
    assert rows(ctr(daemon, "content", "ls").stdout)[0][-1] == "k=v"
    assert rows(ctr(daemon, "content", "ls", ns="elsewhere").stdout) == []
    ctr(daemon, "content", "rm", digest)
    assert rows(ctr(daemon, "content", "ls").stdout) == []


def test_content_fetch_from_fixture_registry_then_export_import(
    daemon: RunningDaemon, tmp_path: Path, fixtures_info: dict
) -> None:
    ref = fixtures_info["images"]["busybox-multi"]["ref"]
    ctr(daemon, "content", "fetch", "--plain-http", "--all-platforms", ref)
    listed = rows(ctr(daemon, "images", "ls").stdout)
    assert listed[0][0] == ref and listed[0][2] == fixtures_info["images"]["busybox-multi"]["digest"]
    assert "linux/amd64" in listed[0][-2] and "linux/arm64" in listed[0][-2]
    labels = " ".join(" ".join(r) for r in rows(ctr(daemon, "content", "ls").stdout))
    assert "containerd.io/gc.ref.content" in labels
    assert rows(ctr(daemon, "leases", "ls").stdout) == []  # the pull's lease was released
    out = tmp_path / "out.tar"
    ctr(daemon, "images", "export", "--all-platforms", str(out), ref)
    ctr(daemon, "images", "import", "--no-unpack", "--all-platforms", str(out), ns="other")
    assert ctr(daemon, "images", "ls", "-q", ns="other").stdout.split() == [ref]
    ctr(daemon, "images", "rm", ref)
    assert ctr(daemon, "images", "ls", "-q").stdout.split() == []


def test_images_pull_unpacks_into_overlayfs_and_native(
    daemon: RunningDaemon, tmp_path: Path, fixtures_info: dict
) -> None:
    busybox = fixtures_info["images"]["busybox"]["ref"]
    zstd = fixtures_info["images"]["busybox-zstd"]["ref"]
    ctr(daemon, "images", "pull", "--plain-http", busybox)
    ctr(daemon, "images", "pull", "--plain-http", "--snapshotter", "native", zstd)
    checked = {r[0]: r[-1] for r in rows(ctr(daemon, "images", "check").stdout)}
    assert checked[busybox] == "true"
    chain = rows(ctr(daemon, "snapshots", "ls").stdout)[0][0]
    assert rows(ctr(daemon, "snapshots", "--snapshotter", "native", "ls").stdout)[0][-1] == "Committed"
    # mount a view of the unpacked rootfs with the real mount(8) as the oracle
    ctr(daemon, "snapshots", "view", "rootfs-view", chain)
    target = tmp_path / "mnt"
    target.mkdir()
    cmd = ctr(daemon, "snapshots", "mounts", str(target), "rootfs-view").stdout.split()
    assert cmd[0] == "mount"
    subprocess.run(cmd, check=True, timeout=60)
    try:
        assert (target / "bin" / "busybox").is_file()
    finally:
        subprocess.run(["umount", str(target)], check=True, timeout=60)
    ctr(daemon, "snapshots", "rm", "rootfs-view")
    # ctr images mount: a lease named by the mount path, a snapshot, a mount made by ctr itself
    mnt = tmp_path / "imgmnt"
    mnt.mkdir()
    ctr(daemon, "images", "mount", busybox, str(mnt))
    try:
        assert (mnt / "bin" / "busybox").is_file()
    finally:
        ctr(daemon, "images", "unmount", "--rm", str(mnt))
    assert not any(mnt.iterdir())
    tree = ctr(daemon, "snapshots", "tree").stdout
    assert chain in tree
    # removing the images with --sync collects their blobs and snapshots before answering
    ctr(daemon, "images", "rm", "--sync", busybox, zstd)
    assert ctr(daemon, "content", "ls", "-q").stdout.split() == []
    assert rows(ctr(daemon, "snapshots", "ls").stdout) == []
    assert rows(ctr(daemon, "snapshots", "--snapshotter", "native", "ls").stdout) == []


def test_pulled_image_survives_a_restart(tmp_path: Path, fixtures_info: dict) -> None:
    if CTR is None:
        pytest.skip("ctr (Debian containerd) is not installed")
    ref = fixtures_info["images"]["busybox-oci"]["ref"]
    with seaboxd(tmp_path / "d") as d:
        ctr(d, "images", "pull", "--plain-http", ref, ns="keep")
        before = ctr(d, "snapshots", "ls", ns="keep").stdout
    with seaboxd(tmp_path / "d") as d:
        checked = rows(ctr(d, "images", "check", ns="keep").stdout)
        assert checked[0][0] == ref and checked[0][-1] == "true"
        assert ctr(d, "snapshots", "ls", ns="keep").stdout == before
        ctr(d, "images", "rm", "--sync", ref, ns="keep")
        assert rows(ctr(d, "snapshots", "ls", ns="keep").stdout) == []


def test_unknown_methods_are_unimplemented(daemon: RunningDaemon) -> None:
    ch = grpc.insecure_channel(f"unix:{daemon.address}")
    try:
        call = ch.unary_unary("/containerd.services.nosuch.v1.Nothing/Nothing")
        with pytest.raises(grpc.RpcError) as e:
            call(b"", timeout=30)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        ch.close()
    assert ctr(daemon, "version").returncode == 0  # and the daemon goes on serving


def test_daemon_survives_many_clients(daemon: RunningDaemon) -> None:
    procs = [
        subprocess.Popen([CTR or "ctr", "--address", str(daemon.address), "namespaces", "create", f"n{i}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(20)
    ]
    codes = [p.wait(60) for p in procs]
    assert codes == [0] * 20
    assert len(ctr(daemon, "namespaces", "ls", "-q").stdout.split()) == 20
    assert ctr(daemon, "version").returncode == 0


# -- descriptors compiled into the real binaries --------------------------------------------
CD = "github.com/containerd/containerd/"
COVERED = {
    "api/types/descriptor.proto", "api/types/metrics.proto", "api/types/mount.proto", "api/types/platform.proto",
    "api/types/task/task.proto", "api/services/containers/v1/containers.proto",
    "api/services/content/v1/content.proto", "api/services/diff/v1/diff.proto",
    "api/services/events/v1/events.proto", "api/services/images/v1/images.proto",
    "api/services/introspection/v1/introspection.proto", "api/services/leases/v1/leases.proto",
    "api/services/namespaces/v1/namespace.proto", "api/services/snapshots/v1/snapshots.proto",
    "api/services/tasks/v1/tasks.proto", "api/services/version/v1/version.proto", "api/events/container.proto",
    "api/events/content.proto", "api/events/image.proto", "api/events/namespace.proto", "api/events/snapshot.proto",
    "api/events/task.proto", "runtime/v2/runc/options/oci.proto",
}


@cache
def embedded(binary: str) -> dict[str, dpb.FileDescriptorProto]:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} (Debian containerd) is not installed")
    with open(path, "rb") as f:
        data = f.read()
    found: dict[str, dpb.FileDescriptorProto] = {}
    for m in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00", data):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[m.start() : m.start() + 1_000_000])
            fd = dpb.FileDescriptorProto.FromString(raw)
        except Exception:
            continue
        if fd.name.endswith(".proto") and fd.message_type:
            found.setdefault(f"{fd.name}|{fd.package}", fd)
    return found


@cache
def pool() -> descriptor_pool.DescriptorPool:
    for mod in pkgutil.walk_packages(seabox.api.gen.__path__, "seabox.api.gen."):
        importlib.import_module(mod.name)
    return descriptor_pool.Default()


def _compare_message(m: dpb.DescriptorProto, full: str, problems: list[str]) -> None:
    try:
        mine = pool().FindMessageTypeByName(full)
    except KeyError:
        problems.append(f"missing message {full}")
        return
    for f in m.field:
        g = mine.fields_by_name.get(f.name)
        if g is None:
            problems.append(f"missing field {full}.{f.name}")
            continue
        ref = g.message_type or g.enum_type
        if (g.number, g.type, g.is_repeated) != (f.number, f.type, f.label == f.LABEL_REPEATED) or (
            f.type_name and "." + ref.full_name != f.type_name
        ):
            problems.append(f"field {full}.{f.name} differs")
    if len(mine.fields) != len(m.field):
        problems.append(f"{full}: {len(mine.fields)} fields here, {len(m.field)} in containerd")
    for n in m.nested_type:
        _compare_message(n, f"{full}.{n.name}", problems)
    for e in m.enum_type:
        _compare_enum(e, f"{full}.{e.name}", problems)


def _compare_enum(e: dpb.EnumDescriptorProto, full: str, problems: list[str]) -> None:
    try:
        mine = pool().FindEnumTypeByName(full)
    except KeyError:
        problems.append(f"missing enum {full}")
        return
    if [(v.name, v.number) for v in mine.values] != [(v.name, v.number) for v in e.value]:
        problems.append(f"enum {full} differs")


def test_containerd_api_matches_ctr_binary() -> None:
    files = {k.split("|")[0][len(CD):]: fd for k, fd in embedded("ctr").items() if k.startswith(CD)}
    assert set(files) >= COVERED, f"ctr lacks {COVERED - set(files)}"
    problems: list[str] = []
    for rel in sorted(COVERED):
        fd = files[rel]
        for m in fd.message_type:
            _compare_message(m, f"{fd.package}.{m.name}", problems)
        for e in fd.enum_type:
            _compare_enum(e, f"{fd.package}.{e.name}", problems)
        for s in fd.service:
            try:
                mine = pool().FindServiceByName(f"{fd.package}.{s.name}")
            except KeyError:
                problems.append(f"missing service {fd.package}.{s.name}")
                continue
            for meth in s.method:
                g = mine.methods_by_name.get(meth.name)
                if g is None or ("." + g.input_type.full_name, "." + g.output_type.full_name,
                                 g.client_streaming, g.server_streaming) != (
                    meth.input_type, meth.output_type, meth.client_streaming, meth.server_streaming
                ):
                    problems.append(f"rpc {s.name}.{meth.name} differs")
    assert problems == []


def test_cri_v1_is_a_superset_of_containerd_1_6() -> None:
    cri = [fd for k, fd in embedded("containerd").items() if k == "api.proto|runtime.v1"]
    assert cri, "containerd has no runtime.v1 descriptors"
    problems: list[str] = []
    for m in cri[0].message_type:
        mine = pool().FindMessageTypeByName(f"runtime.v1.{m.name}")
        for f in m.field:
            if (m.name, f.name) == ("ContainerEventResponse", "pod_sandbox_metadata"):
                continue  # changed upstream while GetContainerEvents was alpha (see api.proto)
            g = mine.fields_by_name.get(f.name)
            if g is None or (g.number, g.type) != (f.number, f.type):
                problems.append(f"runtime.v1.{m.name}.{f.name}")
    for s in cri[0].service:
        mine = pool().FindServiceByName(f"runtime.v1.{s.name}")
        problems += [f"rpc {s.name}.{x.name}" for x in s.method if x.name not in mine.methods_by_name]
    assert problems == []
