#!/usr/bin/env bash
# source-rest against the same fetch in Python: the local HTTPS fixture
# (tests/fixtures/rest_api.py, a CA made here) serves BENCH_RECORDS issues
# at 100 a page with Link-header pagination and bearer auth;
#   - rapidbyte: `rapidbyte run` of source-rest -> dest-file (Parquet),
#     whole process (start-up, the schema's discover request and the
#     Parquet write included);
#   - python-requests: one requests.Session (keep-alive, the same CA)
#     following the Link headers and parsing every page's JSON, nothing
#     written.
# Rounds interleaved; prints pages/s medians and the ratio.
#
#   bench/rest.sh     # RAPIDBYTE_BIN, RAPIDBYTE_CONNECTOR_PATH; BENCH_RECORDS (50000), BENCH_ROUNDS (3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${RAPIDBYTE_BIN:?set RAPIDBYTE_BIN to the rapidbyte binary}"
records=${BENCH_RECORDS:-50000}
rounds=${BENCH_ROUNDS:-3}
work=$(mktemp -d /tmp/rb-rest.XXXXXX)
venv=${BENCH_REST_VENV:-/tmp/rb-rest-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import requests" 2>/dev/null || "$venv/bin/pip" install -q "requests==2.32.3"

cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
  -out ca.pem -days 2 -subj "/CN=Bench CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
  -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt \
  -days 2 -extfile ext.cnf 2>/dev/null
python3 "$root/tests/fixtures/rest_api.py" --cert server.crt --key server.key --port-file port \
  --records "$records" --bearer bench-token &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
port=$(cat port)
pages=$(( (records + 99) / 100 ))

cat >pipeline.yaml <<YAML
version: "1.0"
pipeline: bench_rest
source:
  use: rapidbyte/source-rest
  config:
    base_url: "https://localhost:$port"
    ca_bundle: $work/ca.pem
    auth: { type: bearer, token: bench-token }
  streams:
    - name: issues
      path: /repos/acme/widgets/issues
      params: { per_page: 100 }
      pagination: { type: link_header }
      schema:
        - { name: id, type: Int64 }
        - { name: title, type: Utf8 }
        - { name: state, type: Utf8 }
        - { name: body, type: Utf8 }
        - { name: updated_at, type: Timestamp }
        - { name: user, type: Json }
        - { name: labels, type: Json }
        - { name: score, type: Float64 }
destination:
  use: rapidbyte/dest-file
  config: { path: out }
  write_mode: replace
YAML
: >rapidbyte.toml
cat >fetch.py <<'PY'
import sys, requests
base, ca = sys.argv[1], sys.argv[2]
s = requests.Session()
s.headers["Authorization"] = "Bearer bench-token"
url, n = f"{base}/repos/acme/widgets/issues?per_page=100", 0
while url:
    r = s.get(url, verify=ca)
    r.raise_for_status()
    n += len(r.json())
    url = r.links.get("next", {}).get("url")
print(n)
PY

export RAPIDBYTE_HOME=${RAPIDBYTE_HOME:-$work/home}
"$RAPIDBYTE_BIN" run pipeline.yaml >warm.log 2>&1 || { cat warm.log; exit 1; }   # warm the AOT cache
: >times.txt
for r in $(seq "$rounds"); do
  /usr/bin/time -f "rapidbyte %e %M" -a -o times.txt "$RAPIDBYTE_BIN" run pipeline.yaml >"run-$r.log" 2>&1
  /usr/bin/time -f "python-requests %e %M" -a -o times.txt "$venv/bin/python" fetch.py \
    "https://localhost:$port" ca.pem >"fetch-$r.log"
  grep -qx "$records" "fetch-$r.log"
done

python3 - "$pages" "$records" "$rounds" times.txt <<'PY'
import statistics, sys
pages, records, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
runs = {}
for line in open(sys.argv[4]):
    tool, secs, rss = line.split()
    runs.setdefault(tool, []).append((float(secs), int(rss) / 1024))
print(f"## REST: {records:,} records, {pages} pages of 100, HTTPS + bearer, median of {rounds}\n")
print("| tool | seconds (each run) | median s | pages/s | records/s | peak RSS MB | x python |")
print("|---|---|---|---|---|---|---|")
py = statistics.median(s for s, _ in runs["python-requests"])
for tool in ["rapidbyte", "python-requests"]:
    rs = runs[tool]
    m = statistics.median(s for s, _ in rs)
    print(f"| {tool} | {', '.join(f'{s:.2f}' for s, _ in rs)} | {m:.2f} | {pages / m:,.0f} | "
          f"{records / m:,.0f} | {max(r for _, r in rs):.0f} | {m / py:.2f} |")
PY
echo "(work files in $work)"
