"""seaboxd's metadata: namespaces, containers, images, leases and GC references in SQLite.

Why SQLite: one file, transactions, WAL readers that never block the writer, and a query
language for the garbage collector (references are labels, found with an index instead of a
walk over every object). The daemon holds one writer connection behind a lock; reads use a
connection per thread. Every object lives in a namespace; stores take the namespace as an
explicit argument and never read it from a global.
"""
