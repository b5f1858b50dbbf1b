"""CRI GetContainerEvents end to end: a stream opened before a pod sees the pod's and its
container's created/started/stopped/deleted events, each with the pod's status at that moment.

seaboxd runs as in ``test_cri_pod`` (its ``env`` fixture: temp dirs, own conflist, subnet and
bridge, a teardown that checks for and removes leaks).
"""

from __future__ import annotations

import threading

import grpc
import pytest
from tests.e2e.test_cri_pod import Env, _container, _pod_config, _wait, env  # noqa: F401

from seabox.api.gen.cri.runtime.v1 import api_pb2 as cri

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def test_cri_container_events_stream(env: Env) -> None:  # noqa: F811
    with env.running():
        rt = env.rt
        env.img.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image="busybox")))
        stream = rt.GetContainerEvents(cri.GetEventsRequest())
        got: list[cri.ContainerEventResponse] = []

        def read() -> None:
            try:
                for ev in stream:
                    got.append(ev)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.CANCELLED

        t = threading.Thread(target=read, daemon=True)
        t.start()
        try:
            pcfg = _pod_config(env, f"{env.tag}-ev")
            pod = rt.RunPodSandbox(cri.RunPodSandboxRequest(config=pcfg)).pod_sandbox_id
            cid = rt.CreateContainer(cri.CreateContainerRequest(
                pod_sandbox_id=pod, config=_container("quick", "busybox", ["sh", "-c", "exit 3"]),
                sandbox_config=pcfg)).container_id
            rt.StartContainer(cri.StartContainerRequest(container_id=cid))

            def mine(id_: str) -> list[str]:
                return [cri.ContainerEventType.Name(e.container_event_type) for e in list(got)
                        if e.container_id == id_]

            _wait(lambda: "CONTAINER_STOPPED_EVENT" in mine(cid), "the container's stopped event")
            stopped = next(e for e in got if e.container_id == cid and
                           e.container_event_type == cri.CONTAINER_STOPPED_EVENT)
            assert stopped.pod_sandbox_status.id == pod
            assert stopped.pod_sandbox_status.state == cri.SANDBOX_READY
            [cs] = [s for s in stopped.containers_statuses if s.id == cid]
            assert (cs.state, cs.exit_code) == (cri.CONTAINER_EXITED, 3)
            rt.RemoveContainer(cri.RemoveContainerRequest(container_id=cid))
            rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod))
            rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod))
            _wait(lambda: "CONTAINER_DELETED_EVENT" in mine(pod), "the pod's deleted event")
            assert mine(cid) == ["CONTAINER_CREATED_EVENT", "CONTAINER_STARTED_EVENT", "CONTAINER_STOPPED_EVENT",
                                 "CONTAINER_DELETED_EVENT"]
            assert mine(pod) == ["CONTAINER_CREATED_EVENT", "CONTAINER_STARTED_EVENT", "CONTAINER_STOPPED_EVENT",
                                 "CONTAINER_DELETED_EVENT"]
            started = next(e for e in got if e.container_id == cid and
                           e.container_event_type == cri.CONTAINER_STARTED_EVENT)
            assert started.created_at > 0 and started.pod_sandbox_status.metadata.name == pcfg.metadata.name
            assert not rt.ListMetricDescriptors(cri.ListMetricDescriptorsRequest()).descriptors
        finally:
            stream.cancel()
            t.join(10)
        assert not t.is_alive()
