#!/usr/bin/env bash
# The test command (CI runs exactly this): formatting, lints, the WIT drift
# check, every unit test and the end-to-end tests with real components.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/rapidbyte-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { echo; echo "==> $*"; local t=$SECONDS; "$@"; echo "    ($((SECONDS - t))s)"; }

step cargo fmt --all --check
step cargo fmt --all --check --manifest-path connectors/Cargo.toml
step "$root/scripts/build-connectors.sh" --tests
step cargo clippy --locked --workspace --all-targets -- -D warnings
for pkg in rapidbyte-guest-sdk source-file dest-file source-postgres dest-postgres source-rest hostile flawed; do
  features=""
  [ "$pkg" = rapidbyte-guest-sdk ] && features="--features source"
  step cargo clippy --locked --manifest-path connectors/Cargo.toml --target wasm32-wasip2 -p "$pkg" $features -- -D warnings
done
# The WasmEdge-style builds (wasm32-wasip1, flat ABI): the connector whose
# networking differs there.
step cargo clippy --locked --manifest-path connectors/Cargo.toml --target wasm32-wasip1 -p source-postgres -- -D warnings
step cargo test --locked --workspace --no-fail-fast
step cargo test --locked --manifest-path connectors/Cargo.toml -p rapidbyte-guest-sdk --features source
# Connector unit tests run natively, one package per call (the SDK's world
# feature must not unify across connectors).
for pkg in source-file dest-file source-postgres dest-postgres source-rest; do
  step cargo test --locked --manifest-path connectors/Cargo.toml -p "$pkg"
done
# pg-common has no world of its own: its tests borrow the source's.
step cargo test --locked --manifest-path connectors/Cargo.toml -p pg-common --features rapidbyte-guest-sdk/source
echo; echo "all tests passed"
