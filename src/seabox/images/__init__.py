"""Images: the registry client (``registry``), pull and push pipelines, and (with the
content store and snapshotters) unpack, import/export and GC.  Submodules are imported
directly; this package re-exports nothing so a command pays only for what it uses."""
