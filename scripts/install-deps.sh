#!/usr/bin/env bash
# Installs what building and testing Rapidbyte needs on Debian: a C compiler
# (SQLite is compiled in), clang 14 (ring, for the connectors' TLS, in wasm), PostgreSQL (server binaries for the tests' throwaway
# clusters), the Rust wasm32-wasip2 and wasm32-wasip1 targets, rustfmt and clippy, and the
# component toolchains of the Python and JavaScript connectors
# (componentize-py from PyPI, componentize-js from npm) under
# $RAPIDBYTE_TOOLS (default ~/.cache/rapidbyte-tools).
# Idempotent and quick when everything is present.
set -euo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v curl >/dev/null || missing+=(curl ca-certificates)
# The TLS tests generate their certificate authorities with openssl.
command -v openssl >/dev/null || missing+=(openssl)
# The Postgres tests start throwaway clusters with Debian's server binaries.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
# The Postgres connectors' TLS (rustls on ring) compiles C and assembly for
# wasm32-wasip1/-wasip2; Debian's clang 14 targets wasm.
command -v clang-14 >/dev/null || missing+=(clang-14)
command -v llvm-ar-14 >/dev/null || missing+=(llvm-14)
# The Python and JavaScript connectors' build tools.
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
fi

# componentize-py and componentize-js, pinned by the connectors' own files.
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${RAPIDBYTE_TOOLS:-$HOME/.cache/rapidbyte-tools}
mkdir -p "$tools"
req="$root/connectors/source-sequence-py/requirements.txt"
if ! cmp -s "$req" "$tools/py-venv/requirements.txt" 2>/dev/null; then
  echo "installing componentize-py into $tools/py-venv"
  python3 -m venv "$tools/py-venv"
  "$tools/py-venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$tools/py-venv/requirements.txt"
fi
lock="$root/connectors/source-sequence-js/package-lock.json"
if ! cmp -s "$lock" "$tools/js/package-lock.json" 2>/dev/null; then
  echo "installing componentize-js into $tools/js"
  mkdir -p "$tools/js"
  cp "$root/connectors/source-sequence-js/package.json" "$lock" "$tools/js/"
  (cd "$tools/js" && npm ci --no-audit --no-fund --loglevel=error)
fi
