# shellcheck shell=bash
# scripts/tempest-common.sh - what the scripts/tempest-*.sh share; sourced by them, not run.
#
# After `. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" NAME`:
#   ROOT      the repository;  PATH starts with /usr/bin (Debian's Tempest, stestr and plugins
#             live under /usr/bin/python3; the python3 first on a developer's PATH may not import them)
#   RUNNER    tools/tempest/run-network.sh unless TEMPEST_RUNNER (or RUNNER) names another
#   tempest_excludes FILE          the "REGEX  # reason" lines of FILE joined with |; a regex
#                                  without its reason is an error, not a silent skip
#   pocketstack_ports N            N (at least 6) free loopback ports into PORTS, the first six
#                                  also into P_ID P_NET P_COMP P_IMG P_LB P_KM, and a fresh DATA_DIR
#   pocketstack_start [ARGS…]     `pocketstack serve ARGS` on those ports (pocketstack_ports 6
#                                  first if not called yet; the POCKETSTACK_* given or exported
#                                  pass through), waits until it is up and sets IDENTITY; the
#                                  EXIT trap (_pocketstack_stop) stops it and removes DATA_DIR
#   admin_token PASSWORD           an admin token from the started Keystone (IDENTITY)
#   network_extensions TOKEN       the aliases GET /v2.0/extensions lists, comma separated
# NAME prefixes the messages.

TEMPEST_SCRIPT=${1:-tempest}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/usr/bin:$PATH"
RUNNER=${TEMPEST_RUNNER:-${RUNNER:-$ROOT/tools/tempest/run-network.sh}}
[ -x "$RUNNER" ] || { echo "$TEMPEST_SCRIPT: runner not found: $RUNNER (set TEMPEST_RUNNER)" >&2; exit 2; }
[ -x /usr/bin/tempest ] || { echo "$TEMPEST_SCRIPT: Debian's tempest is not installed" >&2; exit 2; }

tempest_excludes() {
  local line regex reason out=""
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    regex=$(printf '%s' "$line" | sed -E 's/[[:space:]]+#.*$//')
    reason=$(printf '%s' "$line" | sed -nE 's/^[^#]*#[[:space:]]*(.+)$/\1/p')
    if [ -z "$reason" ]; then echo "$TEMPEST_SCRIPT: exclusion without a reason: $line" >&2; return 2; fi
    out="${out:+$out|}$regex"
  done < "$1"
  printf '%s\n' "$out"
}

DATA_DIR=""
SERVER_PID=""
_pocketstack_stop() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$DATA_DIR" ] && rm -rf "$DATA_DIR"
  return 0
}

PORTS=()
pocketstack_ports() {
  read -r -a PORTS < <(node "$ROOT/scripts/free-ports.mjs" "$1")
  [ "${#PORTS[@]}" -ge 6 ] || { echo "$TEMPEST_SCRIPT: no free ports" >&2; exit 2; }
  P_ID=${PORTS[0]} P_NET=${PORTS[1]} P_COMP=${PORTS[2]} P_IMG=${PORTS[3]} P_LB=${PORTS[4]} P_KM=${PORTS[5]}
  DATA_DIR=$(mktemp -d /tmp/pocketstack-tempest-data.XXXXXX)
  trap _pocketstack_stop EXIT
}

# The built server when npm test has built it (dist/), else the sources through tsx.
pocketstack_start() {
  [ "${#PORTS[@]}" -gt 0 ] || pocketstack_ports 6
  local serve
  if [ -f "$ROOT/dist/cli/main.js" ]; then serve=("$ROOT/bin/pocketstack" serve); else serve=(node --import tsx "$ROOT/src/cli/main.ts" serve); fi
  (
    cd "$ROOT" || exit 2
    # Nova places servers by its host's capacity (VCPU at cpu_allocation_ratio 4.0): Tempest's
    # concurrent workers keep more servers than a 2-CPU machine holds; a host sized as a gate node.
    export POCKETSTACK_HOST_VCPUS=${POCKETSTACK_HOST_VCPUS:-16}
    export POCKETSTACK_IDENTITY_PORT=$P_ID POCKETSTACK_NETWORK_PORT=$P_NET POCKETSTACK_COMPUTE_PORT=$P_COMP \
      POCKETSTACK_IMAGE_PORT=$P_IMG POCKETSTACK_LOAD_BALANCER_PORT=$P_LB POCKETSTACK_KEY_MANAGER_PORT=$P_KM
    exec "${serve[@]}" --data-dir "$DATA_DIR" --log-level "${POCKETSTACK_LOG_LEVEL:-warn}" "$@" > "$DATA_DIR/server.log" 2>&1
  ) &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    grep -q 'PocketStack is up' "$DATA_DIR/server.log" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$TEMPEST_SCRIPT: server exited:" >&2; cat "$DATA_DIR/server.log" >&2; exit 2; }
    sleep 0.1
  done
  grep -q 'PocketStack is up' "$DATA_DIR/server.log" || { echo "$TEMPEST_SCRIPT: server did not start" >&2; cat "$DATA_DIR/server.log" >&2; exit 2; }
  IDENTITY="http://127.0.0.1:$P_ID/v3"
}

admin_token() {
  curl -sf -D - -o /dev/null -H 'content-type: application/json' "$IDENTITY/auth/tokens" -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"name\":\"Default\"},\"password\":\"$1\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"name\":\"Default\"}}}}}" \
    | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r'
}

network_extensions() {
  curl -sf -H "x-auth-token: $1" "http://127.0.0.1:$P_NET/v2.0/extensions" \
    | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).extensions.map((e)=>e.alias).join(",")))'
}
