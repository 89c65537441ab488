#!/usr/bin/env bash
# Instructions per row of the pg -> pg path, split by stage: a deterministic
# measure (valgrind's callgrind counts user-space instructions, whatever
# else the machine is doing) to compare builds without the noise of
# wall-clock runs. Uses the shared harness's cluster (../shared/bench:
# setup.sh, data.sh) and copies BENCH_IC_ROWS rows of each harness table
# into schema `ic` of database `src` (once; `BENCH_IC_RELOAD=1` redoes it).
#
#   bench/instructions.sh    # RAPIDBYTE_BIN, RAPIDBYTE_CONNECTOR_PATH as for run.sh
#
# Per table it runs, each under callgrind:
#   - `limit`: psql's binary COPY out piped into psql's binary COPY in (both
#     client processes counted);
#   - `rapidbyte run` of the harness's pipeline template, full refresh into
#     `dst.bench_ic`, AOT cache warmed first (the start-up that remains is
#     in the `host` column), and the same run over an empty copy of the
#     table: its counts (start-up, catalog queries, instantiation) are
#     subtracted, so the figures are per row of data.
# With --separate-threads=yes every thread gets its own count. The thread
# whose guest calls the `emit-batch` host function is the source stage, the
# one calling `next-batch` is the destination stage; in those two threads,
# code of the rapidbyte binary (wasmtime, WASI, the host functions) counts
# as host and the rest (compiled connector code, the libc memcpy/memset it
# calls) as the stage. Every other thread is host. Kernel time is not
# counted by callgrind.
#
# Settings: BENCH_IC_ROWS (100000), BENCH_IC_TABLES (pgbench_accounts events),
# BENCH_IC_KEEP=1 keeps the callgrind files (printed path).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${BENCH_SHARED:-$root/../shared/bench}
# shellcheck source=/dev/null
. "$shared/common.sh"
: "${RAPIDBYTE_BIN:?set RAPIDBYTE_BIN to the rapidbyte binary}"
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 69; }
rows=${BENCH_IC_ROWS:-100000}
tables=${BENCH_IC_TABLES:-pgbench_accounts events}
work=$(mktemp -d /tmp/rb-ic.XXXXXX)
export RAPIDBYTE_HOME=${RAPIDBYTE_HOME:-$work/home}

