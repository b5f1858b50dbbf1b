"""Registry client: hosts config, credentials, auth, HTTP transport, resolve/fetch/push.

Import the submodules directly (``seabox.images.registry.client``); this package
re-exports nothing so importing one piece does not import the rest.
"""
