"""Containers outlive the process that started their shims; a restarted client finds every
shim again, with the exit of a task that ended while nobody was connected; a shim that died
is detected and cleaned up without leaving a process, cgroup or mount behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from seabox.errdefs import Unavailable
from seabox.shim.client import ShimClient, cleanup_dead, discover, recover
from seabox.shim.runtime import cgroup_paths
from seabox.shim.testsupport import ShimHarness, pid_alive, wait_for

pytestmark = pytest.mark.root

FAKE_DAEMON = r"""
import json, sys, time
from seabox.shim.client import ShimClient
from seabox.shim.launcher import Launcher
from seabox.shim.server import ShimConfig

launcher = Launcher()
out = []
for cfg_json, bundle in zip(sys.argv[1::2], sys.argv[2::2]):
    cfg = ShimConfig.from_dict(json.loads(cfg_json))
    info = launcher.spawn(cfg)
    c = ShimClient(info.address)
    pid = c.create(bundle)
    c.start()
    out.append({"id": cfg.id, "shim": info.pid, "address": info.address, "init": pid})
print(json.dumps({"launcher": launcher.pid, "shims": out}), flush=True)
time.sleep(1000)
"""


@pytest.fixture
def h() -> Iterator[ShimHarness]:
    harness = ShimHarness()
    try:
        yield harness
    finally:
        harness.cleanup()


def _mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def test_containers_survive_daemon_sigkill_and_missed_exit_is_reported(h: ShimHarness) -> None:
    cfg_a = h.config()
    cfg_b = h.config()
    bundle_a = h.bundle(["sleep", "1000"])
    bundle_b = h.bundle(["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3"])
    argv = [sys.executable, "-c", FAKE_DAEMON, json.dumps(cfg_a.to_dict()), str(bundle_a),
            json.dumps(cfg_b.to_dict()), str(bundle_b)]
    daemon = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert daemon.stdout is not None
        started = json.loads(daemon.stdout.readline())
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)  # the daemon and its launcher, as a crash would
        daemon.wait()
    shims = {s["id"]: s for s in started["shims"]}
    for cfg in (cfg_a, cfg_b):
        h.adopt(cfg, shims[cfg.id]["shim"], shims[cfg.id]["address"])
    assert wait_for(lambda: not pid_alive(started["launcher"]))
    for s in shims.values():
        assert pid_alive(s["shim"]) and pid_alive(s["init"])

    # a "restarted daemon" finds both shims and sees both tasks running
    found = {r.id: r for r in discover(str(h.state))}
    assert set(found) == {cfg_a.id, cfg_b.id}
    assert all(r.alive and r.namespace == h.namespace for r in found.values())
    for cid in found:
        c = ShimClient(found[cid].address)
        assert c.state().status == "running"
        assert c.state().pid == shims[cid]["init"]
        c.close()

    # b exits while nobody is connected
    (bundle_b / "rootfs" / "tmp" / "go").write_text("")
    assert wait_for(lambda: not pid_alive(shims[cfg_b.id]["init"]))
    c = ShimClient(found[cfg_b.id].address)
    st = c.state()
    assert (st.status, st.exit_status) == ("stopped", 3)
    assert st.exited_at
    events, seq = c.events()
    exits = [e for e in events if e["event"] == "exit"]
    assert len(exits) == 1 and exits[0]["exit_status"] == 3 and exits[0]["exited_at"] == st.exited_at
    # a subscriber that connects now gets the missed exit first
    sub = c.subscribe(timeout=20)
    first = [next(sub) for _ in range(len(events))]
    sub.close()
    assert first[-1]["event"] == "exit" and first[-1]["seq"] == seq
    c.ack(seq)
    assert c.delete().exit_status == 3
    c.shutdown()
    assert wait_for(lambda: not pid_alive(shims[cfg_b.id]["shim"]))
    assert [r.id for r in discover(str(h.state))] == [cfg_a.id]


def test_dead_shim_detected_and_cleaned_up(h: ShimHarness) -> None:
    client, cfg, info = h.spawn()
    bundle = h.bundle(["sleep", "1000"])
    init = client.create(str(bundle))
    client.start()
    cgroups = cgroup_paths(os.path.join(cfg.runtime_root, cfg.id, "state.json"))
    assert cgroups, "the runtime recorded no cgroup paths"
    os.kill(info.pid, signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(info.pid))
    assert pid_alive(init), "the container died with its shim"
    assert discover(str(h.state)) == []
    dead = discover(str(h.state), include_dead=True)
    assert [(r.id, r.alive) for r in dead] == [(cfg.id, False)]
    with pytest.raises(Unavailable):
        ShimClient(info.address, timeout=5).state()
    ex = cleanup_dead(str(h.state), h.namespace, cfg.id)
    assert ex.exit_status == 137 and ex.exited_at
    assert wait_for(lambda: not pid_alive(init))
    assert not os.path.exists(cfg.state_dir)
    assert not os.path.exists(os.path.join(cfg.runtime_root, cfg.id))
    assert [p for p in cgroups.values() if os.path.isdir(p)] == []
    assert _mounts_mentioning(str(bundle)) == []
    assert discover(str(h.state), include_dead=True) == []


def test_seabox_shim_cli_start_list_cleanup(h: ShimHarness) -> None:
    cfg = h.config()
    cli = [sys.executable, "-m", "seabox.cli.shim"]
    res = subprocess.run([*cli, "start", "--state", str(h.state), "-n", h.namespace, "--id", cfg.id,
                          "--runtime-root", cfg.runtime_root], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    h.adopt(cfg, doc["pid"], doc["address"])
    assert doc["address"] == os.path.join(cfg.state_dir, "shim.sock")
    c = ShimClient(doc["address"])
    c.create(str(h.bundle(["sleep", "1000"])))
    c.start()
    ls = subprocess.run([*cli, "list", "--state", str(h.state)], capture_output=True, text=True, timeout=60)
    assert f"{h.namespace}/{cfg.id}\t{doc['pid']}\talive" in ls.stdout
    busy = subprocess.run([*cli, "cleanup", "--state", str(h.state), "-n", h.namespace, "--id", cfg.id],
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode != 0 and "alive" in busy.stderr and "Traceback" not in busy.stderr
    bad = subprocess.run([*cli, "start", "--bogus"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1
    helped = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "usage:" in helped.stdout
    c.kill(signal.SIGKILL)
    assert c.wait().exit_status == 137
    c.delete()
    c.shutdown()
    assert wait_for(lambda: not pid_alive(doc["pid"]))


def test_launcher_death_spares_shims_and_a_new_launcher_starts(h: ShimHarness) -> None:
    client, _, info = h.spawn()
    client.create(str(h.bundle(["sleep", "1000"])))
    client.start()
    old = h.launcher.pid
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: h.launcher.proc.poll() is not None)
    assert client.state().status == "running" and pid_alive(info.pid)
    client2, _, info2 = h.spawn()  # the launcher is restarted on demand
    assert h.launcher.pid != old and client2.ping()["pid"] == info2.pid
    client.kill(signal.SIGKILL)
    assert client.wait().exit_status == 137


def test_recover_reconnects_live_shims_and_cleans_up_dead_ones(h: ShimHarness) -> None:
    live, cfg_live, _ = h.spawn()
    live.create(str(h.bundle(["sleep", "1000"])))
    live.start()
    dead, cfg_dead, info_dead = h.spawn()
    init = dead.create(str(h.bundle(["sleep", "1000"])))
    dead.start()
    os.kill(info_dead.pid, signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(info_dead.pid))
    found = recover(str(h.state))
    assert set(found.live) == {(h.namespace, cfg_live.id)} and found.failed == {}
    assert found.live[(h.namespace, cfg_live.id)].state().status == "running"
    assert found.dead[(h.namespace, cfg_dead.id)].exit_status == 137
    assert wait_for(lambda: not pid_alive(init))
    for c in found.live.values():
        c.close()
