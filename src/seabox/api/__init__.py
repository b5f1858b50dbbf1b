"""seabox's wire layer: containerd v1 and CRI v1 gRPC services.

``proto/`` holds seabox's own .proto sources (wire-compatible with containerd 1.6 and
Kubernetes CRI v1); ``seabox.api.gen`` is generated from them by scripts/gen-protos.sh and
never edited by hand; the hand-written servers live beside it and translate between the
wire messages and seabox's library objects. Importing this package does not import grpc.
"""
