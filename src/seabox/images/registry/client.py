"""The registry API: resolve, fetch, push, login — across a registry's hosts.

``RegistryClient`` speaks the OCI distribution spec (Docker Registry HTTP API v2)
to the endpoints ``hosts.resolve_hosts`` lists for a reference's domain, trying
them in order: a mirror that is down, answers 5xx, 404 or refuses us is skipped
and the next one (finally the upstream ``server``) asked.  Once a repository has
been found on an endpoint, later fetches for it go there first.

Everything that moves blobs streams: ``open_blob`` returns a reader that checks
size and digest as it reaches EOF, ``push_blob`` sends a file object either in one
PUT (monolithic) or in PATCH chunks with ``Content-Range``.  Manifests are small
and read whole (capped at 4 MiB, as containerd does) and always digest-checked.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import quote, urlencode, urljoin, urlsplit

from seabox import errdefs
from seabox.images.registry.auth import Authorizer, Challenge, NoCredentials, basic_header
from seabox.images.registry.credentials import IDENTITY_TOKEN_USER, CredentialStore
from seabox.images.registry.hosts import RegistryHost, resolve_hosts
from seabox.images.registry.transport import CHUNK, Response, Transport
from seabox.oci import image as oci
from seabox.oci.reference import DOCKER_DOMAIN, LEGACY_DOCKER_DOMAIN, Reference

MAX_MANIFEST_SIZE = 4 << 20
T = TypeVar("T")
Credentials = Callable[[str], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A reference resolved to a descriptor, and the endpoint that answered."""

    ref: Reference
    descriptor: oci.Descriptor
    host: RegistryHost


class BlobReader:
    """A blob's bytes as they arrive; raises FailedPrecondition at EOF if size or digest is wrong.

    With ``offset`` > 0 (a resumed download) only the size is checked here; the
    content store verifies the whole blob's digest when it commits.
    """

    def __init__(self, resp: Response, desc: oci.Descriptor, subject: str, offset: int = 0, *,
                 verify_digest: bool = True) -> None:  # fmt: skip
        self._resp = resp
        self.descriptor = desc
        self.subject = subject
        self.offset = offset
        self.read_bytes = 0
        want = verify_digest and offset == 0 and desc.digest.startswith("sha256:")
        self._h = hashlib.sha256() if want else None
        self._done = False

    def read(self, n: int = -1) -> bytes:
        b = self._resp.read(CHUNK if n is None or n < 0 else n)
        if b:
            self.read_bytes += len(b)
            if self._h is not None:
                self._h.update(b)
            if self.offset + self.read_bytes > self.descriptor.size:
                self._resp.close()
                raise self._err(f"more data than the descriptor's size {self.descriptor.size}")
        elif not self._done and n != 0:
            self._done = True
            self._check()
        return b

    def readinto(self, buf: bytearray | memoryview) -> int:
        b = self.read(len(buf))
        buf[: len(b)] = b
        return len(b)

    def readable(self) -> bool:
        return True

    def _err(self, why: str) -> errdefs.FailedPrecondition:
        return errdefs.FailedPrecondition(errdefs.subject("blob", self.descriptor.digest, f"from {self.subject}: {why}"))

    def _check(self) -> None:
        got = self.offset + self.read_bytes
        if got != self.descriptor.size:
            raise self._err(f"short read: got {got} of {self.descriptor.size} bytes")
        if self._h is not None and "sha256:" + self._h.hexdigest() != self.descriptor.digest:
            raise self._err(f"digest mismatch: got sha256:{self._h.hexdigest()}")

    def close(self) -> None:
        self._resp.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


