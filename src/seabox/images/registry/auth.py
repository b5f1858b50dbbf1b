"""Registry authentication: WWW-Authenticate challenges, basic auth, bearer tokens.

A registry answers an unauthenticated request with 401 and one or more challenges
(RFC 7235): ``Basic realm="..."`` or ``Bearer realm="https://auth/token",
service="registry",scope="repository:x:pull"``.  For Bearer we fetch a token from
the realm (anonymously, or with the user's credentials as basic auth) and cache it
per (host, scope) until shortly before it expires; a 401 with a cached token drops
it and fetches a new one once.  The challenge parser is a real tokenizer (quoted
strings with escapes, commas inside quotes, several challenges in one header)
because registries differ in spacing and order.

The token fetch is injected (``fetch_token``) so the logic is testable without a
network; ``transport`` supplies the real one.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from seabox import errdefs


class NoCredentials(errdefs.Unauthorized):
    """The registry wants credentials and none are configured (or they were rejected)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lowercase: "basic", "bearer"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")


_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t":
        i += 1
    return i


def _token(s: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(s) and s[j] in _TCHAR:
        j += 1
    return s[i:j], j


def _quoted(s: str, i: int) -> tuple[str, int]:
    # s[i] == '"'
    out = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise ValueError("unterminated quoted string")


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` header value into challenges (scheme lowercased).

    Malformed input yields the challenges parsed before the error (never raises):
    a registry's odd header must not hide a usable ``Bearer realm``.
    """
    out: list[Challenge] = []
    s, n = header, len(header)
    i = 0
    try:
        while i < n:
            i = _skip_ws(s, i)
            while i < n and s[i] == ",":
                i = _skip_ws(s, i + 1)
            scheme, i = _token(s, i)
            if not scheme:
                break
            params: dict[str, str] = {}
            out.append(Challenge(scheme.lower(), params))
            first = True  # a token68 may only directly follow the scheme
            while True:
                j = _skip_ws(s, i)
                comma = False
                while j < n and s[j] == ",":
                    comma = True
                    j = _skip_ws(s, j + 1)
                if j >= n:
                    i = j
                    break
                name, k = _token(s, j)
                if not name:
                    raise ValueError("bad character")
                k2 = _skip_ws(s, k)
                if k2 < n and s[k2] == "=":
                    e = k2
                    while e < n and s[e] == "=":
                        e += 1
                    e2 = _skip_ws(s, e)
                    if first and not comma and (e2 >= n or s[e2] == ","):
                        params["token68"] = s[j:e]  # e.g. "Negotiate abc=="
                        i = e2
                        first = False
                        continue
                    v = _skip_ws(s, k2 + 1)
                    if v < n and s[v] == '"':
                        value, v = _quoted(s, v)
                    else:
                        value, v = _token(s, v)
                    params[name.lower()] = value
                    i = v
                    first = False
                    continue
                if first and not comma and (k2 >= n or s[k2] == ","):
                    params["token68"] = name
                    i = k2
                    first = False
                    continue
                i = j  # a token without "=": the next challenge's scheme
                break
    except ValueError:
        pass
    return out


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(slots=True)
class Token:
    value: str
    expires_at: float  # time.monotonic() deadline


# fetch_token(challenge, scopes, credentials) -> (token, expires_in seconds)
FetchToken = Callable[[Challenge, list[str], "tuple[str, str] | None"], "tuple[str, int]"]


def merge_scopes(*groups: list[str] | str) -> list[str]:
    """Merge ``repository:name:actions`` scopes, unioning the actions per resource."""
    order: list[str] = []
    actions: dict[str, list[str]] = {}
    for g in groups:
        for sc in [g] if isinstance(g, str) else g:
            for one in sc.split(" "):
                if not one:
                    continue
                resource, sep, acts = one.rpartition(":")
                if not sep or not resource:
                    resource, acts = one, ""
                if resource not in actions:
                    order.append(resource)
                    actions[resource] = []
                for a in acts.split(","):
                    if a and a not in actions[resource]:
                        actions[resource].append(a)
    return [f"{r}:{','.join(sorted(actions[r]))}" if actions[r] else r for r in order]


class Authorizer:
    """Chooses the Authorization header per request and reacts to 401 challenges.

    ``credentials(host)`` returns ``(username, password)`` or None.  Thread-safe: the
    pull pipeline shares one Authorizer across download threads.
    """

    #: seconds subtracted from a token's lifetime so it is refreshed before the registry rejects it
    EXPIRY_MARGIN = 10

    def __init__(
        self,
        credentials: Callable[[str], tuple[str, str] | None],
        fetch_token: FetchToken,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._fetch_token = fetch_token
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], Token] = {}
        self._challenges: dict[str, Challenge] = {}  # host -> last usable challenge

    def header(self, host: str, scopes: list[str]) -> str | None:
        """The Authorization header to send pre-emptively, if this host has challenged before."""
        with self._lock:
            ch = self._challenges.get(host)
        if ch is None:
            return None
        if ch.scheme == "basic":
            creds = self._credentials(host)
            return basic_header(*creds) if creds else None
        return "Bearer " + self._bearer(host, ch, scopes, refresh=False)

    def on_unauthorized(self, host: str, www_authenticate: list[str], scopes: list[str], had_auth: bool) -> str:
        """Handle a 401: return the Authorization header to retry with, or raise Unauthorized."""
        challenges: list[Challenge] = []
        for h in www_authenticate:
            challenges += parse_www_authenticate(h)
        ch = next((c for c in challenges if c.scheme == "bearer" and c.realm), None)
        if ch is None:
            ch = next((c for c in challenges if c.scheme == "basic"), None)
        if ch is None:
            raise errdefs.Unauthorized(f"unauthorized: registry {host} sent no usable authentication challenge")
        with self._lock:
            self._challenges[host] = ch
        if ch.scheme == "basic":
            creds = self._credentials(host)
            if creds is None or had_auth:
                raise NoCredentials(f"unauthorized: authentication required for {host}")
            return basic_header(*creds)
        all_scopes = merge_scopes(scopes, ch.scope) if ch.scope else scopes
        return "Bearer " + self._bearer(host, ch, all_scopes, refresh=had_auth)

    def invalidate(self, host: str) -> None:
        with self._lock:
            for k in [k for k in self._tokens if k[0] == host]:
                del self._tokens[k]

    def _bearer(self, host: str, ch: Challenge, scopes: list[str], *, refresh: bool) -> str:
        key = (host, " ".join(sorted(scopes)))
        now = self._clock()
        with self._lock:
            tok = self._tokens.get(key)
            if tok is not None and not refresh and tok.expires_at > now:
                return tok.value
        value, expires_in = self._fetch_token(ch, scopes, self._credentials(host))
        lifetime = max(expires_in, 60) - self.EXPIRY_MARGIN  # the spec's minimum is 60 s
        with self._lock:
            self._tokens[key] = Token(value, now + lifetime)
        return value
