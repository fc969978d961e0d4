#!/usr/bin/env bash
# Installs the system packages ugst needs to build and run: cmake and libclang (llama.cpp and its
# Rust bindings are built from source), and pip (the embedded model is downloaded from PyPI).
# With --browser it also installs Chromium, which the report test opens headless.
# Safe to re-run: it installs only what is missing.
set -euo pipefail

missing=()
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
    missing+=(chromium)
fi
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q "ok installed" || missing+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs and run this again" >&2
  exit 1
fi
