#!/usr/bin/env bash
# The screenshot in docs/operations.md: Debian's prometheus scraping a local
# store while scripted customers chat with it through the WhatsApp sandbox,
# and Prometheus' graph page captured with headless Chromium.
#
#   deploy/prometheus/screenshot.sh [out.png]
#
# Needs the host and the components built (`cargo xtask build` and
# `cargo build -p agent-store`), and the Debian packages prometheus and
# chromium. Ports 3000 and 9090 must be free.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs/prometheus.png}"
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
host="$target/debug/agent-store"
work="$(mktemp -d)"
chmod 700 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

set -a; . ./demo.env; set +a
AGENT_STORE_WASM_DIR="$target/wasm32-wasip2/release" "$host" --log-format json up \
  --manifest spin.toml --data-dir "$work/data" --listen 127.0.0.1:3000 >"$work/host.log" 2>&1 &
for _ in $(seq 1 240); do curl -sf http://127.0.0.1:3000/readyz >/dev/null && break; sleep 0.5; done

prometheus --config.file=deploy/prometheus/prometheus.yml --storage.tsdb.path="$work/prometheus" \
  --web.listen-address=127.0.0.1:9090 >"$work/prometheus.log" 2>&1 &

# Customers of every brand, more of some brands than others: browse,
# pick, add to the cart, check out and order (a number picks a choice on
# screen); every fourth round's customers are angry and handed to a person.
chat() { # brand phone lines…
  local brand=$1 phone=$2; shift 2
  for line in "$@"; do echo "$line"; sleep 1.5; done | "$host" chat --brand "$brand" --phone "$phone" >/dev/null 2>&1 || true
}
for round in $(seq 1 6); do
  n=0
  for brand in fashion tech home beauty gaming; do
    n=$((n + 1))
    for c in $(seq 1 "$n"); do
      phone="3460$(printf '%02d%02d%03d' "$round" "$n" "$c")"
      case $((round % 4)) in
        0) chat "$brand" "$phone" "hi" "this is a scam, I paid and nothing came, I want a refund now!!" "I want to talk to a person" & ;;
        *) chat "$brand" "$phone" "hi" "what do you recommend?" "1" "1" "1" "1" "1" & ;;
      esac
    done
  done
  sleep 15
done
sleep 20
sleep 10

query='sum by (brand) (rate(agent_store_events_delivered_total[1m]))'
url="http://127.0.0.1:9090/graph?g0.expr=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$query")&g0.tab=0&g0.range_input=3m"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
  --virtual-time-budget=10000 --screenshot="$out" "$url"
echo "wrote $out"
