#!/usr/bin/env bash
# Builds the connectors (and, with --tests, the test components) for
# wasm32-wasip2, one cargo invocation each so their SDK features never unify,
# and stages each as <dir>/<name>/{rapidbyte-plugin.yaml,<name>.wasm}:
#   connectors      -> $CARGO_TARGET_DIR/rapidbyte-connectors/
#   test components -> $CARGO_TARGET_DIR/rapidbyte-test-components/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"   # cargo reads .cargo/config.toml (wasm rustflags) from here
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

stage() { # <crate dir> <out dir>
  local dir=$1 out=$2 pkg
  pkg=$(basename "$dir")
  cargo build --quiet --release --target wasm32-wasip2 \
    --manifest-path "$root/connectors/Cargo.toml" -p "$pkg"
  mkdir -p "$out/$pkg"
  cp "$root/$dir/rapidbyte-plugin.yaml" "$out/$pkg/"
  cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/${pkg//-/_}.wasm" "$out/$pkg/"
  echo "built $pkg -> $out/$pkg"
}

for d in connectors/source-file connectors/dest-file connectors/source-postgres connectors/dest-postgres; do
  stage "$d" "$CARGO_TARGET_DIR/rapidbyte-connectors"
done
if [ $with_tests = 1 ]; then
  for d in tests/components/*/; do
    stage "${d%/}" "$CARGO_TARGET_DIR/rapidbyte-test-components"
  done
fi
