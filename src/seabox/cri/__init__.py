"""CRI v1 (``runtime.v1`` RuntimeService and ImageService) on seaboxd, in namespace ``k8s.io``.

Modules: ``config`` (the ``[plugins.cri]`` table), ``store`` (sandbox and container records in
SQLite), ``pause`` (the built-in pause rootfs), ``spec`` (OCI specs from CRI configs, pure),
``logs`` (CRI log format relay), ``service`` (the library: pods, containers, images, exec),
``streaming`` (exec/attach/port-forward over WebSocket), ``api`` (gRPC servicers), ``server``
(the ``serve`` hook seaboxd calls: a lazy handler, the CRI built in the background).
"""
