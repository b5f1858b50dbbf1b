"""Which endpoints serve a registry, and how to talk to them (containerd's hosts dir).

``<hosts_dir>/<registry host>/hosts.toml`` lists mirrors to try before the
upstream ``server``, in file order, each with its own capabilities (``pull``,
``resolve``, ``push``), TLS settings (``ca``, ``client``, ``skip_verify``), extra
``header``s and ``override_path``; top-level keys describe ``server``.  The scheme
of a host URL chooses TLS (``http://`` is plain HTTP).  ``<hosts_dir>/_default``
applies to registries with no directory of their own.  A directory without a
hosts.toml is read the docker way: ``*.crt`` are CAs, ``*.cert``/``*.key`` pairs
client certificates.  Docker Hub's ``docker.io`` is served by
``registry-1.docker.io`` unless configured otherwise.

With no configuration, a loopback registry (``localhost``, ``127.0.0.0/8``,
``::1``) is tried with HTTPS and falls back to plain HTTP when the server does not
speak TLS, as docker does for its default insecure registries; a certificate
error is never downgraded.

Reading the files is cheap; ``ssl.SSLContext``s are built lazily and cached per
host because loading the system CAs costs milliseconds.
"""

from __future__ import annotations

import ipaddress
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from seabox import errdefs

if TYPE_CHECKING:
    import ssl

DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://registry-1.docker.io"
ALL_CAPABILITIES = frozenset({"pull", "resolve", "push"})


@dataclass(frozen=True, slots=True)
class RegistryHost:
    """One endpoint: ``scheme://netloc`` + API ``path`` (normally ``/v2``)."""

    scheme: str
    netloc: str
    path: str = "/v2"
    capabilities: frozenset[str] = ALL_CAPABILITIES
    skip_verify: bool = False
    ca: tuple[str, ...] = ()
    client: tuple[tuple[str, str], ...] = ()  # (cert, key); key "" when the cert file holds both
    header: tuple[tuple[str, str], ...] = ()
    mirror: bool = False  # not the registry's own server: add ?ns=<registry> and fall through on 404
    http_fallback: bool = False  # loopback default: retry in plain HTTP if the server does not speak TLS
    registry: str = ""  # the registry host this endpoint serves (the ``ns``)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def with_scheme(self, scheme: str) -> RegistryHost:
        return RegistryHost(
            scheme, self.netloc, self.path, self.capabilities, self.skip_verify, self.ca, self.client,
            self.header, self.mirror, False, self.registry,
        )  # fmt: skip


def is_loopback(netloc: str) -> bool:
    host = urlsplit("//" + netloc).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bad(path: Path, why: str) -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(errdefs.subject("hosts file", str(path), why))


def _parse_url(path: Path, raw: str, *, override_path: bool) -> tuple[str, str, str]:
    u = raw if "://" in raw else "https://" + raw
    sp = urlsplit(u)
    if sp.scheme not in ("http", "https") or not sp.netloc:
        raise _bad(path, f"invalid host URL {raw!r} (want [http[s]://]host[:port][/path])")
    p = sp.path.rstrip("/")
    if not p:
        p = "/v2"
    elif not override_path and not p.endswith("/v2"):
        p += "/v2"
    return sp.scheme, sp.netloc, p


