#!/bin/bash
# The walkthrough behind `make demo`.  It runs only what has landed: each step says
# what it does, and the walkthrough grows as the issues land (daemon, CLI, builder).
set -euo pipefail
cd "$(dirname "$0")/.."
FIX=${SEABOX_FIXTURES:-/var/lib/seabox-fixtures}
say() { printf '\n==> %s\n' "$*"; }

say "the local registries (127.0.0.1 only) and what they serve"
curl -fsS http://127.0.0.1:5000/v2/_catalog; echo
echo "auth registry without a login: HTTP $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:5001/v2/_catalog)"
echo "auth registry as admin:        HTTP $(curl -s -o /dev/null -w '%{http_code}' -u admin:Harbor12345 http://127.0.0.1:5001/v2/_catalog)"

work=$(mktemp -d /tmp/seabox-demo.XXXXXX)
state=$work/state
cid=demo-$$
cleanup() {
  .venv/bin/seabox-runc --root "$state" delete --force "$cid" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "unpack the busybox fixture image into an OCI bundle (umoci, the independent oracle)"
layout=$(.venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["layouts"]["busybox"])' "$FIX/fixtures.json")
umoci unpack --image "$layout" "$work/bundle" >/dev/null
echo "bundle: $work/bundle"

say "run a container from it with seabox-runc (no daemon)"
.venv/bin/python - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
spec = json.load(open(p))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", "echo hello from seabox: $(hostname), uid=$(id -u), pid=$$; ls /"]
spec["hostname"] = "seabox-demo"
json.dump(spec, open(p, "w"))
PY
.venv/bin/seabox-runc --root "$state" run --bundle "$work/bundle" "$cid"
echo "exit status: $?"
