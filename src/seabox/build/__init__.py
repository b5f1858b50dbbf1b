"""The image builder.

This package starts with the pure front half of the builder; none of it talks to
seaboxd, so every rule Docker applies to a Dockerfile is a unit test, and the
engine that executes steps consumes typed objects instead of re-deriving them:

* ``dockerfile`` — ``parse(text, filename=, build_args=, target_platform=,
  build_platform=, base_images=)`` → ``Dockerfile`` (stages of ``Step``: a typed,
  expanded instruction plus the env/args/workdir/user/shell it starts from);
  errors are ``DockerfileError`` (``<file>:<line>: <message>: <text>``);
* ``ignore`` — ``.dockerignore`` rules (``IgnoreRules``) and the pruning context walk;
* ``graph`` — ``build_graph(dockerfile, target)``: needed stages, order, parallel
  levels, external images;
* ``context`` — ``ContextIndex``: context files with content digests, COPY/ADD and
  bind-mount checksums;
* ``cachekey`` — content-addressed step keys (``base_key``, ``step_key``, ``chain``);
* ``plan`` — ``build_keys``: every needed step's key up front, across stages;
* ``imageconfig`` — the run config and history a stage produces.

The engine's loop, roughly: parse → ``build_graph`` → resolve the images →
parse again with ``base_images`` → ``ContextIndex.scan`` → ``build_keys`` → run the
misses level by level → ``stage_config`` for the target.
"""
