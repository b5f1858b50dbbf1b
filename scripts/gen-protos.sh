#!/bin/bash
# Regenerate the Python code for seabox's .proto files.
#
#   proto/seabox/api/gen/**/*.proto  ->  src/seabox/api/gen/**/*_pb2.py, *_pb2.pyi, *_pb2_grpc.py
#
# The sources import each other as "seabox/api/gen/...", so the generated modules import
# each other as seabox.api.gen.... Every directory gets an __init__.py. Usage:
#   scripts/gen-protos.sh [OUT_DIR]     (default: src; tests regenerate into a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-src}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
mapfile -t protos < <(cd proto && find seabox/api/gen -name '*.proto' | LC_ALL=C sort)
if [[ $out == src ]]; then
  find src/seabox/api/gen -name '*_pb2*.py*' -delete 2>/dev/null || true
fi
"$py" -m grpc_tools.protoc -I proto --python_out="$out" --grpc_python_out="$out" --pyi_out="$out" "${protos[@]}"
# every generated directory is a package
find "$out/seabox/api/gen" -type d | while read -r dir; do
  [[ -f $dir/__init__.py ]] || : > "$dir/__init__.py"
done
# grpc_tools writes a _pb2_grpc.py even for files without services; drop the empty ones
for f in $(find "$out/seabox/api/gen" -name '*_pb2_grpc.py'); do
  grep -q '^class ' "$f" || rm -f "$f"
done
