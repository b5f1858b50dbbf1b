"""Running CNI plugins per the CNI specification 1.0, with libcni's result cache.

Design reason: the real plugins (bridge, host-local, portmap, firewall, tuning) do the kernel
work; what a runtime owes them is the protocol, and that is small enough to own: find the
binary in the configured directories, pass the parameters as CNI_* environment variables and
the plugin's configuration on stdin (the list's ``name`` and ``cniVersion`` injected, the
previous plugin's result as ``prevResult``, the capabilities the plugin declares as
``runtimeConfig``), and read a result or a JSON error from stdout.

ADD's final result is cached per (network, container, interface) under the state dir, in the
shape libcni uses (``kind: cniCacheV1``, the config list base64-encoded), because DEL needs it:
plugins get it as ``prevResult`` to find what to undo (portmap its rules, host-local its
address), and the cached config lets DEL run even after the network's file is gone.  DEL runs
the list in reverse, ignores a missing cache, and drops the cache only when every plugin
succeeded, so it can be repeated.

``build_env`` and ``plugin_config`` are pure so tests check exactly what a plugin receives.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from seabox.errdefs import FailedPrecondition, InvalidArgument, NotFound, SeaboxError

CACHE_KIND = "cniCacheV1"


class PluginError(SeaboxError):
    """A plugin failed; ``str()`` names the network and the plugin, on one line."""

    def __init__(self, network: str, plugin: str, command: str, code: int, msg: str, details: str = "") -> None:
        self.network, self.plugin, self.command, self.code = network, plugin, command, code
        self.msg, self.details = msg, details
        text = msg + (f": {details}" if details and details not in msg else "")
        text = " ".join(text.split())
        super().__init__(f'network "{network}": plugin "{plugin}" ({command}): {text}')


@dataclass
class RuntimeConf:
    """What the runtime tells the plugins about one attachment (libcni's RuntimeConf)."""

    container_id: str
    netns: str
    ifname: str = "eth0"
    args: Sequence[tuple[str, str]] = ()
    capability_args: dict[str, Any] = field(default_factory=dict)


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)


