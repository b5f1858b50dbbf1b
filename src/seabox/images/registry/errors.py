"""Registry error bodies mapped to seabox.errdefs.

The distribution spec returns ``{"errors": [{"code": "MANIFEST_UNKNOWN", "message":
..., "detail": ...}]}`` with 4xx statuses.  The code, not the status, decides the
errdefs kind; the message names the repository the request concerned (``unauthorized:
authentication required for 127.0.0.1:5001/infra/busybox``), because a user with
several registries needs to know which one said no.
"""

from __future__ import annotations

import json

from seabox import errdefs

_KINDS: dict[str, type[errdefs.SeaboxError]] = {
    "UNAUTHORIZED": errdefs.Unauthorized,
    "DENIED": errdefs.Unauthorized,
    "MANIFEST_UNKNOWN": errdefs.NotFound,
    "NAME_UNKNOWN": errdefs.NotFound,
    "BLOB_UNKNOWN": errdefs.NotFound,
    "BLOB_UPLOAD_UNKNOWN": errdefs.NotFound,
    "MANIFEST_BLOB_UNKNOWN": errdefs.FailedPrecondition,
    "BLOB_UPLOAD_INVALID": errdefs.FailedPrecondition,
    "DIGEST_INVALID": errdefs.InvalidArgument,
    "SIZE_INVALID": errdefs.InvalidArgument,
    "MANIFEST_INVALID": errdefs.InvalidArgument,
    "MANIFEST_UNVERIFIED": errdefs.InvalidArgument,
    "NAME_INVALID": errdefs.InvalidArgument,
    "TAG_INVALID": errdefs.InvalidArgument,
    "RANGE_INVALID": errdefs.InvalidArgument,
    "PAGINATION_NUMBER_INVALID": errdefs.InvalidArgument,
    "UNSUPPORTED": errdefs.FailedPrecondition,
    "TOOMANYREQUESTS": errdefs.Unavailable,
    "UNAVAILABLE": errdefs.Unavailable,
}

_STATUS_KINDS: dict[int, type[errdefs.SeaboxError]] = {
    400: errdefs.InvalidArgument,
    401: errdefs.Unauthorized,
    403: errdefs.Unauthorized,
    404: errdefs.NotFound,
    405: errdefs.FailedPrecondition,
    409: errdefs.AlreadyExists,
    416: errdefs.InvalidArgument,
    429: errdefs.Unavailable,
}


def _make(kind: type[errdefs.SeaboxError], msg: str, status: int, codes: list[str]) -> errdefs.SeaboxError:
    e = kind(msg)
    e.status = status  # type: ignore[attr-defined]
    e.codes = codes  # type: ignore[attr-defined]
    return e


def error_from_response(status: int, body: bytes, subject: str, *, what: str = "") -> errdefs.SeaboxError:
    """An errdefs exception for a failed registry request about ``subject`` (``host/repo``)."""
    codes: list[str] = []
    messages: list[str] = []
    try:
        obj = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("errors"), list):
        for e in obj["errors"]:
            if isinstance(e, dict):
                codes.append(str(e.get("code", "")).upper())
                messages.append(str(e.get("message", "") or e.get("code", "")))
    kind: type[errdefs.SeaboxError] | None = next((_KINDS[c] for c in codes if c in _KINDS), None)
    if kind is None:
        kind = _STATUS_KINDS.get(status, errdefs.Unavailable if status >= 500 else errdefs.FailedPrecondition)
    target = f"{subject} ({what})" if what else subject
    if kind is errdefs.Unauthorized:
        if "DENIED" in codes or status == 403:
            detail = messages[codes.index("DENIED")] if "DENIED" in codes else "access denied"
            return _make(kind, f"denied: {detail} for {target}", status, codes)
        return _make(kind, f"unauthorized: authentication required for {target}", status, codes)
    if kind is errdefs.NotFound:
        return _make(kind, f"{target}: not found", status, codes)
    reason = "; ".join(m for m in messages if m) or f"HTTP {status}"
    return _make(kind, f"{target}: {reason}", status, codes)
