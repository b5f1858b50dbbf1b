#!/bin/bash
# The walkthrough behind `make demo`: what a user does on day one, with seabox in place of
# docker/nerdctl.  This machine has no internet, so docker.io is mirrored by the local open
# registry (127.0.0.1:5000) and "Harbor" is the local auth registry (127.0.0.1:5001).
#
# It starts seaboxd and seabox-buildd on their default paths if they are not running and
# leaves them running afterwards; `make demo-stop` (scripts/demo-stop.sh) stops the ones it
# started and removes what it created.  What to undo is recorded in $SEABOX_DEMO_STATE
# (default /var/lib/seabox-demo): the daemons' pids and whether it pulled nginx:1.26; the
# docker.io hosts.toml it writes carries its own marker line.  The demo's own containers and
# images are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
FIX=${SEABOX_FIXTURES:-/var/lib/seabox-fixtures}
LOGDIR=/var/log/seabox
PORT=${SEABOX_DEMO_PORT:-8888}
STATE=${SEABOX_DEMO_STATE:-/var/lib/seabox-demo}
HOSTS_TOML=${SEABOX_DEMO_HOSTS_TOML:-/etc/seabox/certs.d/docker.io/hosts.toml}
MARK="# written by seabox's \`make demo\`"  # demo-stop.sh removes hosts.toml only if it starts with this line
mkdir -p "$STATE"
say() { printf '\n==> %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "the local registries (127.0.0.1 only) and what they serve"
curl -fsS http://127.0.0.1:5000/v2/_catalog | python3 -c 'import json,sys; print("open registry:", [r for r in json.load(sys.stdin)["repositories"] if r.startswith("library/")])'
echo "auth registry without a login: HTTP $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:5001/v2/_catalog)"

say "seabox-runc on its own: unpack the busybox fixture with umoci (the oracle) and run it, no daemon"
work=$(mktemp -d /tmp/seabox-demo.XXXXXX)
cid=demo-$$
cleanup_runc() { seabox-runc --root "$work/state" delete --force "$cid" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup_runc EXIT
layout=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layouts"]["busybox"])' "$FIX/fixtures.json")
umoci unpack --image "$layout:amd64" "$work/bundle" >/dev/null
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
spec = json.load(open(p))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", "echo hello from seabox-runc: host=$(hostname) uid=$(id -u) pid=$$"]
spec["hostname"] = "seabox-demo"
json.dump(spec, open(p, "w"))
PY
run seabox-runc --root "$work/state" run --bundle "$work/bundle" "$cid"
cleanup_runc
trap - EXIT

say "docker.io mirrored by the local registry ($HOSTS_TOML)"
if [[ ! -e $HOSTS_TOML ]]; then
  mkdir -p "$(dirname "$HOSTS_TOML")"
  { echo "$MARK: this machine has no internet, the local registry mirrors docker.io"; cat <<'EOF'; } > "$HOSTS_TOML"
server = "https://registry-1.docker.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
EOF
fi
cat "$HOSTS_TOML"

mkdir -p "$LOGDIR"
say "seaboxd (log: $LOGDIR/seaboxd.log)"
if seabox info >/dev/null 2>&1; then
  echo "seaboxd is already running"
else
  setsid seaboxd >>"$LOGDIR/seaboxd.log" 2>&1 < /dev/null &
  echo $! > "$STATE/seaboxd.pid"  # setsid execs in place (not a group leader here): $! is seaboxd
  for _ in $(seq 100); do seabox info >/dev/null 2>&1 && break; sleep 0.1; done
  seabox info >/dev/null || { echo "seaboxd did not start; see $LOGDIR/seaboxd.log" >&2; exit 1; }
  echo "seaboxd started (pid $(<"$STATE/seaboxd.pid"))"
fi
say "seabox-buildd (log: $LOGDIR/buildd.log)"
if [[ -S /run/seabox/buildd.sock ]] && seabox-buildctl du >/dev/null 2>&1; then
  echo "seabox-buildd is already running"
else
  setsid seabox-buildd >>"$LOGDIR/buildd.log" 2>&1 < /dev/null &
  echo $! > "$STATE/seabox-buildd.pid"
  for _ in $(seq 100); do seabox-buildctl du >/dev/null 2>&1 && break; sleep 0.1; done
  echo "seabox-buildd started"
fi

cleanup() {
  seabox rm -f demo-web >/dev/null 2>&1 || true
  seabox rmi 127.0.0.1:5001/app/nginx:1.26 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "pull, run with a published port, curl it"
seabox image inspect nginx:1.26 >/dev/null 2>&1 || touch "$STATE/pulled-nginx"
run seabox pull nginx:1.26
run seabox images
run seabox run -d --name demo-web -p "$PORT:80" nginx:1.26
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
printf '$ curl -s http://127.0.0.1:%s/ | grep title\n' "$PORT"
curl -s "http://127.0.0.1:$PORT/" | grep -i '<title>'
run seabox ps
run seabox exec demo-web nginx -v
run seabox logs demo-web

say "build an image, log in to the private registry, push, pull it back and run it"
mkdir -p "$work/app"
cat > "$work/app/Dockerfile" <<'EOF'
FROM nginx:1.26
COPY index.html /var/www/html/index.html
RUN echo built-by-seabox > /etc/seabox-demo
EOF
echo '<h1>hello from a seabox build</h1>' > "$work/app/index.html"
run seabox build -t 127.0.0.1:5001/app/nginx:1.26 "$work/app"
run seabox login 127.0.0.1:5001 -u admin -p Harbor12345
run seabox push 127.0.0.1:5001/app/nginx:1.26
run seabox rmi 127.0.0.1:5001/app/nginx:1.26
run seabox run --rm 127.0.0.1:5001/app/nginx:1.26 cat /etc/seabox-demo

say "clean up"
run seabox rm -f demo-web
run seabox logout 127.0.0.1:5001
echo "seaboxd and seabox-buildd are still running; seabox ps -a shows what is left; \`make demo-stop\` stops them"
