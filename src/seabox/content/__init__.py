"""Content-addressed blob store (containerd's content service, locally).

Layout under ``root``::

    blobs/sha256/<hex>          committed blobs, read-only, named by their digest
    ingest/<sha256(ref)>/       one in-progress write per ref: ``ref``, ``data``, ``meta.json``, ``lock``
    meta/sha256/<hex>.json      labels and timestamps of a blob (see ``labels.py``)

A write goes to an ingest named by the caller's ref, and becomes a blob only at
``commit``, after its size and digest verify, by an atomic ``rename`` in the same
filesystem: a reader never sees a partial blob.  An ingest is held with ``flock``,
so a second writer of the same ref fails fast with ``IngestLocked`` while a writer
killed mid-way leaves its ingest to be resumed from ``Writer.offset`` (the kernel
drops the lock with the process).  Two writers of the same content under
different refs each fill their own ingest; the second commit finds the blob there
and just drops its ingest, so nothing is duplicated or torn.
"""

from seabox.content.store import ContentStore, Info, IngestLocked, Status, Writer

__all__ = ["ContentStore", "Info", "IngestLocked", "Status", "Writer"]
