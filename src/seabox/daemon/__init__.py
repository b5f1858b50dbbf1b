"""seaboxd: configuration, logging, the gRPC server on a unix socket, and its lifetime.

The daemon module wires library pieces together and owns no logic of its own: the
metadata store and event exchange are libraries, the servicers in seabox.api translate the
wire, and this package opens them with paths from the config and serves until a signal.
"""
