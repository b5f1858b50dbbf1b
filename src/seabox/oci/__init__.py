"""Pure OCI data: image-spec and runtime-spec types, digests, references (no I/O).

``Record``, the plain value-object base of the runtime-spec types and of the runtime's state,
lives here rather than in ``runtime_spec`` so that commands which only read state.json
(``start``, ``delete``, ``kill``, ``state``) get it without importing the spec parser.
"""


class Record:
    """A plain value object: equality and repr over its attributes.

    Used instead of dataclasses on the runtime's hot path: importing ``dataclasses`` and
    building each class costs ~15 ms of every seabox-runc invocation.
    """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]