class RegistryClient:
    """One client per operation (pull, push, login); thread-safe for concurrent fetches."""

    def __init__(
        self,
        *,
        hosts_dir: Path | str | None = None,
        credentials: CredentialStore | Credentials | None = None,
        plain_http: bool | None = None,
        skip_verify: bool = False,
        timeout: float = 60.0,
    ) -> None:
        self.hosts_dir = hosts_dir
        self.plain_http = plain_http
        self.skip_verify = skip_verify
        if isinstance(credentials, CredentialStore):
            self._creds: Credentials = credentials.lookup
        elif credentials is None:
            self._creds = lambda host: None
        else:
            self._creds = credentials
        self.authorizer = Authorizer(self._credentials_for, self._fetch_token)
        self.transport = Transport(self.authorizer, timeout=timeout)
        self._lock = threading.Lock()
        self._hosts: dict[str, list[RegistryHost]] = {}
        self._by_netloc: dict[str, RegistryHost] = {}
        self._sticky: dict[str, str] = {}  # "domain/repo" -> netloc that served it

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hosts --------------------------------------------------------------------
    def hosts(self, domain: str) -> list[RegistryHost]:
        with self._lock:
            hs = self._hosts.get(domain)
        if hs is None:
            hs = resolve_hosts(domain, self.hosts_dir, plain_http=self.plain_http, skip_verify=self.skip_verify)
            with self._lock:
                self._hosts[domain] = hs
                for h in hs:
                    self._by_netloc.setdefault(h.netloc, h)
        return hs

    def _credentials_for(self, netloc: str) -> tuple[str, str] | None:
        creds = self._creds(netloc)
        if creds is None:
            with self._lock:
                h = self._by_netloc.get(netloc)
            if h is not None and h.registry and not h.mirror and h.registry != netloc:
                creds = self._creds(h.registry)  # registry-1.docker.io -> docker.io's login
        return creds

    def _candidates(self, ref: Reference, capability: str) -> list[RegistryHost]:
        hs = [h for h in self.hosts(ref.domain) if h.can(capability)]
        if not hs:
            raise errdefs.FailedPrecondition(
                errdefs.subject("registry", ref.domain, f'no configured host has the "{capability}" capability')
            )
        with self._lock:
            sticky = self._sticky.get(ref.name)
        if sticky:
            hs = sorted(hs, key=lambda h: h.netloc != sticky)
        return hs

    def _each(self, ref: Reference, capability: str, fn: Callable[[RegistryHost], T]) -> T:
        hosts = self._candidates(ref, capability)
        errors: list[tuple[RegistryHost, errdefs.SeaboxError]] = []
        for i, h in enumerate(hosts):
            try:
                out = fn(h)
            except (errdefs.NotFound, errdefs.Unavailable, errdefs.Unauthorized) as e:
                errors.append((h, e))
                if i == len(hosts) - 1:
                    break
                continue
            with self._lock:
                self._sticky[ref.name] = h.netloc
            return out
        _, last = errors[-1]
        if len(errors) > 1:
            # prefer a not-found/unauthorized answer over "unavailable" from a later endpoint
            chosen = next((e for _, e in errors if not isinstance(e, errdefs.Unavailable)), last)
            others = "; ".join(f"{h.netloc}: {e}" for h, e in errors if e is not chosen)
            raise type(chosen)(f"{chosen} (also tried {others})") from chosen
        raise last

    @staticmethod
    def _path(h: RegistryHost, repo: str, tail: str, query: dict[str, str] | None = None) -> str:
        q = dict(query or {})
        if h.mirror and h.registry:
            q["ns"] = h.registry
        return f"/{repo}/{tail}" + ("?" + urlencode(q) if q else "")

    # -- token fetch (Authorizer callback) ----------------------------------------
    def _fetch_token(self, ch: Challenge, scopes: list[str], creds: tuple[str, str] | None) -> tuple[str, int]:
        sp = urlsplit(ch.realm)
        if sp.scheme not in ("http", "https") or not sp.netloc:
            raise errdefs.Unauthorized(f"unauthorized: invalid token realm {ch.realm!r}")
        q: list[tuple[str, str]] = []
        if ch.service:
            q.append(("service", ch.service))
        q += [("scope", s) for s in scopes]
        target = (sp.path or "/") + "?" + urlencode(q) if q else (sp.path or "/")
        if sp.query:
            target += ("&" if q else "?") + sp.query
        hdrs = {"User-Agent": "seabox/0.1"}
        with self._lock:
            h = self._by_netloc.get(sp.netloc)
        method, body = "GET", None
        if creds and creds[0] == IDENTITY_TOKEN_USER:
            # OAuth2 refresh-token grant (docker's identity tokens)
            form = [("grant_type", "refresh_token"), ("refresh_token", creds[1]), ("client_id", "seabox")]
            if ch.service:
                form.append(("service", ch.service))
            form += [("scope", " ".join(scopes))] if scopes else []
            method, body = "POST", urlencode(form).encode()
            target = sp.path or "/"
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            hdrs["Content-Length"] = str(len(body))
        elif creds:
            hdrs["Authorization"] = basic_header(*creds)
        resp = self.transport.send(method, sp.scheme, sp.netloc, target, hdrs, body, h or RegistryHost(sp.scheme, sp.netloc))
        body = resp.read_all(1 << 20)
        if resp.status in (401, 403):
            if creds:
                raise errdefs.Unauthorized(f"unauthorized: incorrect username or password (token server {sp.netloc})")
            raise NoCredentials(f"unauthorized: token server {sp.netloc} refused anonymous access")
        if resp.status != 200:
            raise errdefs.Unavailable(f"token server {sp.netloc}: HTTP {resp.status}")
        try:
            obj = json.loads(body)
            token = obj.get("token") or obj.get("access_token")
            expires = int(obj.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            raise errdefs.Unavailable(f"token server {sp.netloc}: invalid response")
        if not isinstance(token, str) or not token:
            raise errdefs.Unavailable(f"token server {sp.netloc}: response has no token")
        return token, expires

    # -- ping / login -------------------------------------------------------------
    def ping(self, domain: str) -> RegistryHost:
        """GET /v2/ on the registry's own server (authenticating if challenged)."""
        h = self.hosts(domain)[-1]
        with self.transport.request(h, "GET", "/", scopes=[], subject=domain) as r:
            r.read_all(1 << 20)
        return h

    # -- resolve / fetch ----------------------------------------------------------
    def resolve(self, ref: Reference) -> Resolved:
        """The descriptor ``ref`` (tag or digest) names, via HEAD (GET when HEAD says too little)."""
        accept = ", ".join(oci.MANIFEST_ACCEPT)
        scopes = [_scope(ref.path, "pull")]
        obj = ref.digest or ref.tag or "latest"

        def one(h: RegistryHost) -> Resolved:
            path = self._path(h, ref.path, f"manifests/{obj}")
            try:
                with self.transport.request(h, "HEAD", path, scopes=scopes, headers={"Accept": accept},
                                            subject=str(ref)) as r:  # fmt: skip
                    mt = r.header("Content-Type").split(";")[0].strip()
                    dg = r.header("Docker-Content-Digest") or ref.digest or ""
                    size = r.header("Content-Length")
            except (errdefs.FailedPrecondition, errdefs.InvalidArgument):
                mt = dg = size = ""  # HEAD not supported (405/400...): GET below
            if ref.digest and dg and dg != ref.digest:
                raise errdefs.FailedPrecondition(errdefs.subject("manifest", str(ref), f"registry returned digest {dg}"))
            if not (mt and dg and size and size.isdigit() and mt in oci.MANIFEST_TYPES | oci.INDEX_TYPES):
                with self.transport.request(h, "GET", path, scopes=scopes, headers={"Accept": accept},
                                            subject=str(ref)) as r:  # fmt: skip
                    data = r.read_all(MAX_MANIFEST_SIZE)
                    mt = r.header("Content-Type").split(";")[0].strip()
                dg = "sha256:" + hashlib.sha256(data).hexdigest()
                if ref.digest and dg != ref.digest:
                    raise errdefs.FailedPrecondition(errdefs.subject("manifest", str(ref), f"content has digest {dg}"))
                mt = oci.detect_media_type(data, name=str(ref)) if mt not in oci.MANIFEST_TYPES | oci.INDEX_TYPES else mt
                size = str(len(data))
            return Resolved(ref, oci.Descriptor(mt, dg, int(size)), h)

        return self._each(ref, "resolve", one)

    def fetch_manifest(self, ref: Reference, desc: oci.Descriptor) -> bytes:
        """The manifest/index bytes for ``desc``, digest-checked."""
        accept = ", ".join([desc.media_type] + [m for m in oci.MANIFEST_ACCEPT if m != desc.media_type])
        scopes = [_scope(ref.path, "pull")]

        def one(h: RegistryHost) -> bytes:
            path = self._path(h, ref.path, f"manifests/{desc.digest}")
            with self.transport.request(h, "GET", path, scopes=scopes, headers={"Accept": accept},
                                        subject=f"{ref.name}@{desc.digest}") as r:  # fmt: skip
                return r.read_all(MAX_MANIFEST_SIZE)

        data = self._each(ref, "pull", one)
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != desc.digest:
            raise errdefs.FailedPrecondition(errdefs.subject("manifest", f"{ref.name}@{desc.digest}", f"digest mismatch: got {got}"))
        return data

    def open_blob(self, ref: Reference, desc: oci.Descriptor, *, offset: int = 0,
                  verify_digest: bool = True) -> BlobReader:  # fmt: skip
        """A verifying stream of blob ``desc`` (from byte ``offset`` when resuming).

        ``verify_digest=False`` checks only the size, for callers whose sink verifies the
        digest anyway (the content store on commit), saving a second hash of every byte.
        """
        scopes = [_scope(ref.path, "pull")]
        subject = f"{ref.name}@{desc.digest}"

        def one(h: RegistryHost) -> BlobReader:
            hdrs = {"Range": f"bytes={offset}-"} if offset else {}
            r = self.transport.request(h, "GET", self._path(h, ref.path, f"blobs/{desc.digest}"), scopes=scopes,
                                       headers=hdrs, subject=subject, ok=(200, 206))  # fmt: skip
            if offset and r.status == 200:
                skip = offset  # the server ignored Range: discard what we already have
                while skip:
                    b = r.read(min(CHUNK, skip))
                    if not b:
                        break
                    skip -= len(b)
            return BlobReader(r, desc, subject, offset, verify_digest=verify_digest)

        return self._each(ref, "pull", one)

    def fetch_blob(self, ref: Reference, desc: oci.Descriptor, limit: int = 16 << 20) -> bytes:
        """A small blob (a config) read whole and verified."""
        if desc.size > limit:
            raise errdefs.FailedPrecondition(errdefs.subject("blob", desc.digest, f"too large to read whole ({desc.size} bytes)"))
        with self.open_blob(ref, desc) as r:
            out = bytearray()
            while True:
                b = r.read(CHUNK)
                if not b:
                    return bytes(out)
                out += b

    # -- push ---------------------------------------------------------------------
    def _push_host(self, ref: Reference) -> RegistryHost:
        return self._candidates(ref, "push")[0]

    def blob_exists(self, ref: Reference, digest: str) -> int | None:
        """The blob's size if the repository has it, else None (HEAD /blobs/<digest>)."""
        h = self._push_host(ref)
        try:
            with self.transport.request(h, "HEAD", self._path(h, ref.path, f"blobs/{digest}"),
                                        scopes=[_scope(ref.path, "pull,push")], subject=f"{ref.name}@{digest}") as r:  # fmt: skip
                n = r.header("Content-Length")
                return int(n) if n.isdigit() else 0
        except errdefs.NotFound:
            return None

    def mount_blob(self, ref: Reference, digest: str, from_repo: str) -> str | None:
        """Cross-repository mount; None when mounted, else the upload URL the registry opened instead."""
        h = self._push_host(ref)
        scopes = [_scope(ref.path, "pull,push"), _scope(from_repo, "pull")]
        path = self._path(h, ref.path, "blobs/uploads/", {"mount": digest, "from": from_repo})
        with self.transport.request(h, "POST", path, scopes=scopes, subject=f"{ref.name}@{digest}",
                                    what="mount", ok=(201, 202)) as r:  # fmt: skip
            if r.status == 201:
                return None
            return self._location(r, ref)

    def _location(self, r: Response, ref: Reference) -> str:
        loc = r.header("Location")
        if not loc:
            raise errdefs.Unavailable(f"registry {ref.domain}: upload response without Location")
        return urljoin(r.url, loc)

    def start_upload(self, ref: Reference) -> str:
        h = self._push_host(ref)
        with self.transport.request(h, "POST", self._path(h, ref.path, "blobs/uploads/"),
                                    scopes=[_scope(ref.path, "pull,push")], subject=ref.name,
                                    what="upload", ok=(202,)) as r:  # fmt: skip
            return self._location(r, ref)

    def push_blob(
        self,
        ref: Reference,
        desc: oci.Descriptor,
        reader: BinaryIO,
        *,
        location: str | None = None,
        chunk_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Upload ``desc``'s bytes from ``reader``: one PUT, or PATCH chunks of ``chunk_size`` then PUT."""
        h = self._push_host(ref)
        scopes = [_scope(ref.path, "pull,push")]
        subject = f"{ref.name}@{desc.digest}"
        loc = location or self.start_upload(ref)

        def with_digest(u: str) -> str:
            return u + ("&" if "?" in u else "?") + "digest=" + quote(desc.digest, safe="")

        counting = _Counting(reader, progress)
        if not chunk_size:
            with self.transport.request(h, "PUT", with_digest(loc), scopes=scopes, body=counting,  # type: ignore[arg-type]
                                        headers={"Content-Type": "application/octet-stream",
                                                 "Content-Length": str(desc.size)},
                                        subject=subject, what="upload", ok=(201, 204)) as r:  # fmt: skip
                r.read_all(1 << 20)
            return
        offset = 0
        while offset < desc.size:
            data = _read_exact(reader, min(chunk_size, desc.size - offset))
            if not data:
                raise errdefs.FailedPrecondition(errdefs.subject("blob", desc.digest, f"source ended at {offset} of {desc.size} bytes"))
            end = offset + len(data) - 1
            with self.transport.request(h, "PATCH", loc, scopes=scopes, body=data,
                                        headers={"Content-Type": "application/octet-stream",
                                                 "Content-Range": f"{offset}-{end}"},
                                        subject=subject, what="upload chunk", ok=(202, 204)) as r:  # fmt: skip
                r.read_all(1 << 20)
                loc = self._location(r, ref) if r.header("Location") else loc
                rng = r.header("Range")
            if rng:
                hi = rng.partition("-")[2]
                if hi.isdigit() and int(hi) != end:
                    raise errdefs.FailedPrecondition(
                        errdefs.subject("blob", desc.digest, f"registry acknowledged bytes {rng}, sent up to {end}")
                    )
            offset = end + 1
            if progress:
                progress(len(data))
        with self.transport.request(h, "PUT", with_digest(loc), scopes=scopes, subject=subject,
                                    what="upload commit", ok=(201, 204)) as r:  # fmt: skip
            r.read_all(1 << 20)

    def put_manifest(self, ref: Reference, media_type: str, data: bytes, *, tag: str | None = None) -> str:
        """PUT a manifest or index under ``tag`` (default: the ref's tag, else its digest); returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        obj = tag or ref.tag or digest
        h = self._push_host(ref)
        with self.transport.request(h, "PUT", self._path(h, ref.path, f"manifests/{obj}"),
                                    scopes=[_scope(ref.path, "pull,push")], body=data,
                                    headers={"Content-Type": media_type}, subject=f"{ref.name}:{obj}",
                                    what="manifest", ok=(200, 201, 202)) as r:  # fmt: skip
            r.read_all(1 << 20)
            got = r.header("Docker-Content-Digest")
        if got and got != digest:
            raise errdefs.FailedPrecondition(errdefs.subject("manifest", f"{ref.name}:{obj}", f"registry stored digest {got}, sent {digest}"))
        return digest


class _Counting:
    def __init__(self, r: BinaryIO, progress: Callable[[int], None] | None) -> None:
        self._r = r
        self._p = progress

    def read(self, n: int = -1) -> bytes:
        b = self._r.read(n)
        if b and self._p:
            self._p(len(b))
        return b


def _read_exact(r: BinaryIO, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        b = r.read(n - len(out))
        if not b:
            break
        out += b
    return bytes(out)


def login(
    registry: str,
    username: str,
    password: str,
    *,
    config_path: Path | str | None = None,
    hosts_dir: Path | str | None = None,
    plain_http: bool | None = None,
    skip_verify: bool = False,
) -> Path:
    """Check ``username``/``password`` against ``registry`` (GET /v2/), then save them (mode 0600)."""
    domain = DOCKER_DOMAIN if registry in (LEGACY_DOCKER_DOMAIN, "registry-1.docker.io") else registry
    store = CredentialStore(config_path)
    with RegistryClient(hosts_dir=hosts_dir, credentials=lambda _h: (username, password),
                        plain_http=plain_http, skip_verify=skip_verify) as c:  # fmt: skip
        try:
            c.ping(domain)
        except errdefs.Unauthorized as e:
            raise errdefs.Unauthorized(f"login to {registry} failed (wrong username or password?): {e}") from e
    store.store(domain, username, password)
    return store.path


def logout(registry: str, *, config_path: Path | str | None = None) -> bool:
    """Forget ``registry``'s credentials; False when there were none."""
    return CredentialStore(config_path).erase(registry)
