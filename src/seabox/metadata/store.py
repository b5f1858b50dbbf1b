"""The metadata store as one object: the database and a store per kind of object."""

from __future__ import annotations

import uuid
from pathlib import Path

from seabox.metadata.containers import ContainerStore
from seabox.metadata.content import BlobStore
from seabox.metadata.db import DB
from seabox.metadata.images import ImageStore
from seabox.metadata.leases import LeaseStore
from seabox.metadata.namespaces import NamespaceStore


class MetadataStore:
    """Opens (or creates) ``<root>/metadata.db`` and exposes the per-kind stores."""

    def __init__(self, path: Path) -> None:
        self.db = DB(path)
        self.namespaces = NamespaceStore(self.db)
        self.containers = ContainerStore(self.db)
        self.images = ImageStore(self.db)
        self.leases = LeaseStore(self.db)
        self.content = BlobStore(self.db)

    def close(self) -> None:
        self.db.close()

    def server_uuid(self) -> str:
        """The daemon's identity, made once and kept in the database (``ctr version`` shows it)."""
        with self.db.write() as tx:
            row = tx.one("SELECT value FROM meta WHERE key='uuid'")
            if row is not None:
                return str(row[0])
            value = str(uuid.uuid4())
            tx.execute("INSERT INTO meta (key, value) VALUES ('uuid', ?)", (value,))
            return value
