import hashlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.content import ContentStore, IngestLocked


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "content")


def test_write_commit_read(store):
    data = os.urandom(300_000)
    with store.writer("layer-1", expected=sha(data), total=len(data)) as w:
        assert w.offset == 0
        w.write(data[:1000])
        w.write(data[1000:])
        info = w.commit(len(data), sha(data), {"a": "b"})
    assert info.digest == sha(data) and info.size == len(data) and info.labels == {"a": "b"}
    assert store.exists(sha(data))
    with store.open(sha(data)) as f:
        assert f.read() == data
    assert store.statuses() == []
    assert [i.digest for i in store.list()] == [sha(data)]
    blob = store.blob_path(sha(data))
    assert blob == store.root / "blobs" / "sha256" / sha(data)[7:]


def test_wrong_digest_refused_nothing_committed(store):
    data = b"payload"
    wrong = sha(b"other")
    w = store.writer("r1")
    w.write(data)
    with pytest.raises(errdefs.FailedPrecondition) as e:
        w.commit(len(data), wrong)
    assert wrong in str(e.value) and "r1" in str(e.value)
    assert not store.exists(wrong) and not store.exists(sha(data))
    assert store.list() == []
    assert os.listdir(store.blobs) == []


def test_wrong_size_refused_ingest_kept(store):
    w = store.writer("r2")
    w.write(b"abc")
    with pytest.raises(errdefs.FailedPrecondition, match="size mismatch"):
        w.commit(4, sha(b"abc"))
    w.close()
    assert [s.offset for s in store.statuses()] == [3]
    assert not store.exists(sha(b"abc"))


def test_commit_existing_drops_ingest(store):
    d = store.put(b"same")
    w = store.writer("again")
    w.write(b"same")
    w.commit(4, d, {"x": "1"})
    assert store.statuses() == []
    assert store.info(d).labels == {"x": "1"}


def test_not_found_names_digest(store):
    d = sha(b"missing")
    for fn in (store.info, store.open, store.delete):
        with pytest.raises(errdefs.NotFound, match=d):
            fn(d)
    with pytest.raises(errdefs.InvalidArgument):
        store.info("sha256:zz")


def test_labels_update_and_delete(store):
    d = store.put(b"blob", labels={"k1": "v1", "k2": "v2"})
    info = store.update_labels(d, {"k1": None, "k3": "v3"})
    assert info.labels == {"k2": "v2", "k3": "v3"}
    assert store.info(d).labels == {"k2": "v2", "k3": "v3"}
    assert store.update_labels(d, {"only": "x"}, replace=True).labels == {"only": "x"}
    store.delete(d)
    assert not store.exists(d)
    d2 = store.put(b"blob")
    assert store.info(d2).labels == {}


def test_second_writer_same_ref_locked(store):
    w = store.writer("ref-x")
    with pytest.raises(IngestLocked, match="ref-x"):
        store.writer("ref-x")
    w.close()
    store.writer("ref-x").close()


def test_second_writer_locked_across_processes(store):
    code = (
        "import sys,time; from pathlib import Path; from seabox.content import ContentStore\n"
        f"w = ContentStore(Path({str(store.root)!r})).writer('held')\n"
        "print('ready', flush=True); time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        with pytest.raises(IngestLocked):
            store.writer("held")
    finally:
        p.kill()
        p.wait()
    store.writer("held").close()


def test_abort(store):
    w = store.writer("gone")
    w.write(b"123")
    with pytest.raises(IngestLocked):
        store.abort("gone")
    w.close()
    store.abort("gone")
    assert store.statuses() == []
    with pytest.raises(errdefs.NotFound, match="gone"):
        store.abort("gone")


def test_resume_after_sigkill(store, tmp_path):
    data = os.urandom(2_000_000)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    half = 1_234_567
    code = (
        "import sys,time; from pathlib import Path; from seabox.content import ContentStore\n"
        f"s = ContentStore(Path({str(store.root)!r}))\n"
        f"w = s.writer('pull-layer', expected={sha(data)!r}, total={len(data)})\n"
        f"b = Path({str(src)!r}).read_bytes()[:{half}]\n"
        "for i in range(0, len(b), 65536): w.write(b[i:i+65536])\n"
        "w._f.flush(); print('written', flush=True); time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "written"
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait()
    assert p.returncode == -signal.SIGKILL
    [st] = store.statuses()
    assert st.ref == "pull-layer" and st.offset == half and st.total == len(data) and st.expected == sha(data)
    w = store.writer("pull-layer", expected=sha(data), total=len(data))
    assert w.offset == half
    w.write(data[w.offset :])
    w.commit(len(data), sha(data))
    assert store.read_bytes(sha(data)) == data
    assert store.statuses() == []


def test_truncate_restarts(store):
    w = store.writer("t")
    w.write(b"garbage")
    w.truncate(0)
    w.write(b"good")
    w.commit(4, sha(b"good"))
    assert store.read_bytes(sha(b"good")) == b"good"


def test_same_blob_many_refs_threads(store):
    data = os.urandom(1_000_000)
    errors = []

    def pull(i: int) -> None:
        try:
            with store.writer(f"pull-{i}", expected=sha(data)) as w:
                for off in range(0, len(data), 100_000):
                    w.write(data[off : off + 100_000])
                w.commit(len(data), sha(data))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=pull, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.read_bytes(sha(data)) == data
    assert os.listdir(store.blobs) == [sha(data)[7:]]
    assert store.statuses() == []


def test_same_blob_many_refs_processes(store):
    data = os.urandom(500_000)
    code = (
        "import sys; from pathlib import Path; from seabox.content import ContentStore\n"
        f"s = ContentStore(Path({str(store.root)!r})); data = sys.stdin.buffer.read()\n"
        f"w = s.writer('p-' + sys.argv[1]); w.write(data); w.commit(len(data), {sha(data)!r})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stdin=subprocess.PIPE) for i in range(4)]
    for p in procs:
        p.communicate(data)
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert store.read_bytes(sha(data)) == data
    assert len(store.list()) == 1 and store.statuses() == []


def test_root_is_a_parameter(tmp_path):
    s = ContentStore(Path(tmp_path / "elsewhere"))
    s.put(b"x")
    assert (tmp_path / "elsewhere" / "blobs" / "sha256").is_dir()


def test_ingest_for_other_content_is_restarted(store):
    w = store.writer("ref", expected=sha(b"first"), total=5)
    w.write(b"fir")
    w.close()
    w = store.writer("ref", expected=sha(b"second!"), total=7)
    assert w.offset == 0
    w.write(b"second!")
    w.commit(7, sha(b"second!"))
    assert store.read_bytes(sha(b"second!")) == b"second!"


def test_same_ref_is_mutually_exclusive_under_contention(store):
    data = os.urandom(200_000)
    holders = 0
    max_holders = 0
    guard = threading.Lock()
    errors = []

    def worker() -> None:
        nonlocal holders, max_holders
        done = 0
        while done < 5:
            try:
                w = store.writer("contended", expected=sha(data))
            except IngestLocked:
                continue
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
                return
            with guard:
                holders += 1
                max_holders = max(max_holders, holders)
            try:
                w.truncate(0)
                w.write(data)
                with guard:
                    holders -= 1
                w.commit(len(data), sha(data))
                done += 1
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
                return

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and max_holders == 1
    assert store.read_bytes(sha(data)) == data and store.statuses() == []


def test_concurrent_put_of_same_bytes(store):
    data = b"manifest" * 1000
    errors = []

    def put() -> None:
        try:
            for _ in range(20):
                assert store.put(data) == sha(data)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.read_bytes(sha(data)) == data and store.statuses() == []
