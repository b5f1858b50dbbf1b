"""seabox-shim: one small process per container, and the client seaboxd uses to talk to it.

Layout: ``protocol`` (JSON-lines wire format, sans-IO), ``state`` (process/exit/event
bookkeeping, pure), ``logs`` (json-file and plain log writers with rotation), ``stdio`` (pipes,
FIFOs and pty relays), ``runtime`` (the OCI runtime, called in a forked child or as a runc
compatible binary), ``server`` (the event loop behind the control socket), ``client``
(``ShimClient``, ``discover``, ``cleanup_dead``) and ``launcher`` (the pre-warmed zygote that
forks shims).  The shim side imports only the standard library's lightest modules and nothing
that starts threads; see ``launcher`` for why.
"""
