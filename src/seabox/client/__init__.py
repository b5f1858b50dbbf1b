"""Client side of the Docker Engine API for the `seabox` CLI.

The CLI talks to seaboxd (or any Docker-API daemon) with JSON over HTTP/1.1 on a unix socket.
Everything here uses the standard library only — no gRPC, no protobuf — because every CLI
invocation pays its imports: a bare HTTP client over a socket is a few milliseconds.  The
modules are small and imported lazily by the commands that need them: ``http`` (transport),
``stdcopy`` (docker's multiplexed stream frames), ``template`` (a Go text/template subset for
``--format``), ``table`` and ``units`` (docker-like output), ``runopts`` (run/create flags to
the create body), ``progress`` (pull/push JSON streams), ``commands`` (one function per verb).
"""