def build_env(command: str, rt: RuntimeConf, bin_dirs: Sequence[str],
              base: dict[str, str] | None = None) -> dict[str, str]:
    """The plugin's environment: PATH from ``base`` (the plugins run iptables) plus the CNI_* variables."""
    src: Any = os.environ if base is None else base
    env = {"PATH": src.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")}
    env.update({
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": rt.container_id,
        "CNI_NETNS": rt.netns,
        "CNI_IFNAME": rt.ifname,
        "CNI_PATH": os.pathsep.join(bin_dirs),
    })
    if rt.args:
        env["CNI_ARGS"] = ";".join(f"{k}={v}" for k, v in rt.args)
    return env


def plugin_config(conflist: dict[str, Any], plugin: dict[str, Any], rt: RuntimeConf,
                  prev_result: dict[str, Any] | None) -> dict[str, Any]:
    """One plugin's stdin: its own keys, the list's name/cniVersion, prevResult and runtimeConfig."""
    conf = dict(plugin)
    conf["name"] = conflist["name"]
    conf["cniVersion"] = conflist.get("cniVersion", "1.0.0")
    if prev_result is not None:
        conf["prevResult"] = prev_result
    else:
        conf.pop("prevResult", None)
    caps = plugin.get("capabilities") or {}
    runtime = {k: v for k, v in rt.capability_args.items() if caps.get(k)}
    if runtime:
        conf["runtimeConfig"] = runtime
    else:
        conf.pop("runtimeConfig", None)
    return conf


def validate_conflist(conflist: dict[str, Any]) -> None:
    name = conflist.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("CNI config list: no name")
    plugins = conflist.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise InvalidArgument(f'network "{name}": no plugins in its config list')
    for p in plugins:
        if not isinstance(p, dict) or not isinstance(p.get("type"), str):
            raise InvalidArgument(f'network "{name}": a plugin has no type')


CONFIG_EXTENSIONS = (".conflist", ".conf", ".json")


def load_network_config(path: str) -> dict[str, Any]:
    """A network config file as a config list: ``.conflist`` as is, a single-plugin ``.conf``/``.json``
    wrapped into a one-plugin list (as libcni's ConfListFromConf does)."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise NotFound(f'network config "{path}": not found')
    except ValueError as e:
        raise InvalidArgument(f'network config "{path}": not JSON: {e}')
    if not isinstance(doc, dict):
        raise InvalidArgument(f'network config "{path}": not a JSON object')
    if path.endswith(".conflist") or "plugins" in doc:
        validate_conflist(doc)
        return doc
    if not isinstance(doc.get("type"), str):
        raise InvalidArgument(f'network config "{path}": no plugin type')
    plugin = {k: v for k, v in doc.items() if k not in ("name", "cniVersion")}
    out = {"cniVersion": doc.get("cniVersion", "1.0.0"), "name": doc.get("name", ""), "plugins": [plugin]}
    validate_conflist(out)
    return out


def network_configs(conf_dir: str) -> list[dict[str, Any]]:
    """Every valid network config in ``conf_dir``, in file-name order (the first is the default, as
    containerd's CRI plugin takes it); unreadable files are skipped."""
    try:
        names = sorted(os.listdir(conf_dir))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.endswith(CONFIG_EXTENSIONS):
            try:
                out.append(load_network_config(os.path.join(conf_dir, name)))
            except SeaboxError:
                continue
    return out


class CNI:
    """The plugin runner and its result cache."""

    def __init__(self, bin_dirs: Sequence[str], cache_dir: str, timeout: float = 60.0) -> None:
        self.bin_dirs = [str(d) for d in bin_dirs]
        self.cache_dir = str(cache_dir)
        self.timeout = timeout
        self._tlock = threading.RLock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """ADD/DEL/CHECK run one at a time per cache dir (threads and processes): the plugins'
        check-then-create of their shared iptables chains races between concurrent runs."""
        with self._tlock:
            os.makedirs(self.cache_dir, mode=0o711, exist_ok=True)
            fd = os.open(os.path.join(self.cache_dir, "cni.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    # ---- plugins -----------------------------------------------------------------------
    def find(self, plugin_type: str, network: str = "") -> str:
        if "/" in plugin_type or plugin_type in ("", ".", ".."):
            raise InvalidArgument(f'network "{network}": invalid plugin type "{plugin_type}"')
        for d in self.bin_dirs:
            path = os.path.join(d, plugin_type)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        raise NotFound(f'network "{network}": plugin "{plugin_type}" not found in {os.pathsep.join(self.bin_dirs)}')

    def exec_plugin(self, network: str, plugin_type: str, command: str, rt: RuntimeConf,
                    stdin: dict[str, Any]) -> dict[str, Any] | None:
        """Run one plugin; return its parsed stdout (None when empty); raise PluginError on failure."""
        path = self.find(plugin_type, network)
        env = build_env(command, rt, self.bin_dirs)
        try:
            proc = subprocess.run([path], input=json.dumps(stdin).encode(), env=env, capture_output=True,
                                  timeout=self.timeout, close_fds=True)
        except subprocess.TimeoutExpired:
            raise PluginError(network, plugin_type, command, 0, f"timed out after {self.timeout:g}s")
        except OSError as e:
            raise PluginError(network, plugin_type, command, 0, f"cannot execute {path}: {e.strerror}")
        out = proc.stdout.decode(errors="replace").strip()
        doc: Any = None
        if out:
            try:
                doc = json.loads(out)
            except ValueError:
                doc = None
        if proc.returncode != 0:
            if isinstance(doc, dict) and ("msg" in doc or "code" in doc):
                raise PluginError(network, plugin_type, command, int(doc.get("code") or 0),
                                  str(doc.get("msg") or "failed"), str(doc.get("details") or ""))
            err = proc.stderr.decode(errors="replace").strip() or out or f"exit status {proc.returncode}"
            raise PluginError(network, plugin_type, command, 0, err)
        if out and not isinstance(doc, dict):
            raise PluginError(network, plugin_type, command, 0, f"unparsable result: {out[:200]}")
        if isinstance(doc, dict) and "code" in doc and "msg" in doc and not doc.get("ips") \
                and not doc.get("interfaces"):
            raise PluginError(network, plugin_type, command, int(doc.get("code") or 0),
                              str(doc.get("msg") or "failed"), str(doc.get("details") or ""))
        return doc if isinstance(doc, dict) else None

    def version(self, plugin_type: str, cni_version: str = "1.0.0") -> dict[str, Any]:
        rt = RuntimeConf(container_id="", netns="", ifname="")
        doc = self.exec_plugin("", plugin_type, "VERSION", rt, {"cniVersion": cni_version})
        return doc or {}

    # ---- lists -------------------------------------------------------------------------
    def add(self, conflist: dict[str, Any], rt: RuntimeConf) -> dict[str, Any]:
        """ADD through the list; cache and return the final result.  On failure the list is DELeted."""
        with self._locked():
            return self._add(conflist, rt)

    def _add(self, conflist: dict[str, Any], rt: RuntimeConf) -> dict[str, Any]:
        validate_conflist(conflist)
        name = conflist["name"]
        prev: dict[str, Any] | None = None
        try:
            for plugin in conflist["plugins"]:
                res = self.exec_plugin(name, plugin["type"], "ADD", rt, plugin_config(conflist, plugin, rt, prev))
                if res is not None:
                    prev = res
        except SeaboxError:
            # undo the plugins that did run (DEL must tolerate what was never set up)
            try:
                self._del(conflist, rt, prev)
            except SeaboxError:
                pass
            raise
        result = prev or {"cniVersion": conflist.get("cniVersion", "1.0.0")}
        self._write_cache(conflist, rt, result)
        return result

    def check(self, conflist: dict[str, Any], rt: RuntimeConf) -> None:
        with self._locked():
            self._check(conflist, rt)

    def _check(self, conflist: dict[str, Any], rt: RuntimeConf) -> None:
        validate_conflist(conflist)
        name = conflist["name"]
        if _version_tuple(conflist.get("cniVersion", "0")) < (0, 4, 0):
            raise FailedPrecondition(f'network "{name}": CHECK needs cniVersion 0.4.0 or later')
        cached = self.cached(name, rt.container_id, rt.ifname)
        if cached is None:
            raise NotFound(f'network "{name}": no cached result for container "{rt.container_id}"')
        for plugin in conflist["plugins"]:
            self.exec_plugin(name, plugin["type"], "CHECK", rt,
                             plugin_config(conflist, plugin, rt, cached.get("result")))

    def delete(self, conflist: dict[str, Any] | None, rt: RuntimeConf, network: str = "") -> None:
        """DEL through the list in reverse with the cached result; idempotent.

        ``conflist`` may be None: the cached copy from ADD is used (the network file may be gone).
        """
        with self._locked():
            self._delete(conflist, rt, network)

    def _delete(self, conflist: dict[str, Any] | None, rt: RuntimeConf, network: str) -> None:
        name = (conflist or {}).get("name") or network
        cached = self.cached(name, rt.container_id, rt.ifname) if name else None
        if conflist is None:
            if cached is None:
                return
            conflist = json.loads(base64.b64decode(cached["config"]))
        validate_conflist(conflist)
        if cached is not None and not rt.capability_args and cached.get("capabilityArgs"):
            rt = RuntimeConf(rt.container_id, rt.netns, rt.ifname, rt.args, dict(cached["capabilityArgs"]))
        self._del(conflist, rt, cached.get("result") if cached else None)
        self._drop_cache(conflist["name"], rt.container_id, rt.ifname)

    def _del(self, conflist: dict[str, Any], rt: RuntimeConf, prev: dict[str, Any] | None) -> None:
        name = conflist["name"]
        use_prev = _version_tuple(conflist.get("cniVersion", "0")) >= (0, 4, 0)
        first: PluginError | None = None
        for plugin in reversed(conflist["plugins"]):
            try:
                self.exec_plugin(name, plugin["type"], "DEL", rt,
                                 plugin_config(conflist, plugin, rt, prev if use_prev else None))
            except PluginError as e:
                first = first or e
        if first is not None:
            raise first

    # ---- several lists at once (ctr --cni, CRI pods) -----------------------------------
    def setup(self, conflists: Sequence[dict[str, Any]], container_id: str, netns: str, *,
              args: Sequence[tuple[str, str]] = (), capability_args: dict[str, Any] | None = None
              ) -> list[InterfaceResult]:
        """ADD every list (eth0, eth1, ... in order, capabilities to all, as go-cni does); on a
        failure the lists already added are DELeted before the error is raised."""
        done: list[RuntimeConf] = []
        out: list[InterfaceResult] = []
        try:
            for i, conf in enumerate(conflists):
                rt = RuntimeConf(container_id, netns, f"eth{i}", list(args), dict(capability_args or {}))
                res = self.add(conf, rt)
                done.append(rt)
                out.append(summarize(conf["name"], rt.ifname, res))
        except BaseException:
            for conf, rt in zip(conflists, done, strict=False):
                try:
                    self.delete(conf, rt)
                except SeaboxError:
                    pass
            raise
        return out

    def teardown(self, container_id: str, netns: str, *, args: Sequence[tuple[str, str]] = ()) -> None:
        """DEL every network ``container_id`` was ADDed to (found in the cache); idempotent."""
        base = os.path.join(self.cache_dir, "results")
        try:
            names = sorted(os.listdir(base))
        except FileNotFoundError:
            return
        first: SeaboxError | None = None
        for fn in names:
            try:
                with open(os.path.join(base, fn)) as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                continue
            if doc.get("kind") != CACHE_KIND or doc.get("containerId") != container_id:
                continue
            rt = RuntimeConf(container_id, netns, doc.get("ifName", "eth0"), list(args))
            try:
                self.delete(None, rt, network=doc.get("networkName", ""))
            except SeaboxError as e:
                first = first or e
        if first is not None:
            raise first

    # ---- cache -------------------------------------------------------------------------
    def cache_path(self, network: str, container_id: str, ifname: str) -> str:
        return os.path.join(self.cache_dir, "results", f"{network}-{container_id}-{ifname}")

    def cached(self, network: str, container_id: str, ifname: str) -> dict[str, Any] | None:
        try:
            with open(self.cache_path(network, container_id, ifname)) as f:
                doc: dict[str, Any] = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        return doc if doc.get("kind") == CACHE_KIND else None

    def _write_cache(self, conflist: dict[str, Any], rt: RuntimeConf, result: dict[str, Any]) -> None:
        path = self.cache_path(conflist["name"], rt.container_id, rt.ifname)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        doc = {
            "kind": CACHE_KIND,
            "containerId": rt.container_id,
            "config": base64.b64encode(json.dumps(conflist).encode()).decode(),
            "ifName": rt.ifname,
            "networkName": conflist["name"],
            "netns": rt.netns,
            "cniArgs": [list(a) for a in rt.args],
            "capabilityArgs": rt.capability_args,
            "result": result,
        }
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)

    def _drop_cache(self, network: str, container_id: str, ifname: str) -> None:
        try:
            os.unlink(self.cache_path(network, container_id, ifname))
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class InterfaceResult:
    """What one network gave a container, from a CNI 1.0 result."""

    network: str
    ifname: str
    ip: str = ""
    prefixlen: int = 0
    gateway: str = ""
    mac: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "ifname": self.ifname, "ip": self.ip, "prefixlen": self.prefixlen,
                "gateway": self.gateway, "mac": self.mac}


def summarize(network: str, ifname: str, result: dict[str, Any]) -> InterfaceResult:
    """The container interface's first IPv4 address, gateway and MAC from a 0.3.0-1.0.0 result
    (or the ``ip4`` object of a 0.1/0.2 one)."""
    legacy = result.get("ip4")
    if isinstance(legacy, dict) and legacy.get("ip"):
        ip, _, plen = str(legacy["ip"]).partition("/")
        return InterfaceResult(network, ifname, ip, int(plen or 0), str(legacy.get("gateway", "")))
    interfaces = result.get("interfaces") or []
    mine = [i for i, itf in enumerate(interfaces) if itf.get("name") == ifname and itf.get("sandbox")]
    mac = interfaces[mine[0]].get("mac", "") if mine else ""
    for entry in result.get("ips") or []:
        idx = entry.get("interface")
        if mine and idx is not None and idx not in mine:
            continue
        addr = str(entry.get("address", ""))
        if ":" in addr.split("/")[0]:
            continue
        ip, _, plen = addr.partition("/")
        return InterfaceResult(network, ifname, ip, int(plen or 0), str(entry.get("gateway", "")), mac)
    return InterfaceResult(network, ifname, mac=mac)
