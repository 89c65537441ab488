#!/usr/bin/env bash
# pg -> pg over TLS against the same run in plaintext, interleaved in one
# run through the shared harness (../shared/bench, set up with its
# setup.sh and data.sh): `limit`, rapidbyte with `sslmode: disable`,
# rapidbyte with `sslmode: require` (TLS 1.3, rustls on ring inside the
# connectors), each round.
#
#   bench/tls.sh            # RAPIDBYTE_BIN and RAPIDBYTE_CONNECTOR_PATH as for run.sh
#
# Turns `ssl = on` on in the harness's cluster (a self-signed certificate
# in its data directory) for the run and turns it off again on exit: with
# `ssl = on`, clients at the default `sslmode: prefer` (psql's and ours) use
# TLS, which would skew every other harness run. BENCH_ROUNDS (3). Prints medians and TLS / plain ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${BENCH_SHARED:-$root/../shared/bench}
# shellcheck source=/dev/null
. "$shared/common.sh"
rounds=${BENCH_ROUNDS:-3}
: "${RAPIDBYTE_BIN:?set RAPIDBYTE_BIN to the rapidbyte binary}"
work=$(mktemp -d /tmp/rb-tls.XXXXXX)

data="$BENCH_PG_CLUSTER"
if [ ! -f "$data/server.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$data/server.key" -out "$data/server.crt" -days 30 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  chown "$BENCH_PG_OSUSER" "$data/server.key" "$data/server.crt"
  chmod 600 "$data/server.key"
fi
ssl_off() {
  psql -q -d postgres -c "ALTER SYSTEM RESET ssl" -c "SELECT pg_reload_conf()" >/dev/null || true
}
trap ssl_off EXIT
psql -q -d postgres -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
psql -d "host=127.0.0.1 port=$BENCH_PGPORT dbname=postgres user=postgres sslmode=require" \
  -Atc "SELECT 'server TLS: ' || version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

template=$shared/rapidbyte/pipeline.yaml.tmpl
for mode in disable require; do
  sed "s/^\(    database: \(src\|dst\)\)$/\1\n    sslmode: $mode/" "$template" >"$work/$mode.yaml.tmpl"
  grep -q "sslmode: $mode" "$work/$mode.yaml.tmpl"
done

export RAPIDBYTE_HOME=${RAPIDBYTE_HOME:-$work/home}
RAPIDBYTE_PIPELINE="$work/disable.yaml.tmpl" BENCH_OUT="$work/warm.csv" BENCH_REPEAT=1 \
  "$shared/run.sh" rapidbyte >/dev/null
for r in $(seq "$rounds"); do
  BENCH_OUT="$work/limit-$r.csv" BENCH_REPEAT=1 "$shared/run.sh" limit >/dev/null
  for mode in disable require; do
    RAPIDBYTE_PIPELINE="$work/$mode.yaml.tmpl" BENCH_OUT="$work/$mode-$r.csv" BENCH_REPEAT=1 \
      "$shared/run.sh" rapidbyte >/dev/null
  done
done

python3 - "$work" "$rounds" <<'PY'
import csv, statistics, sys
from pathlib import Path
work, rounds = Path(sys.argv[1]), int(sys.argv[2])
med = statistics.median
runs = {}
for kind in ["limit", "disable", "require"]:
    for r in range(1, rounds + 1):
        path = work / f"{kind}-{r}.csv"
        for row in csv.DictReader(path.open()) if path.exists() else []:
            if row.get("seconds"):
                runs.setdefault((row["table"], kind), []).append(
                    (float(row["seconds"]), row.get("cpu_s", ""), row.get("exact_match", "")))
label = {"limit": "limit", "disable": "rapidbyte plaintext", "require": "rapidbyte TLS (require)"}
print(f"## pg -> pg, TLS against plaintext, median of {rounds}\n")
print("| table | run | seconds (each run) | median s | x limit | CPU s | exact | TLS / plain |")
print("|---|---|---|---|---|---|---|---|")
for table in sorted({t for t, _ in runs}):
    lim = med(s for s, _, _ in runs[(table, "limit")])
    plain = med(s for s, _, _ in runs[(table, "disable")])
    for kind in ["limit", "disable", "require"]:
        rs = runs.get((table, kind), [])
        if not rs:
            continue
        m = med(s for s, _, _ in rs)
        ratio = f"{m / plain:.2f}" if kind == "require" else ""
        cpu = med(float(c) for _, c, _ in rs if c) if any(c for _, c, _ in rs) else float("nan")
        exact = ",".join(sorted({e for _, _, e in rs}))
        print(f"| {table} | {label[kind]} | {', '.join(f'{s:.2f}' for s, _, _ in rs)} | {m:.2f} | "
              f"{m / lim:.2f} | {cpu:.2f} | {exact} | {ratio} |")
print(f"\n(work files in {work})")
PY
