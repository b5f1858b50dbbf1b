#!/bin/bash
# Idempotent machine set-up for a fresh Debian 12 host, run as root:
# apt packages that are missing, then a venv (.venv) with seabox and its dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

APT_PACKAGES=(
  # build and venv
  python3 python3-venv python3-dev gcc make binutils openssl
  # kernel-facing libraries seabox loads with ctypes
  libseccomp2 libseccomp-dev
  # fixtures: registries and independent image tools (the oracle)
  docker-registry apache2-utils umoci skopeo busybox-static debootstrap zstd curl ca-certificates
  # networking peers
  containernetworking-plugins iptables iproute2
  # --init: a static init for containers
  tini
  # comparison anchors and interop peers
  runc crun containerd docker.io hyperfine golang-go golang-github-docker-spdystream-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  say "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # docker.io and containerd must not start services of their own during install
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
else
  say "apt: all ${#APT_PACKAGES[@]} packages present"
fi

PY=/usr/bin/python3
if [[ ! -x .venv/bin/python ]]; then
  say "venv: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.seabox-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat $stamp)" != "$want" ]]; then
  say "venv: pip install -e .[dev]"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > $stamp
else
  say "venv: up to date"
fi

# Byte-compile seabox: shells here may set PYTHONDONTWRITEBYTECODE=1, and a command that
# recompiles its modules on every start is what users would otherwise pay.
.venv/bin/python -m compileall -q src/seabox

# seabox-runc starts for every container command (create, start, delete, ...): replace pip's
# console script with a lean launcher.  `-IS` skips site (the venv's .pth files and the
# editable-install finder) and PYTHON* variables; the runtime needs only the stdlib, so the
# launcher puts the directory holding the seabox package on sys.path itself, and starts with
# the cycle collector off.
pkg_parent=$(.venv/bin/python -c 'import os, seabox; print(os.path.dirname(os.path.dirname(os.path.abspath(seabox.__file__))))')
cat > .venv/bin/seabox-runc.tmp <<LAUNCHER
#!$(pwd)/.venv/bin/python3 -IS
import gc
gc.disable()  # short-lived: no cycle collection during the imports (seabox-runc re-enables it for long commands)
import sys
sys.path.insert(0, "$pkg_parent")
from seabox.cli.runc import main
sys.exit(main())
LAUNCHER
chmod 755 .venv/bin/seabox-runc.tmp
mv .venv/bin/seabox-runc.tmp .venv/bin/seabox-runc
say "venv: lean seabox-runc launcher, byte-compiled src/seabox"

# seabox (the everyday CLI) and seabox-ctr start for every command a user types: the same lean
# launcher.  They may import third-party packages (seabox-ctr: grpc), so site-packages goes at
# the end of sys.path as a plain directory (its .pth files and the editable finder stay unused).
site_dir=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for pair in seabox:seabox.cli.seabox seabox-ctr:seabox.cli.ctr; do
  script=${pair%%:*} module=${pair#*:}
  cat > ".venv/bin/$script.tmp" <<LAUNCHER
#!$(pwd)/.venv/bin/python3 -IS
import sys
sys.path.insert(0, "$pkg_parent")
sys.path.append("$site_dir")
from $module import main
sys.exit(main())
LAUNCHER
  chmod 755 ".venv/bin/$script.tmp"
  mv ".venv/bin/$script.tmp" ".venv/bin/$script"
done
say "venv: lean seabox and seabox-ctr launchers"
