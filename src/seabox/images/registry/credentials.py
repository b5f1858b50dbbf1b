"""Registry credentials in a docker-compatible ``config.json``.

The file is docker's: ``{"auths": {"<server>": {"auth": base64("user:pass")}}}``
(or ``username``/``password`` fields), at ``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``.  Sharing the file means ``docker login`` and ``seabox
login`` see each other's logins.  Docker Hub is stored under the legacy key
``https://index.docker.io/v1/``; other servers under their ``host[:port]``.  Keys
are matched after stripping a scheme and path, since tools write them either way.

Writes are atomic (temp file + rename) with mode 0600: the file holds passwords.
An ``identitytoken`` (what ``docker login`` stores for OAuth registries) is used as
an OAuth2 refresh token against the bearer realm.  Credential helpers
(``credsStore``/``credHelpers``) are not run; a config naming one still works for
the hosts that have inline ``auths``.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seabox import errdefs

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
#: ``lookup`` returns ``(IDENTITY_TOKEN_USER, token)`` for an ``identitytoken`` entry (an OAuth2 refresh token)
IDENTITY_TOKEN_USER = "<token>"
_DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")


def default_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    d = os.environ.get("DOCKER_CONFIG")
    if d:
        return Path(d) / "config.json"
    return Path.home() / ".docker" / "config.json"


def config_key(host: str) -> str:
    """The ``auths`` key docker writes for ``host``."""
    h = _strip(host)
    return DOCKER_HUB_KEY if h in _DOCKER_HUB_ALIASES else h


def _strip(key: str) -> str:
    k = key
    for prefix in ("https://", "http://"):
        if k.startswith(prefix):
            k = k[len(prefix) :]
    return k.split("/", 1)[0].lower()


def _same_host(key: str, host: str) -> bool:
    a, b = _strip(key), _strip(host)
    if a in _DOCKER_HUB_ALIASES and b in _DOCKER_HUB_ALIASES:
        return True
    return a == b


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    identity_token: str = ""


class CredentialStore:
    """Reads (and, for login/logout, writes) one docker ``config.json``."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_config_path()

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise errdefs.FailedPrecondition(errdefs.subject("credentials file", str(self.path), e.strerror or str(e)))
        if not text.strip():
            return {}
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise errdefs.InvalidArgument(errdefs.subject("credentials file", str(self.path), f"invalid JSON: {e}"))
        if not isinstance(obj, dict):
            raise errdefs.InvalidArgument(errdefs.subject("credentials file", str(self.path), "not a JSON object"))
        return obj

    def get(self, host: str) -> Credentials | None:
        """Credentials for ``host`` (``docker.io`` finds the ``https://index.docker.io/v1/`` entry)."""
        auths = self._load().get("auths")
        if not isinstance(auths, dict):
            return None
        entry = auths.get(config_key(host))
        if entry is None:
            entry = next((v for k, v in auths.items() if _same_host(k, host)), None)
        if not isinstance(entry, dict):
            return None
        user = entry.get("username") or ""
        pw = entry.get("password") or ""
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                decoded = base64.b64decode(auth + "=" * (-len(auth) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                raise errdefs.InvalidArgument(
                    errdefs.subject("credentials file", str(self.path), f'invalid "auth" for {host}')
                )
            u, sep, p = decoded.partition(":")
            if not sep:
                raise errdefs.InvalidArgument(
                    errdefs.subject("credentials file", str(self.path), f'"auth" for {host} is not user:password')
                )
            user, pw = u, p
        token = entry.get("identitytoken") or ""
        if not (user or token):
            return None
        return Credentials(str(user), str(pw), str(token))

    def lookup(self, host: str) -> tuple[str, str] | None:
        """``(username, password)`` or None: the shape the Authorizer wants."""
        c = self.get(host)
        if c is None:
            return None
        if c.identity_token:
            return (IDENTITY_TOKEN_USER, c.identity_token)
        return (c.username, c.password) if c.username else None

    def store(self, host: str, username: str, password: str) -> None:
        obj = self._load()
        auths = obj.setdefault("auths", {})
        if not isinstance(auths, dict):
            auths = obj["auths"] = {}
        for k in [k for k in auths if _same_host(k, host)]:
            del auths[k]
        auths[config_key(host)] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
        self._write(obj)

    def erase(self, host: str) -> bool:
        """Remove ``host``'s entry; True if there was one."""
        obj = self._load()
        auths = obj.get("auths")
        if not isinstance(auths, dict):
            return False
        keys = [k for k in auths if _same_host(k, host)]
        for k in keys:
            del auths[k]
        if keys:
            self._write(obj)
        return bool(keys)

    def _write(self, obj: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(obj, f, indent="\t")
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
