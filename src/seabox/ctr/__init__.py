"""seabox-ctr's library: containerd's ctr commands over containerd's v1 gRPC API.

The CLI (seabox.cli.ctr) only parses flags; every command is a function here taking a
:class:`~seabox.ctr.client.Client` (address, namespace, timeout) and an output stream, so the
same code drives seaboxd and a real containerd, and tests call it without a subprocess.
One module per command group, as ctr has one file per verb.  grpc and the generated stubs
are imported only inside the functions that talk to the daemon: ``--help`` and flag errors
stay fast.
"""
