#!/usr/bin/env bash
# Builds the connectors (and, with --tests, the test components) for
# wasm32-wasip2 (and the bundled Rust connectors also for wasm32-wasip1, the
# WasmEdge way), one cargo invocation each so their SDK features never unify,
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

for d in connectors/source-file connectors/dest-file connectors/source-postgres connectors/dest-postgres connectors/source-rest; do
  stage "$d" "$CARGO_TARGET_DIR/rapidbyte-connectors"
done

# The same connectors built the WasmEdge way: wasm32-wasip1 core modules whose
# flat ABI is wit-bindgen's lowering of wit/ (the same guest-sdk, no feature)
# and which connect through WasmEdge's socket extension. Staged as <name>-wasmedge, with
# the manifest's name, runtime and target adjusted.
stage_wasmedge() { # <crate dir> <out dir>
  local dir=$1 pkg out wasm
  pkg=$(basename "$dir")
  out="$2/$pkg-wasmedge"
  wasm="${pkg//-/_}_wasmedge.wasm"
  cargo build --quiet --release --target wasm32-wasip1 \
    --manifest-path "$root/connectors/Cargo.toml" -p "$pkg"
  mkdir -p "$out"
  sed -e "s/^name: $pkg\$/name: $pkg-wasmedge/" -e "s/^\(  entrypoint:\).*/\1 $wasm/" \
    -e 's/^\(  runtime:\).*/\1 wasmedge/' -e 's/^\(  target:\).*/\1 wasm32-wasip1/' \
    "$root/$dir/rapidbyte-plugin.yaml" >"$out/rapidbyte-plugin.yaml"
  cp "$CARGO_TARGET_DIR/wasm32-wasip1/release/${pkg//-/_}.wasm" "$out/$wasm"
  echo "built $pkg (wasip1) -> $out"
}
for d in connectors/source-file connectors/dest-file connectors/source-postgres connectors/dest-postgres; do
  stage_wasmedge "$d" "$CARGO_TARGET_DIR/rapidbyte-connectors"
done

# The same contract in Python and JavaScript (toolchains from install-deps.sh).
tools=${RAPIDBYTE_TOOLS:-$HOME/.cache/rapidbyte-tools}
stage_other() { # <name> <wasm file> <build command...>
  local name=$1 wasm=$2 out="$CARGO_TARGET_DIR/rapidbyte-connectors/$1"
  shift 2
  mkdir -p "$out"
  (cd "$root/connectors/$name" && "$@" -o "$out/$wasm.tmp" >/dev/null)
  mv "$out/$wasm.tmp" "$out/$wasm"
  cp "$root/connectors/$name/rapidbyte-plugin.yaml" "$out/"
  echo "built $name -> $out"
}
stage_other source-sequence-py source_sequence_py.wasm \
  "$tools/py-venv/bin/componentize-py" -d "$root/wit" -w source-connector componentize app
stage_other source-sequence-js source_sequence_js.wasm \
  "$tools/js/node_modules/.bin/componentize-js" app.js --wit "$root/wit" \
  --world-name source-connector --disable http fetch-event
if [ $with_tests = 1 ]; then
  for d in tests/components/*/; do
    stage "${d%/}" "$CARGO_TARGET_DIR/rapidbyte-test-components"
  done
  # The hostile source as a WasmEdge-style module: the shim's limits.
  stage_wasmedge tests/components/hostile "$CARGO_TARGET_DIR/rapidbyte-test-components"
  # The file connectors' core modules again, under the names the test that
  # compares them with the components uses (the same build: cargo has it).
  for pkg in source-file dest-file; do
    out="$CARGO_TARGET_DIR/rapidbyte-test-components/$pkg-witbindgen"
    cargo build --quiet --release --target wasm32-wasip1 \
      --manifest-path "$root/connectors/Cargo.toml" -p "$pkg"
    mkdir -p "$out"
    sed -e "s/^name: $pkg\$/name: $pkg-witbindgen/" \
      -e "s/^\(  entrypoint:\).*/\1 ${pkg//-/_}_witbindgen.wasm/" \
      "$root/connectors/$pkg/rapidbyte-plugin.yaml" >"$out/rapidbyte-plugin.yaml"
    cp "$CARGO_TARGET_DIR/wasm32-wasip1/release/${pkg//-/_}.wasm" "$out/${pkg//-/_}_witbindgen.wasm"
    echo "built $pkg (wasip1, wit-bindgen) -> $out"
  done
  # An unmodified WasmEdge-style TCP client (wasm32-wasip1 core module).
  cargo build --quiet --release --target wasm32-wasip1 \
    --manifest-path "$root/tests/wasip1/tcp-client/Cargo.toml"
  mkdir -p "$CARGO_TARGET_DIR/rapidbyte-test-components/tcp-client"
  cp "$CARGO_TARGET_DIR/wasm32-wasip1/release/tcp_client.wasm" \
    "$CARGO_TARGET_DIR/rapidbyte-test-components/tcp-client/"
  echo "built tcp-client -> $CARGO_TARGET_DIR/rapidbyte-test-components/tcp-client"
fi
