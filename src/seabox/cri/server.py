"""seaboxd's hook for the CRI: register a lazy gRPC handler now, build the CRI in the background.

Design reason: the CRI's generated messages, the streaming server and recovery cost about
100 ms of imports and work, which every seaboxd start (and every test or benchmark that starts
one) would pay before serving, CRI user or not.  :func:`serve` only reads the ``[plugins.cri]``
settings (so a bad file still stops seaboxd at start-up, as a bad config.toml does) and
registers one generic handler for ``/runtime.v1.*``; a thread then builds the service
(``seabox.cri.api.build``).  A CRI call that arrives meanwhile waits for it; if it failed,
calls get UNAVAILABLE with the reason.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import grpc

log = logging.getLogger("seabox.cri")

PREFIXES = ("/runtime.v1.RuntimeService/", "/runtime.v1.ImageService/")
READY_WAIT = 60.0


class LazyHandler(grpc.GenericRpcHandler):
    def __init__(self) -> None:
        self.ready = threading.Event()
        self.handlers: list[Any] = []
        self.error = ""

    def service(self, details: Any) -> Any:
        if not details.method.startswith(PREFIXES):
            return None
        if not self.ready.wait(READY_WAIT):
            return self._fail("cri: still starting")
        if self.error:
            return self._fail(f"cri: failed to start: {self.error}")
        for h in self.handlers:
            r = h.service(details)
            if r is not None:
                return r
        return None

    @staticmethod
    def _fail(msg: str) -> Any:
        def abort(req: Any, ctx: grpc.ServicerContext) -> Any:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, msg)

        return grpc.unary_unary_rpc_method_handler(abort)


class Plugin:
    """What seaboxd keeps: the handler, and the service once built."""

    def __init__(self, handler: LazyHandler) -> None:
        self.handler = handler
        self.service: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
        if self.thread is not None:
            self.thread.join(10)
        if self.service is not None:
            self.service.close()


def serve(cfg: Any, deps: Any, tasks: Any, grpc_server: Any) -> Plugin | None:
    """Register the CRI on ``grpc_server`` (before it starts); None when disabled."""
    from seabox.cri import config as cri_config

    c = cri_config.load(cfg.root, cfg.state, table=(getattr(cfg, "plugins", None) or {}).get("cri"))
    if not c.enabled:
        return None
    handler = LazyHandler()
    grpc_server.add_generic_rpc_handlers((handler,))
    plugin = Plugin(handler)

    def build() -> None:
        try:
            from seabox.cri.api import build as build_cri

            svc, handlers = build_cri(c, deps, tasks, cfg.state)
            with plugin._lock:
                if plugin._closed:
                    svc.close()
                    return
                plugin.service = svc
            handler.handlers = handlers
        except Exception as e:
            log.exception("cri failed to start")
            handler.error = str(e)
        finally:
            handler.ready.set()

    plugin.thread = threading.Thread(target=build, name="cri-start", daemon=True)
    plugin.thread.start()
    return plugin
