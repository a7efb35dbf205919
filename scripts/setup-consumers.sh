#!/usr/bin/env bash
# The real consumers of what Gannet exports, in the project's own virtual environment
# (.venv-consumers, ignored by git): onnx and onnxruntime for `make check-onnx`, tensorboard
# for `make check-tensorboard`; numpy and Pillow for both. Pinned to the versions checked.
set -euo pipefail
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-consumers"
packages="onnx==1.23.2 onnxruntime==1.31.1 tensorboard==2.21.0 numpy pillow"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.packages" 2>/dev/null)" = "$packages" ]; then exit 0; fi
python3 -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/pip" install --quiet --disable-pip-version-check $packages
echo "$packages" > "$venv/.packages"
