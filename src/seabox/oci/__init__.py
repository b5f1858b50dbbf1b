"""Pure OCI data: image-spec and runtime-spec types, digests, references (no I/O)."""