def _str_list(path: Path, key: str, v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return list(v)
    raise _bad(path, f'"{key}" must be a string or a list of strings')


def _resolve_file(base: Path, p: str) -> str:
    return p if Path(p).is_absolute() else str(base / p)


def _host_settings(path: Path, tbl: dict[str, Any], base: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in tbl:
        if k not in ("server", "host", "capabilities", "ca", "client", "skip_verify", "header", "override_path",
                     "dial_timeout"):  # fmt: skip
            raise _bad(path, f"unknown key {k!r}")
    if "capabilities" in tbl:
        caps = _str_list(path, "capabilities", tbl["capabilities"])
        bad = [c for c in caps if c not in ALL_CAPABILITIES]
        if bad:
            raise _bad(path, f"unknown capability {bad[0]!r} (want pull, resolve, push)")
        out["capabilities"] = frozenset(caps)
    if "skip_verify" in tbl:
        if not isinstance(tbl["skip_verify"], bool):
            raise _bad(path, '"skip_verify" must be true or false')
        out["skip_verify"] = tbl["skip_verify"]
    if "override_path" in tbl:
        if not isinstance(tbl["override_path"], bool):
            raise _bad(path, '"override_path" must be true or false')
        out["override_path"] = tbl["override_path"]
    if "ca" in tbl:
        out["ca"] = tuple(_resolve_file(base, x) for x in _str_list(path, "ca", tbl["ca"]))
    if "client" in tbl:
        c = tbl["client"]
        pairs: list[tuple[str, str]] = []
        items = [c] if isinstance(c, str) else c
        if not isinstance(items, list):
            raise _bad(path, '"client" must be a path, a list of paths, or a list of [cert, key] pairs')
        for it in items:
            if isinstance(it, str):
                pairs.append((_resolve_file(base, it), ""))
            elif isinstance(it, list) and len(it) in (1, 2) and all(isinstance(x, str) for x in it):
                pairs.append((_resolve_file(base, it[0]), _resolve_file(base, it[1]) if len(it) == 2 else ""))
            else:
                raise _bad(path, '"client" entries must be a path or a [cert, key] pair')
        out["client"] = tuple(pairs)
    if "header" in tbl:
        h = tbl["header"]
        if not isinstance(h, dict):
            raise _bad(path, '"header" must be a table')
        hdrs: list[tuple[str, str]] = []
        for k, v in h.items():
            for one in _str_list(path, f"header.{k}", v):
                hdrs.append((k, one))
        out["header"] = tuple(hdrs)
    return out


def parse_hosts_toml(registry: str, path: Path, text: str | None = None) -> list[RegistryHost]:
    """Endpoints for ``registry`` from one hosts.toml: mirrors in file order, then ``server``."""
    try:
        data = tomllib.loads(text if text is not None else path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise _bad(path, f"invalid TOML: {e}")
    base = path.parent
    hosts: list[RegistryHost] = []
    tbl = data.get("host", {})
    if not isinstance(tbl, dict):
        raise _bad(path, '"host" must be a table of [host."<url>"] sections')
    for raw, sub in tbl.items():
        if not isinstance(sub, dict):
            raise _bad(path, f'[host."{raw}"] must be a table')
        st = _host_settings(path, sub, base)
        scheme, netloc, p = _parse_url(path, raw, override_path=st.get("override_path", False))
        hosts.append(
            RegistryHost(
                scheme, netloc, p,
                capabilities=st.get("capabilities", ALL_CAPABILITIES),
                skip_verify=st.get("skip_verify", False),
                ca=st.get("ca", ()), client=st.get("client", ()), header=st.get("header", ()),
                mirror=True, registry=registry,
            )
        )  # fmt: skip
    top = {k: v for k, v in data.items() if k != "host"}
    st = _host_settings(path, top, base)
    server = top.get("server")
    if server is not None and not isinstance(server, str):
        raise _bad(path, '"server" must be a string URL')
    if server is None:
        server = default_server(registry)
    scheme, netloc, p = _parse_url(path, server, override_path=st.get("override_path", False))
    own = netloc == registry or (registry == DOCKER_HUB and netloc == "registry-1.docker.io")
    hosts.append(
        RegistryHost(
            scheme, netloc, p,
            capabilities=st.get("capabilities", ALL_CAPABILITIES),
            skip_verify=st.get("skip_verify", False),
            ca=st.get("ca", ()), client=st.get("client", ()), header=st.get("header", ()),
            mirror=not own, registry=registry,
        )
    )  # fmt: skip
    return hosts


def default_server(registry: str) -> str:
    return DOCKER_HUB_SERVER if registry == DOCKER_HUB else f"https://{registry}"


def _docker_certs(d: Path) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    cas = tuple(str(p) for p in sorted(d.glob("*.crt")))
    clients = []
    for cert in sorted(d.glob("*.cert")):
        key = cert.with_suffix(".key")
        clients.append((str(cert), str(key) if key.exists() else ""))
    return cas, tuple(clients)


def _dir_name(registry: str) -> list[str]:
    # containerd also accepts "host_port_" on systems where ':' is awkward in names
    names = [registry]
    if ":" in registry and not registry.startswith("["):
        h, _, port = registry.rpartition(":")
        names.append(f"{h}_{port}_")
    return names


def resolve_hosts(
    registry: str,
    hosts_dir: Path | str | None = None,
    *,
    plain_http: bool | None = None,
    skip_verify: bool = False,
) -> list[RegistryHost]:
    """Endpoints for ``registry`` (``docker.io``, ``127.0.0.1:5000``...), in the order to try.

    ``plain_http=True`` forces HTTP for the registry's own server (``--plain-http``);
    ``skip_verify`` disables certificate checks for it (``--insecure``/``--tls-verify=false``).
    """
    hosts: list[RegistryHost] | None = None
    if hosts_dir is not None:
        root = Path(hosts_dir)
        candidates = [root / n for n in _dir_name(registry)] + [root / "_default"]
        for d in candidates:
            f = d / "hosts.toml"
            if f.is_file():
                hosts = parse_hosts_toml(registry, f)
                break
            if d.is_dir():
                cas, clients = _docker_certs(d)
                scheme, netloc, p = _parse_url(f, default_server(registry), override_path=False)
                hosts = [RegistryHost(scheme, netloc, p, ca=cas, client=clients, registry=registry)]
                break
    if hosts is None:
        scheme, netloc, p = _parse_url(Path("-"), default_server(registry), override_path=False)
        hosts = [RegistryHost(scheme, netloc, p, registry=registry, http_fallback=is_loopback(netloc))]
    if plain_http or skip_verify:
        last = hosts[-1]
        if plain_http:
            last = last.with_scheme("http")
        if skip_verify:
            last = RegistryHost(
                last.scheme, last.netloc, last.path, last.capabilities, True, last.ca, last.client,
                last.header, last.mirror, last.http_fallback, last.registry,
            )  # fmt: skip
        hosts = [*hosts[:-1], last]
    return hosts


class TLSContexts:
    """``ssl.SSLContext`` per (ca, client, skip_verify) setting, built on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], ssl.SSLContext] = {}

    def for_host(self, h: RegistryHost) -> ssl.SSLContext:
        key = (h.ca, h.client, h.skip_verify)
        with self._lock:
            ctx = self._cache.get(key)
            if ctx is None:
                ctx = self._cache[key] = self._build(h)
            return ctx

    @staticmethod
    def _build(h: RegistryHost) -> ssl.SSLContext:
        import ssl

        ctx = ssl.create_default_context()
        try:
            for ca in h.ca:
                ctx.load_verify_locations(cafile=ca)
            for cert, key in h.client:
                ctx.load_cert_chain(cert, key or None)
        except (OSError, ssl.SSLError) as e:
            raise errdefs.InvalidArgument(errdefs.subject("registry", h.netloc, f"TLS configuration: {e}"))
        if h.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx
