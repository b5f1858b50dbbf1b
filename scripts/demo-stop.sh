#!/bin/bash
# `make demo-stop`: undo what `make demo` (scripts/demo.sh) leaves behind, and nothing else.
#
#  1. while seaboxd still answers: remove the demo's containers and images through the seabox CLI
#     (demo-web, the built app image, nginx:1.26 only if the demo pulled it) and log out of the
#     auth registry;
#  2. stop the seabox-buildd and seaboxd the demo started (pids recorded in $SEABOX_DEMO_STATE,
#     checked against /proc/<pid>/cmdline so a reused pid is never signalled): SIGTERM, then
#     SIGKILL after $SEABOX_DEMO_STOP_TIMEOUT seconds.  Daemons the demo found already running
#     are left alone;
#  3. once no seaboxd answers on the default socket, remove the default network (`bridge`, the
#     seabox0 bridge: its conflist, link and IPAM state) and the CNI plugins' iptables chains
#     when nothing uses them.  The seabox CLI refuses to remove the pre-defined network (as
#     docker does), so this step calls the network library seaboxd itself uses; a network that
#     containers still use (in seaboxd's state, or any interface still on its bridge) is left
#     with a note;
#  4. the docker.io hosts.toml, only if it still starts with the demo's marker line.
#
# Every path can be redirected (the tests run it on temp dirs with fake daemons):
#   SEABOX_DEMO_STATE, SEABOX_DEMO_HOSTS_TOML, SEABOX_DEMO_BIN (where seabox and friends are),
#   SEABOX_DEMO_CNI_CONF_DIR, SEABOX_DEMO_NETWORK_STATE, SEABOX_DEMO_IPTABLES ("" = leave iptables),
#   SEABOX_DEMO_SYSFS_NET (where bridges list their ports: <dir>/<bridge>/brif/).
# Exit status: 0 when everything the demo started is stopped, 1 when a daemon survived SIGKILL.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PATH="${SEABOX_DEMO_BIN:-$REPO/.venv/bin}:$PATH"
STATE=${SEABOX_DEMO_STATE:-/var/lib/seabox-demo}
HOSTS_TOML=${SEABOX_DEMO_HOSTS_TOML:-/etc/seabox/certs.d/docker.io/hosts.toml}
MARK="# written by seabox's \`make demo\`"  # the first line demo.sh writes
TIMEOUT=${SEABOX_DEMO_STOP_TIMEOUT:-30}
status=0
say() { printf '==> %s\n' "$*"; }

# is_running PID NAME: PID is alive and one of its arguments is a program called NAME
is_running() {
  local arg
  [[ $1 =~ ^[0-9]+$ && -r /proc/$1/cmdline ]] || return 1
  while IFS= read -r -d '' arg; do
    [[ ${arg##*/} == "$2" ]] && return 0
  done < "/proc/$1/cmdline"
  return 1
}

stop_daemon() {
  local name=$1 pidfile=$STATE/$1.pid pid i
  if [[ ! -f $pidfile ]]; then
    say "$name: not started by the demo (no $pidfile); left alone"
    return 0
  fi
  pid=$(<"$pidfile")
  if ! is_running "$pid" "$name"; then
    say "$name: pid $pid is not running any more"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    is_running "$pid" "$name" || break
    sleep 0.1
  done
  if is_running "$pid" "$name"; then
    say "$name: pid $pid still running ${TIMEOUT}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    sleep 0.5
    if is_running "$pid" "$name"; then
      say "$name: pid $pid survived SIGKILL"
      status=1
      return 0
    fi
  fi
  say "$name: stopped (pid $pid)"
  rm -f "$pidfile"
}

seaboxd_answers() { seabox info >/dev/null 2>&1; }

if seaboxd_answers; then
  say "removing the demo's containers and images"
  seabox rm -f demo-web >/dev/null 2>&1 || true
  seabox rmi 127.0.0.1:5001/app/nginx:1.26 >/dev/null 2>&1 || true
  if [[ -f $STATE/pulled-nginx ]]; then
    seabox rmi nginx:1.26 >/dev/null 2>&1 && rm -f "$STATE/pulled-nginx"
  fi
  seabox logout 127.0.0.1:5001 >/dev/null 2>&1 || true
fi

stop_daemon seabox-buildd  # first: it runs its RUN steps through seaboxd
stop_daemon seaboxd

if seaboxd_answers; then
  say "a seaboxd the demo did not start still answers: its network is left in place"
else
  "$REPO/.venv/bin/python" - <<'PY' || status=1
import os
from seabox.errdefs import NotFound, SeaboxError
from seabox.network import iptables
from seabox.network.manager import Networks, Settings

env = os.environ.get
s = Settings(conf_dir=env("SEABOX_DEMO_CNI_CONF_DIR", Settings.conf_dir),
             state_dir=env("SEABOX_DEMO_NETWORK_STATE", Settings.state_dir),
             iptables=env("SEABOX_DEMO_IPTABLES", Settings.iptables))
nets = Networks(s)
try:
    net = nets.get(s.default_network, create_default=False)
    # another seaboxd (say, a test's, with its own state dir) may use the same conf dir and bridge:
    # its containers are not in our state dir, but their veths hang on the bridge
    brif = os.path.join(env("SEABOX_DEMO_SYSFS_NET", "/sys/class/net"), net.bridge, "brif")
    ports = sorted(os.listdir(brif)) if net.bridge and os.path.isdir(brif) else []
    if ports:
        raise SeaboxError(f'network "{net.name}": bridge {net.bridge} still has {", ".join(ports)} attached')
    nets.remove(net.name, allow_default=True)
    print(f"==> network {net.name}: removed (bridge {net.bridge}, {net.subnet})")
except NotFound:
    print(f"==> network {s.default_network}: not there")
except SeaboxError as e:
    print(f"==> left in place: {e}")
chains = iptables.remove_idle_chains(s.admin_chain, binary=s.iptables)
print("==> iptables: " + (f"removed {', '.join(chains)}" if chains else "no idle seabox/CNI chains"))
PY
fi

if [[ -f $HOSTS_TOML ]]; then
  if [[ $(head -n 1 "$HOSTS_TOML") == "$MARK"* ]]; then
    rm -f "$HOSTS_TOML"
    rmdir "$(dirname "$HOSTS_TOML")" 2>/dev/null || true
    say "removed $HOSTS_TOML (written by the demo)"
  else
    say "$HOSTS_TOML was not written by the demo; left alone"
  fi
fi

rmdir "$STATE" 2>/dev/null || true
exit $status
