"""bundle.volatile_mounts: only writable overlays (those with a workdir) get ``volatile``."""

from __future__ import annotations

from seabox.daemon.tasks.bundle import volatile_mounts
from seabox.snapshots.mount import Mount


def test_only_writable_overlays_become_volatile() -> None:
    rw = Mount("overlay", "overlay", ["lowerdir=/l", "upperdir=/u", "workdir=/w"])
    ro = Mount("overlay", "overlay", ["lowerdir=/a:/b"])
    bind = Mount("bind", "/src", ["rbind", "rw"])
    out, workdirs = volatile_mounts([rw, ro, bind])
    assert out[0].options == ["lowerdir=/l", "upperdir=/u", "workdir=/w", "volatile"]
    assert out[1] is ro and out[2] is bind
    assert workdirs == ["/w"]
    assert rw.options == ["lowerdir=/l", "upperdir=/u", "workdir=/w"]  # the caller's mount is left alone


def test_already_volatile_is_left_as_is() -> None:
    m = Mount("overlay", "overlay", ["lowerdir=/l", "upperdir=/u", "workdir=/w", "volatile"])
    out, workdirs = volatile_mounts([m])
    assert out == [m] and workdirs == []
