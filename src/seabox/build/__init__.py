"""The image builder.

This package starts with the pure front half: the Dockerfile parser
(``dockerfile``), ``.dockerignore`` rules (``ignore``), the stage graph
(``graph``), cache keys (``cachekey``) and context checksums (``context``).
None of it talks to seaboxd, so every rule Docker applies to a Dockerfile can be
tested in isolation; the engine that executes steps consumes these typed objects.
"""
