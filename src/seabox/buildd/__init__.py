"""seabox-buildd: the build engine behind ``seabox build`` and ``seabox-buildctl``.

The pure front half (parsing, graph, context checksums, cache keys, image config)
lives in ``seabox.build``; this package executes it:

* ``cache`` — the SQLite cache db: step key → (snapshot, layer, layer chain), disk usage and GC;
* ``fsops`` — COPY/ADD into a rootfs (paths confined to the root, as chroot would resolve them);
* ``runstep`` — RUN through ``seabox-runc run`` on a bundle whose rootfs is the step's mounted snapshot;
* ``executor`` — the engine loop: pull bases, key every step, run the misses level by level;
* ``output`` — the image (manifest + config) and its exports (seaboxd, push, oci/docker tar, local dir);
* ``server`` / ``client`` — JSON over HTTP/1.1 on a unix socket (stdlib only; progress as JSON lines);
* ``progress`` — plain and TTY renderers of the progress events.

Design choices worth knowing: buildd keeps its own content store and overlay
snapshotter under ``--root`` (base images are pulled there; no round trips through
seaboxd per step), and exports finished images into seaboxd's store over its gRPC
Content/Images services.  RUN uses the host network (no CNI setup per step, like
``--network=host``); ``COPY --link`` is a plain copy.
"""
