#!/usr/bin/env bash
# Foundation benchmarks (see bench/README.md):
#  1. connector load: cold compile vs the AOT cache, and instantiation;
#  2. demo throughput: orders.csv -> Parquet, rapidbyte vs the native floor
#     (arrow-csv + parquet in one process, no sandbox) and two peers
#     (pyarrow and DuckDB from PyPI), interleaved repetitions, medians.
# Settings: BENCH_ROWS (1000000), BENCH_REPEAT (3), BENCH_VENV (/tmp/rb-bench-file-venv),
#           BENCH_SKIP_PEERS=1 to time only rapidbyte and the floor.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"   # cargo reads .cargo/config.toml (wasm rustflags) from here
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/rapidbyte-target}
T=$CARGO_TARGET_DIR
rows=${BENCH_ROWS:-1000000}
repeat=${BENCH_REPEAT:-3}
venv=${BENCH_VENV:-/tmp/rb-bench-file-venv}

"$root/scripts/install-deps.sh"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
cargo build --release --locked -p rapidbyte-cli -p rapidbyte-bench
"$root/scripts/build-connectors.sh" >/dev/null

work=$(mktemp -d /tmp/rb-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$root/scripts/gen-demo-data.sh" "$work/data" "$rows" >/dev/null
rm "$work/data/customers.jsonl"
csv="$work/data/orders.csv"
csv_mb=$(du -m "$csv" | cut -f1)

echo "## Connector load (AOT cache vs cold compile)"
echo
"$T/release/rapidbyte-bench" aot "$T"/rapidbyte-connectors/*/*.wasm
echo

peers=()
if [ "${BENCH_SKIP_PEERS:-0}" != 1 ]; then
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q pyarrow==26.0.1 duckdb
  fi
  peers=(pyarrow duckdb)
fi

mkdir -p "$work/proj" && touch "$work/proj/rapidbyte.toml"
cat > "$work/proj/pipeline.yaml" <<YAML
version: "1.0"
pipeline: bench
source:
  use: rapidbyte/source-file
  config: { path: $work/data }
destination:
  use: rapidbyte/dest-file
  config: { path: $work/out-rapidbyte }
  write_mode: replace
YAML
export RAPIDBYTE_HOME="$work/home" RAPIDBYTE_CONNECTOR_PATH="$T/rapidbyte-connectors"
# Warm the AOT cache so the timing is steady-state, as every run after the first.
"$T/release/rapidbyte" run "$work/proj/pipeline.yaml" >/dev/null 2>&1

run_tool() { # <tool> -> command
  case $1 in
    limit) "$T/release/rapidbyte-bench" native "$csv" "$work/out-limit.parquet" ;;
    rapidbyte) "$T/release/rapidbyte" run "$work/proj/pipeline.yaml" ;;
    pyarrow) "$venv/bin/python" -c "
import pyarrow.csv as c, pyarrow.parquet as p
p.write_table(c.read_csv('$csv'), '$work/out-pyarrow.parquet', compression='snappy')" ;;
    duckdb) "$venv/bin/python" -c "
import duckdb
duckdb.sql(\"COPY (SELECT * FROM read_csv_auto('$csv')) TO '$work/out-duckdb.parquet' (FORMAT parquet, COMPRESSION snappy)\")" ;;
  esac
}

tools=(limit rapidbyte "${peers[@]}")
declare -A secs rss
for r in $(seq "$repeat"); do
  for t in "${tools[@]}"; do
    log="$work/$t-$r.log"
    /usr/bin/time -v -o "$log.time" bash -c "$(declare -f run_tool); csv='$csv' work='$work' T='$T' venv='$venv' run_tool $t" >"$log" 2>&1 \
      || { echo "$t failed:"; cat "$log"; exit 1; }
    s=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); v=0; for(i=1;i<=n;i++) v=v*60+a[i]; print v}' "$log.time")
    m=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log.time")
    secs[$t]="${secs[$t]:-} $s"; rss[$t]="${rss[$t]:-} $m"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "## orders.csv ($rows rows, $csv_mb MB) -> Parquet, median of $repeat"
echo
echo "| tool | seconds | rows/s | MB/s | peak RSS (MB) | vs limit |"
echo "|---|---|---|---|---|---|"
limit_s=$(echo "${secs[limit]}" | median)
for t in "${tools[@]}"; do
  s=$(echo "${secs[$t]}" | median); m=$(echo "${rss[$t]}" | median)
  awk -v t="$t" -v s="$s" -v m="$m" -v n="$rows" -v mb="$csv_mb" -v l="$limit_s" \
    'BEGIN {printf "| %s | %.2f | %d | %.1f | %.0f | %.2fx |\n", t, s, n/s, mb/s, m/1024, s/l}'
done
echo
echo "rapidbyte summary of the last run:"
cat "$work/rapidbyte-$repeat.log" | grep -v '^\s*$' | grep -vE 'INFO|WARN' || true
