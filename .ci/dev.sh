#!/usr/bin/env bash
# .ci/dev.sh (`npm start`) — the gate running locally, end to end:
#   1. builds the Worker when a source changed,
#   2. makes development keys in .dev/ (git-ignored) and seeds local KV with
#      their public key set (`jwks`) and the example rules (`rules`),
#   3. starts the example origin MCP server on a free loopback port,
#   4. starts `wrangler dev --local` on http://127.0.0.1:8787 in front of it,
#   5. prints how to get a development token and call the gate.
# Ctrl-C stops everything it started. Loopback only.
#
#   GATE_PORT=8787   port of the gate (RESOURCE and the issuer depend on it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=.ci/setup.sh
source .ci/setup.sh

GATE_PORT=${GATE_PORT:-8787}
GATE_URL=http://127.0.0.1:$GATE_PORT
RESOURCE=$GATE_URL/mcp
# A made-up issuer: tokens come from `mcp-gate token`, and JWKS_URI=off keeps
# the gate from trying to discover keys from it; the keys are seeded in KV.
ISSUER=$GATE_URL/dev-issuer
DEV_DIR=.dev
PERSIST=.wrangler/state # shared by `wrangler kv ... --local` and `wrangler dev`
RULES_FILE=tests/fixtures/rules.example.json
LOG_DIR=$DEV_DIR/logs

CHILD_GROUPS=()
TAIL_PID=""

# Each child runs in its own process group (setsid) so that stopping it
# also stops what it started (wrangler -> workerd).
stop_children() {
  local pgid
  [[ -z $TAIL_PID ]] || kill "$TAIL_PID" 2>/dev/null || true
  for pgid in "${CHILD_GROUPS[@]}"; do
    kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  for pgid in "${CHILD_GROUPS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 -- "-$pgid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  CHILD_GROUPS=()
}
trap 'stop_children' EXIT
trap 'echo; echo "stopping..."; exit 130' INT TERM

# Starts "$@" in a new session with output to LOGFILE; sets LAST_PID.
start_child() {
  local logfile=$1
  shift
  setsid "$@" </dev/null >"$logfile" 2>&1 &
  LAST_PID=$!
  CHILD_GROUPS+=("$LAST_PID")
}

# Waits until LOGFILE has a line matching REGEX; prints the first match.
wait_for_line() {
  local logfile=$1 regex=$2 seconds=$3 pid=$4 i
  local match
  for ((i = 0; i < seconds * 10; i++)); do
    match=$(grep -Eo "$regex" "$logfile" 2>/dev/null | head -n 1 || true)
    if [[ -n $match ]]; then
      echo "$match"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "gave up waiting for /$regex/ in $logfile:" >&2
  tail -n 30 "$logfile" >&2
  return 1
}

mcp_gate() { cargo run --quiet --bin mcp-gate -- "$@"; }

kv_put() { # KEY FILE
  wrangler kv key put "$1" --path "$2" --binding GATE_KV --local --persist-to "$PERSIST" >/dev/null
}

main() {
  mkdir -p "$LOG_DIR"

  echo "==> building the Worker (skipped when build/ is newer than the sources)"
  bash .ci/build-worker.sh --if-stale

  echo "==> development keys in $DEV_DIR/ (private keys stay there, git-ignored)"
  mcp_gate dev-keys --dir "$DEV_DIR"

  echo "==> seeding local KV ($PERSIST): jwks, rules"
  kv_put jwks "$DEV_DIR/jwks.json"
  if [[ -f $RULES_FILE ]]; then
    kv_put rules "$RULES_FILE"
  else
    echo "    $RULES_FILE not found: no rules, the gate runs in authenticated mode"
  fi

  echo "==> starting the example origin MCP server"
  start_child "$LOG_DIR/origin.log" env PORT=0 HOST=127.0.0.1 node tests/origin/server.mjs
  local origin_pid=$LAST_PID origin_url
  origin_url=$(wait_for_line "$LOG_DIR/origin.log" 'http://127\.0\.0\.1:[0-9]+' 30 "$origin_pid")
  echo "    $origin_url (log: $LOG_DIR/origin.log)"

  echo "==> starting the gate (wrangler dev --local)"
  start_child "$LOG_DIR/wrangler.log" wrangler dev --local \
    --ip 127.0.0.1 --port "$GATE_PORT" --inspector-port 0 \
    --persist-to "$PERSIST" --show-interactive-dev-session=false \
    --var "RESOURCE:$RESOURCE" \
    --var "AUTHORIZATION_SERVERS:$ISSUER" \
    --var "ORIGIN:$origin_url" \
    --var "JWKS_URI:off" \
    --var "ALLOWED_ORIGINS:http://localhost:6274 http://127.0.0.1:6274"
  local wrangler_pid=$LAST_PID
  wait_for_line "$LOG_DIR/wrangler.log" 'Ready on http://[0-9.:]+' 120 "$wrangler_pid" >/dev/null

  cat <<EOF

mcp-gate is running at $GATE_URL  (MCP endpoint: $RESOURCE)
  origin MCP server: $origin_url
  logs: $LOG_DIR/wrangler.log (one JSON line per request), $LOG_DIR/origin.log

Get a development token (add --scope "..." for the scopes the rules require):
  TOKEN=\$(cargo run -q --bin mcp-gate -- token --iss $ISSUER --aud $RESOURCE --scope "mcp:tools:*")

Call the gate:
  curl -i $GATE_URL/.well-known/oauth-protected-resource/mcp
  curl -i $RESOURCE -H "Authorization: Bearer \$TOKEN" \\
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}'

Press Ctrl-C to stop.
EOF

  # Show the gate's log here; return when either child exits.
  tail -n 0 -f "$LOG_DIR/wrangler.log" &
  TAIL_PID=$!
  while kill -0 "$wrangler_pid" 2>/dev/null && kill -0 "$origin_pid" 2>/dev/null; do
    sleep 1
  done
  echo "a child process exited; see $LOG_DIR/" >&2
  return 1
}

main "$@"
