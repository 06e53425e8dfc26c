#!/usr/bin/env bash
# Tempest's tempest.api.network against a PocketStack started here: free loopback ports, a
# temporary data directory, dynamic credentials. The advertised extensions (GET /v2.0/extensions)
# become Tempest's api_extensions, and test/tempest/network-exclude.txt (one regex per line, each
# with a "# reason") is the only way a test is left out. Exits non-zero if any selected test fails.
#
# Environment: TEMPEST_RUNNER (default tools/tempest/run-network.sh), TEMPEST_WORKSPACE
# (default: a fresh temporary directory), TEST_REGEX (default tempest.api.network), and the
# runner's own knobs (CONCURRENCY, IPV6, NOVA …) pass through.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNNER=${TEMPEST_RUNNER:-$ROOT/tools/tempest/run-network.sh}
EXCLUDE_FILE=${EXCLUDE_FILE:-$ROOT/test/tempest/network-exclude.txt}
REGEX=${TEST_REGEX:-tempest.api.network}
ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# Debian's Tempest sleeps 10 s before every subnet delete: the run is mostly waiting, so more
# workers than cores shorten it (about 30 min with the runner's 2).
export CONCURRENCY=${CONCURRENCY:-6}

[ -x "$RUNNER" ] || { echo "tempest-network: runner not found: $RUNNER (set TEMPEST_RUNNER)" >&2; exit 2; }
[ -x /usr/bin/tempest ] || { echo "tempest-network: Debian's tempest is not installed" >&2; exit 2; }

# The exclusion list: "REGEX  # reason"; a regex without a reason is an error, not a silent skip.
EXCLUDE_REGEX=""
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  regex=$(printf '%s' "$line" | sed -E 's/[[:space:]]+#.*$//')
  reason=$(printf '%s' "$line" | sed -nE 's/^[^#]*#[[:space:]]*(.+)$/\1/p')
  if [ -z "$reason" ]; then echo "tempest-network: exclusion without a reason: $line" >&2; exit 2; fi
  EXCLUDE_REGEX="${EXCLUDE_REGEX:+$EXCLUDE_REGEX|}$regex"
done < "$EXCLUDE_FILE"

DATA_DIR=$(mktemp -d /tmp/pocketstack-tempest-data.XXXXXX)
WORKSPACE=${TEMPEST_WORKSPACE:-$(mktemp -d /tmp/pocketstack-tempest-ws.XXXXXX)}
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT

# Six distinct free loopback ports, below the ephemeral range (scripts/free-ports.mjs).
read -r P_ID P_NET P_COMP P_IMG P_LB P_KM < <(node "$ROOT/scripts/free-ports.mjs" 6)

if [ -f "$ROOT/dist/cli/main.js" ]; then SERVE=("$ROOT/bin/pocketstack" serve); else SERVE=(node --import tsx "$ROOT/src/cli/main.ts" serve); fi
(
  cd "$ROOT"
  export POCKETSTACK_IDENTITY_PORT=$P_ID POCKETSTACK_NETWORK_PORT=$P_NET POCKETSTACK_COMPUTE_PORT=$P_COMP \
    POCKETSTACK_IMAGE_PORT=$P_IMG POCKETSTACK_LOAD_BALANCER_PORT=$P_LB POCKETSTACK_KEY_MANAGER_PORT=$P_KM POCKETSTACK_ADMIN_PASSWORD=$ADMIN_PASSWORD
  exec "${SERVE[@]}" --data-dir "$DATA_DIR" --log-level "${POCKETSTACK_LOG_LEVEL:-warn}" > "$DATA_DIR/server.log" 2>&1
) &
SERVER_PID=$!
for _ in $(seq 1 300); do
  grep -q 'PocketStack is up' "$DATA_DIR/server.log" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "tempest-network: server exited:" >&2; cat "$DATA_DIR/server.log" >&2; exit 2; }
  sleep 0.1
done
grep -q 'PocketStack is up' "$DATA_DIR/server.log" || { echo "tempest-network: server did not start" >&2; exit 2; }

IDENTITY="http://127.0.0.1:$P_ID/v3"
TOKEN=$(curl -sf -D - -o /dev/null -H 'content-type: application/json' "$IDENTITY/auth/tokens" -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"name\":\"Default\"},\"password\":\"$ADMIN_PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"name\":\"Default\"}}}}}" \
  | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r')
EXTENSIONS=$(curl -sf -H "x-auth-token: $TOKEN" "http://127.0.0.1:$P_NET/v2.0/extensions" \
  | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).extensions.map((e)=>e.alias).join(",")))')
[ -n "$EXTENSIONS" ] || { echo "tempest-network: could not read the advertised extensions" >&2; exit 2; }

# Port-binding tests ask Nova for a hypervisor: say Nova is there when this build serves it.
if [ -z "${NOVA:-}" ]; then
  NOVA=false
  curl -sf -H "x-auth-token: $TOKEN" "$IDENTITY/auth/catalog" | grep -q '"type":"compute"' && NOVA=true
fi
export NOVA

echo "tempest-network: PocketStack on identity :$P_ID network :$P_NET; nova $NOVA; workspace $WORKSPACE"
echo "tempest-network: extensions $EXTENSIONS"
status=0
TEMPEST_WORKSPACE=$WORKSPACE NETWORK_API_EXTENSIONS=$EXTENSIONS EXCLUDE_REGEX=$EXCLUDE_REGEX \
  "$RUNNER" "$IDENTITY" admin "$ADMIN_PASSWORD" admin "$REGEX" || status=$?
exit $status
