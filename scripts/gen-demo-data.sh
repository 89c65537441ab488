#!/usr/bin/env bash
# Writes the demo dataset deterministically (same bytes every time):
#   <dir>/orders.csv       100,000 rows: int, text (with quotes, commas and
#                          unicode), decimal, int, bool, date, timestamp
#   <dir>/customers.jsonl   10,000 rows: int, text, nested-free JSON, float, bool
set -euo pipefail
dir=${1:?usage: gen-demo-data.sh <dir> [orders rows]}
rows=${2:-100000}
mkdir -p "$dir"
awk -v n="$rows" 'BEGIN {
  srand(42);
  split("Ada Lovelace|Grace Hopper|Alan Turing|Zoë Ångström|José Núñez|李雷|Kateryna Ivanova|O\x27Brien, Pat", names, "|");
  split("GB|US|FR|DE|NL|JP|BR|IN", countries, "|");
  print "order_id,customer,country,amount,quantity,paid,order_date,updated_at";
  for (i = 1; i <= n; i++) {
    name = names[(i * 7) % 8 + 1];
    if (index(name, ",") > 0) name = "\"" name "\"";
    amount = sprintf("%.2f", ((i * 7919) % 100000) / 100.0);
    qty = (i * 31) % 20 + 1;
    paid = (i % 3 == 0) ? "false" : "true";
    day = (i % 28) + 1; month = (int(i / 28) % 12) + 1;
    secs = i * 17;
    hh = int(secs / 3600) % 24; mm = int(secs / 60) % 60; ss = secs % 60;
    printf "%d,%s,%s,%s,%d,%s,2025-%02d-%02d,2025-%02d-%02dT%02d:%02d:%02d\n", i, name, countries[(i % 8) + 1], amount, qty, paid, month, day, month, day, hh, mm, ss;
  }
}' > "$dir/orders.csv"
awk 'BEGIN {
  for (i = 1; i <= 10000; i++) {
    printf "{\"customer_id\": %d, \"email\": \"user%d@example.com\", \"score\": %.3f, \"vip\": %s, \"segment\": \"%s\"}\n", i, i, (i * 37 % 1000) / 7.0, (i % 10 == 0) ? "true" : "false", (i % 2 == 0) ? "retail" : "wholesale";
  }
}' > "$dir/customers.jsonl"
echo "wrote $(($(wc -l < "$dir/orders.csv") - 1)) orders and $(wc -l < "$dir/customers.jsonl") customers to $dir"
