#!/usr/bin/env bash
# Set up and run: from a fresh Debian machine, installs what is needed,
# builds the `rapidbyte` binary and the bundled connectors (release),
# installs them, generates the demo dataset and runs the demo pipeline
# (CSV + JSONL files -> Parquet in the local cache, SQLite state).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/rapidbyte-target}
home=${RAPIDBYTE_HOME:-$HOME/.rapidbyte}

echo "==> building rapidbyte (release; the first build takes a while)"
cargo build --release --locked -p rapidbyte-cli
echo "==> building connectors"
"$root/scripts/build-connectors.sh"

echo "==> installing into $home and ~/.cargo/bin"
mkdir -p "$home/plugins" "$HOME/.cargo/bin"
for dir in "$CARGO_TARGET_DIR"/rapidbyte-connectors/*/; do
  name=$(basename "$dir")
  rm -rf "$home/plugins/$name"
  cp -r "$dir" "$home/plugins/$name"
done
install -m 755 "$CARGO_TARGET_DIR/release/rapidbyte" "$HOME/.cargo/bin/rapidbyte"

echo "==> demo"
"$root/scripts/gen-demo-data.sh" "$root/examples/demo/data"
cd "$root/examples/demo"
RAPIDBYTE_HOME="$home" "$HOME/.cargo/bin/rapidbyte" run pipeline.yaml
echo
echo "Output: $root/examples/demo/.rapidbyte/cache/demo/*.parquet"
echo "Run it again (incremental: 0 new rows): cd examples/demo && rapidbyte run pipeline.yaml"
