"""seaboxd: configuration, logging, the gRPC server on a unix socket, and its lifetime.

The daemon module wires library pieces together and owns no logic of its own: the
metadata store, content store, snapshotters, GC scheduler and event exchange are
libraries, the servicers in seabox.api translate the wire, and this package opens them
with paths from the config (everything under --root and --state) and serves until a
signal. seabox.daemon.testing runs a real daemon process for tests.
"""
