"""The generated code matches the .proto sources, and the wire facts that matter most are right.

Regenerating into a temp dir and comparing byte-for-byte catches hand edits to
src/seabox/api/gen and forgotten regenerations. The spot checks read the descriptors the
generated modules register, so they test what actually goes on the wire.
"""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "src" / "seabox" / "api" / "gen"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    subprocess.run(
        ["bash", str(REPO / "scripts" / "gen-protos.sh"), str(tmp_path)],
        check=True, cwd=REPO, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    fresh = tmp_path / "seabox" / "api" / "gen"
    assert _files(fresh) == _files(GEN)
    differ = [f for f in sorted(_files(GEN)) if not filecmp.cmp(fresh / f, GEN / f, shallow=False)]
    assert differ == [], f"generated code differs from the .proto sources (run scripts/gen-protos.sh): {differ}"


def _fields(full_name: str) -> dict[str, tuple[int, int, str]]:
    import seabox.api.gen.containerd.api.services.containers.v1.containers_pb2
    import seabox.api.gen.containerd.api.services.tasks.v1.tasks_pb2
    import seabox.api.gen.cri.runtime.v1.api_pb2  # noqa: F401

    desc = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return {
        f.name: (f.number, f.type, f.message_type.full_name if f.message_type else "")
        for f in desc.fields
    }


M, S, B, U32 = FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_UINT32


def test_create_task_request_fields() -> None:
    assert _fields("containerd.services.tasks.v1.CreateTaskRequest") == {
        "container_id": (1, S, ""),
        "rootfs": (3, M, "containerd.types.Mount"),
        "stdin": (4, S, ""),
        "stdout": (5, S, ""),
        "stderr": (6, S, ""),
        "terminal": (7, B, ""),
        "checkpoint": (8, M, "containerd.types.Descriptor"),
        "options": (9, M, "google.protobuf.Any"),
        "runtime_path": (10, S, ""),
    }


def test_container_fields() -> None:
    got = _fields("containerd.services.containers.v1.Container")
    assert {k: v[0] for k, v in got.items()} == {
        "id": 1, "labels": 2, "image": 3, "runtime": 4, "spec": 5, "snapshotter": 6, "snapshot_key": 7,
        "created_at": 8, "updated_at": 9, "extensions": 10,
    }
    assert got["spec"][2] == "google.protobuf.Any"
    assert got["runtime"][2] == "containerd.services.containers.v1.Container.Runtime"


def test_cri_run_pod_sandbox_request() -> None:
    assert _fields("runtime.v1.RunPodSandboxRequest") == {
        "config": (1, M, "runtime.v1.PodSandboxConfig"),
        "runtime_handler": (2, S, ""),
    }
    sandbox_config = _fields("runtime.v1.PodSandboxConfig")
    assert sandbox_config["metadata"][0] == 1 and sandbox_config["linux"][0] == 8


def test_services_and_methods() -> None:
    import seabox.api.gen.containerd.api.services.events.v1.events_pb2
    import seabox.api.gen.cri.runtime.v1.api_pb2  # noqa: F401

    pool = descriptor_pool.Default()
    events = pool.FindServiceByName("containerd.services.events.v1.Events")
    sub = events.methods_by_name["Subscribe"]
    assert sub.server_streaming and not sub.client_streaming
    runtime = pool.FindServiceByName("runtime.v1.RuntimeService")
    for name in ("RunPodSandbox", "CreateContainer", "ExecSync", "Exec", "PortForward", "Status"):
        assert name in runtime.methods_by_name
    images = pool.FindServiceByName("runtime.v1.ImageService")
    assert set(images.methods_by_name) >= {"ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"}


@pytest.mark.parametrize(
    "full_name",
    [
        "containerd.events.TaskCreate", "containerd.events.TaskStart", "containerd.events.TaskExit",
        "containerd.events.TaskDelete", "containerd.events.TaskOOM", "containerd.events.TaskExecAdded",
        "containerd.events.TaskExecStarted", "containerd.events.TaskPaused", "containerd.events.TaskResumed",
        "containerd.events.TaskCheckpointed", "containerd.events.ContainerCreate", "containerd.events.ContainerUpdate",
        "containerd.events.ContainerDelete", "containerd.services.images.v1.ImageCreate",
        "containerd.services.images.v1.ImageUpdate", "containerd.services.images.v1.ImageDelete",
        "containerd.events.NamespaceCreate", "containerd.events.NamespaceUpdate", "containerd.events.NamespaceDelete",
        "containerd.events.ContentDelete", "containerd.events.SnapshotPrepare", "containerd.events.SnapshotCommit",
        "containerd.events.SnapshotRemove",
    ],
)
def test_event_messages_exist(full_name: str) -> None:
    from seabox.api.gen.containerd.api.events import (  # noqa: F401
        container_pb2,
        content_pb2,
        image_pb2,
        namespace_pb2,
        snapshot_pb2,
        task_pb2,
    )

    descriptor_pool.Default().FindMessageTypeByName(full_name)


def test_task_exit_fields() -> None:
    from seabox.api.gen.containerd.api.events import task_pb2  # noqa: F401

    got = _fields("containerd.events.TaskExit")
    assert {k: (v[0], v[1]) for k, v in got.items()} == {
        "container_id": (1, S), "id": (2, S), "pid": (3, U32), "exit_status": (4, U32), "exited_at": (5, M),
    }


def test_cri_current_additions() -> None:
    import seabox.api.gen.cri.runtime.v1.api_pb2  # noqa: F401

    image_spec = _fields("runtime.v1.ImageSpec")
    assert {k: v[0] for k, v in image_spec.items()} == {
        "image": 1, "annotations": 2, "user_specified_image": 18, "runtime_handler": 19, "image_ref": 20,
    }
    event = _fields("runtime.v1.ContainerEventResponse")
    assert event["pod_sandbox_status"] == (4, M, "runtime.v1.PodSandboxStatus")
    runtime = descriptor_pool.Default().FindServiceByName("runtime.v1.RuntimeService")
    assert runtime.methods_by_name["RuntimeConfig"].output_type.full_name == "runtime.v1.RuntimeConfigResponse"
    assert runtime.methods_by_name["StreamContainers"].server_streaming
    assert _fields("runtime.v1.LinuxRuntimeConfiguration")["cgroup_driver"][0] == 1
