"""Fake CNI plugins for tests without root: scripts that record what they get and answer like the real ones.

Design reason (trio's habit of shipping test helpers with the library): the CNI protocol —
environment, stdin, prevResult chaining, the result cache, DEL order, error parsing — is most of
what the network library does, and it can be checked exactly when the "plugins" are small
scripts that append every invocation (command, CNI_* variables, stdin config) to a JSON-lines
log.  A plugin whose config has an ``ipam`` section plays the bridge plugin: it hands out the
next address of the first range (or the ``ips`` runtimeConfig address) and returns a CNI 1.0
result; any other plugin passes prevResult through.  A config key ``fakeFail`` mapping a
command to a message makes that command fail with a CNI error object.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

_SCRIPT = r'''#!{python}
import ipaddress, json, os, sys
LOG = {log!r}
STATE = {state!r}
env = {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}
cmd = env.get("CNI_COMMAND", "")
raw = sys.stdin.read()
conf = json.loads(raw) if raw.strip() else {{}}
with open(LOG, "a") as f:
    f.write(json.dumps({{"plugin": os.path.basename(sys.argv[0]), "command": cmd, "env": env, "stdin": conf}}) + "\n")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": conf.get("cniVersion", "1.0.0"), "supportedVersions": ["0.4.0", "1.0.0"]}}))
    sys.exit(0)
fail = (conf.get("fakeFail") or {{}}).get(cmd)
if fail:
    print(json.dumps({{"cniVersion": conf.get("cniVersion"), "code": 11, "msg": fail, "details": "from the fake"}}))
    sys.exit(1)
if cmd == "ADD" and "ipam" in conf:
    rng = conf["ipam"]["ranges"][0][0]
    net = ipaddress.IPv4Network(rng["subnet"])
    ips = (conf.get("runtimeConfig") or {{}}).get("ips")
    if ips:
        addr = ips[0].split("/")[0]
    else:
        os.makedirs(STATE, exist_ok=True)
        counter = os.path.join(STATE, conf["name"])
        n = int(open(counter).read()) if os.path.exists(counter) else 1
        n += 1
        open(counter, "w").write(str(n))
        addr = str(net.network_address + n)
    result = {{
        "cniVersion": conf["cniVersion"],
        "interfaces": [
            {{"name": conf.get("bridge", "br"), "mac": "02:00:00:00:00:01"}},
            {{"name": "vethfake", "mac": "02:00:00:00:00:02"}},
            {{"name": env["CNI_IFNAME"], "mac": "02:00:00:00:00:03", "sandbox": env["CNI_NETNS"]}},
        ],
        "ips": [{{"address": f"{{addr}}/{{net.prefixlen}}", "gateway": rng.get("gateway", ""), "interface": 2}}],
        "routes": [{{"dst": "0.0.0.0/0"}}],
        "dns": {{}},
    }}
    print(json.dumps(result))
elif cmd in ("ADD", "CHECK") and "prevResult" in conf:
    if cmd == "ADD":
        print(json.dumps(conf["prevResult"]))
sys.exit(0)
'''

PLUGINS = ("bridge", "portmap", "firewall", "tuning", "loopback")


def write_fake_plugins(bin_dir: Path, log: Path, state: Path | None = None,
                       names: tuple[str, ...] = PLUGINS) -> Path:
    """Write executable fake plugins named ``names`` into ``bin_dir``; return ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state = state or bin_dir / "fake-state"
    text = _SCRIPT.format(python=sys.executable, log=str(log), state=str(state))
    for name in names:
        path = bin_dir / name
        path.write_text(text)
        os.chmod(path, 0o755)
    return bin_dir


def read_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