bench_psql src -c "CREATE SCHEMA IF NOT EXISTS ic"
bench_psql dst -c "CREATE SCHEMA IF NOT EXISTS bench_ic"
for t in $tables; do
  have=$(bench_psql src -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'ic' AND tablename = '$t'")
  if [ "$have" = 0 ] || [ "${BENCH_IC_RELOAD:-0}" = 1 ]; then
    bench_psql src -c "DROP TABLE IF EXISTS ic.$t" \
      -c "CREATE TABLE ic.$t (LIKE public.$t INCLUDING ALL)" \
      -c "INSERT INTO ic.$t SELECT * FROM public.$t ORDER BY 1 LIMIT $rows" \
      -c "VACUUM ANALYZE ic.$t" \
      -c "DROP TABLE IF EXISTS ic.${t}_empty" \
      -c "CREATE TABLE ic.${t}_empty (LIKE public.$t INCLUDING ALL)"
  fi
  got=$(bench_psql src -Atc "SELECT count(*) FROM ic.$t")
  [ "$got" = "$rows" ] || { echo "instructions.sh: ic.$t holds $got rows, not $rows (BENCH_IC_RELOAD=1)" >&2; exit 1; }
  for v in "$t" "${t}_empty"; do
    sed -e "s/@TABLE@/$v/g; s/@SCHEMA@/bench_ic/g; s/@PGPORT@/$BENCH_PGPORT/g; s#@WORKDIR@#$work#g" \
      -e "s/^    schema: public$/    schema: ic/" "$shared/rapidbyte/pipeline.yaml.tmpl" >"$work/$v.yaml"
    grep -q "schema: ic" "$work/$v.yaml"
  done
done

first=${tables%% *}
"$RAPIDBYTE_BIN" run "$work/$first.yaml" >/dev/null 2>&1   # warm the AOT cache

cg() { # cg OUTPREFIX CMD...
  local out="$1"; shift
  valgrind --tool=callgrind --separate-threads=yes --trace-children=yes \
    --callgrind-out-file="$out.%p" "$@"
}
for t in $tables; do
  # The limit's table: the source's column names, types and NOT NULLs, no
  # indexes (as the shared harness makes it).
  ddl=$(bench_psql src -Atc "SELECT string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod) \
      || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END, ', ' ORDER BY attnum) \
    FROM pg_attribute WHERE attrelid = 'ic.$t'::regclass AND attnum > 0 AND NOT attisdropped")
  bench_psql dst -c "DROP TABLE IF EXISTS bench_ic.${t}_limit" -c "CREATE TABLE bench_ic.${t}_limit ($ddl)"
  mkdir -p "$work/cg-limit-$t" "$work/cg-rapidbyte-$t"
  cg "$work/cg-limit-$t/out" "$BENCH_PGBIN/psql" -X -q -d src \
    -c "COPY ic.$t TO STDOUT (FORMAT binary)" 2>"$work/limit-$t.vg" \
    | cg "$work/cg-limit-$t/in" "$BENCH_PGBIN/psql" -X -q -d dst \
      -c "COPY bench_ic.${t}_limit FROM STDIN (FORMAT binary)" 2>>"$work/limit-$t.vg"
  for v in "$t" "${t}_empty"; do
    mkdir -p "$work/cg-rapidbyte-$v"
    cg "$work/cg-rapidbyte-$v/rb" "$RAPIDBYTE_BIN" run "$work/$v.yaml" >"$work/rapidbyte-$v.log" 2>"$work/rapidbyte-$v.vg" \
      || { cat "$work/rapidbyte-$v.log" "$work/rapidbyte-$v.vg" >&2; exit 1; }
  done
done

python3 - "$work" "$rows" "$RAPIDBYTE_BIN" $tables <<'PY'
import re, subprocess, sys
from pathlib import Path

work, rows, binary, tables = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
line = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(.*) \[(.*)\]\s*$")

def functions(path):
    """(instructions, function, object) per function, self cost."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", str(path)],
                         capture_output=True, text=True, check=True).stdout
    for l in out.splitlines():
        m = line.match(l)
        if m:
            yield int(m.group(1).replace(",", "")), m.group(2), m.group(3)

def split(folder):
    stages = {"source": 0, "host": 0, "destination": 0}
    for f in sorted(p for p in folder.iterdir() if p.stat().st_size):
        text = f.read_text(errors="replace")
        if "::emit_batch" in text:
            stage = "source"
        elif "::next_batch" in text:
            stage = "destination"
        else:
            stage = "host"
        for n, _fn, obj in functions(f):
            own = stage != "host" and Path(obj) != Path(binary)
            stages[stage if own else "host"] += n
    return stages

def total(folder):
    return sum(n for f in folder.iterdir() if f.stat().st_size for n, _, _ in functions(f))

print(f"\nInstructions per row (callgrind, user space), {rows:,} rows per table;"
      " rapidbyte's start-up (a run over an empty copy) subtracted\n")
print("| table | limit (psql pipe) | rapidbyte total | source stage | host | destination stage | total / limit |")
print("|---|---|---|---|---|---|---|")
for t in tables:
    limit = total(work / f"cg-limit-{t}")
    full, empty = split(work / f"cg-rapidbyte-{t}"), split(work / f"cg-rapidbyte-{t}_empty")
    s = {k: full[k] - empty[k] for k in full}
    tot = sum(s.values())
    print(f"| {t} | {limit / rows:,.0f} | {tot / rows:,.0f} | {s['source'] / rows:,.0f} | "
          f"{s['host'] / rows:,.0f} | {s['destination'] / rows:,.0f} | {tot / limit:.2f} |")
PY
if [ "${BENCH_IC_KEEP:-0}" = 1 ]; then echo "callgrind files: $work"; else rm -rf "$work"; fi
