#!/usr/bin/env bash
# Two rapidbyte builds side by side, interleaved in one run (A B A B ...):
#   1. orders.csv -> Parquet (source-file -> dest-file, full refresh), wall
#      seconds and peak RSS under /usr/bin/time;
#   2. pg -> pg through the shared harness (../shared/bench, set up with its
#      setup.sh and data.sh), with `limit` (the binary COPY pipe) each round.
# Each build is a `rapidbyte` binary and a directory of staged connectors
# (source-file, dest-file, source-postgres, dest-postgres).
#
#   bench/compare.sh <A bin> <A connectors> <B bin> <B connectors>
#
# BENCH_ROUNDS (3), BENCH_ROWS (1000000), BENCH_SKIP_PG=1 (files only).
# Prints medians and B / A ratios. The machine is noisy: compare the ratios
# of one run, not absolute figures across runs.
set -euo pipefail
[ $# = 4 ] || { sed -n 2,13p "$0"; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${BENCH_SHARED:-$root/../shared/bench}
rounds=${BENCH_ROUNDS:-3}
rows=${BENCH_ROWS:-1000000}
work=$(mktemp -d /tmp/rb-compare.XXXXXX)
declare -A bin=([A]=$1 [B]=$3) conn=([A]=$2 [B]=$4)

"$root/scripts/gen-demo-data.sh" "$work/data" "$rows" >/dev/null
cat >"$work/files.yaml" <<EOF
version: "1.0"
pipeline: compare_files
source:
  use: rapidbyte/source-file
  config: { path: $work/data }
destination:
  use: rapidbyte/dest-file
  config: { path: OUT }
  write_mode: replace
EOF

run_files() { # <build> <round> -> "seconds rss_kb"
  local b=$1 r=$2 dir="$work/files-$1-$2"
  mkdir -p "$dir"
  sed "s#OUT#$dir/out#" "$work/files.yaml" >"$dir/p.yaml"
  : >"$dir/rapidbyte.toml"
  (cd "$dir" && RAPIDBYTE_HOME="$work/home-$b" RAPIDBYTE_CONNECTOR_PATH="${conn[$b]}" \
    /usr/bin/time -f "%e %M" -o "$dir/time" "${bin[$b]}" run p.yaml >"$dir/log" 2>&1)
  cat "$dir/time"
}

# Warm each build's AOT cache once.
for b in A B; do run_files "$b" warm >/dev/null; done
for r in $(seq "$rounds"); do
  for b in A B; do echo "files $b $r $(run_files "$b" "$r")" >>"$work/files.txt"; done
done

if [ "${BENCH_SKIP_PG:-0}" != 1 ]; then
  for b in A B; do # warm the AOT caches
    RAPIDBYTE_BIN=${bin[$b]} RAPIDBYTE_CONNECTOR_PATH=${conn[$b]} RAPIDBYTE_HOME="$work/home-$b" \
      BENCH_OUT="$work/warm-$b.csv" BENCH_REPEAT=1 "$shared/run.sh" rapidbyte >/dev/null
  done
  for r in $(seq "$rounds"); do
    BENCH_OUT="$work/pg-limit-$r.csv" BENCH_REPEAT=1 "$shared/run.sh" limit >/dev/null
    for b in A B; do
      RAPIDBYTE_BIN=${bin[$b]} RAPIDBYTE_CONNECTOR_PATH=${conn[$b]} RAPIDBYTE_HOME="$work/home-$b" \
        BENCH_OUT="$work/pg-$b-$r.csv" BENCH_REPEAT=1 "$shared/run.sh" rapidbyte >/dev/null
    done
  done
fi

python3 - "$work" "$rounds" "$rows" <<'EOF'
import csv, statistics, sys
from pathlib import Path
work, rounds, rows = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
med = statistics.median
files = {"A": [], "B": []}
for line in (work / "files.txt").read_text().split("\n"):
    if line:
        _, b, _, secs, rss = line.split()
        files[b].append((float(secs), int(rss) / 1024))
print(f"## orders.csv ({rows:,} rows) -> Parquet, median of {rounds}\n")
print("| build | seconds (each run) | median s | rows/s | peak RSS MB | B / A |")
print("|---|---|---|---|---|---|")
ma = med(s for s, _ in files["A"])
for b in "AB":
    runs = [s for s, _ in files[b]]
    m = med(runs)
    ratio = "" if b == "A" else f"{m / ma:.2f}"
    print(f"| {b} | {', '.join(f'{s:.2f}' for s in runs)} | {m:.2f} | {rows / m:,.0f} | "
          f"{med(r for _, r in files[b]):.0f} | {ratio} |")
pg = {}
for b in ["limit", "A", "B"]:
    for r in range(1, rounds + 1):
        name = "pg-limit" if b == "limit" else f"pg-{b}"
        path = work / f"{name}-{r}.csv"
        if not path.exists():
            continue
        for row in csv.DictReader(path.open()):
            if row.get("seconds"):
                pg.setdefault((row["table"], b), []).append(
                    (float(row["seconds"]), row.get("peak_rss_mb", ""), row.get("exact_match", ""),
                     float(row.get("cpu_s") or "nan")))
if pg:
    print(f"\n## pg -> pg (shared harness), median of {rounds}\n")
    print("| table | build | seconds (each run) | median s | x limit | CPU s (median) | CPU x limit "
          "| peak RSS MB | exact | B / A time | B / A CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    nan = float("nan")
    for table in sorted({t for t, _ in pg}):
        lim = med(x[0] for x in pg.get((table, "limit"), [(nan, "", "", nan)]))
        lim_cpu = med(x[3] for x in pg.get((table, "limit"), [(nan, "", "", nan)]))
        a = med(x[0] for x in pg[(table, "A")])
        a_cpu = med(x[3] for x in pg[(table, "A")])
        for b in ["limit", "A", "B"]:
            runs = pg.get((table, b), [])
            if not runs:
                continue
            m = med(x[0] for x in runs)
            cpu = med(x[3] for x in runs)
            ratio = f"{m / a:.2f}" if b == "B" else ""
            cpu_ratio = f"{cpu / a_cpu:.2f}" if b == "B" else ""
            rss = runs[-1][1]
            exact = ",".join(sorted({x[2] for x in runs}))
            print(f"| {table} | {b} | {', '.join(f'{x[0]:.2f}' for x in runs)} | {m:.2f} | "
                  f"{m / lim:.2f} | {cpu:.2f} | {cpu / lim_cpu:.2f} | {rss} | {exact} | {ratio} | {cpu_ratio} |")
print(f"\n(work files in {work})")
EOF
