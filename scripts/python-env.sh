#!/usr/bin/env bash
# The Python environment of the training recipes (python/): a venv with torch, transformers, TRL,
# datasets and accelerate from PyPI (python/requirements.txt; torch brings its CUDA libraries, about
# 5 GB, and runs on CPU without a GPU). Kept in $UGST_PY_ENV (default ~/.cache/ugst/py-recipes)
# so clones share it; re-running installs only what changed. Prints the venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

env_dir="${UGST_PY_ENV:-${UGST_HOME:-$HOME/.cache/ugst}/py-recipes}"
stamp="$env_dir/.requirements"
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  echo "installing python3-venv" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$env_dir/bin/python" ]; then
  echo "creating the recipes' Python environment in $env_dir" >&2
  python3 -m venv "$env_dir"
fi
if ! cmp -s python/requirements.txt "$stamp"; then
  echo "installing python/requirements.txt into $env_dir (torch, TRL; several GB the first time) …" >&2
  "$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements.txt >&2
  cp python/requirements.txt "$stamp"
fi
echo "$env_dir/bin/python"
