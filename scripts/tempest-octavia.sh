#!/usr/bin/env bash
# Octavia's own API tests (octavia_tempest_plugin.tests.api.v2) against a PocketStack started
# here on free loopback ports, with the noop network driver the suite's noop mode needs (VIP and
# member subnets are random UUIDs there). Prints the runner's "N passed, M failed, K skipped".
#   scripts/tempest-octavia.sh [REGEX]      (default: the whole octavia_tempest_plugin.tests.api.v2)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
regex=${1:-octavia_tempest_plugin.tests.api.v2}
runner=${TEMPEST_RUNNER:-$here/tools/tempest/run-network.sh}
data=$(mktemp -d /tmp/pocketstack-octavia-tempest.XXXXXX)
read -r -a ports < <(node "$here/scripts/free-ports.mjs" 5)
(cd "$here" && npx tsc -p tsconfig.build.json) || exit 2
POCKETSTACK_DATA_DIR=$data POCKETSTACK_IDENTITY_PORT=${ports[0]} POCKETSTACK_NETWORK_PORT=${ports[1]} \
POCKETSTACK_COMPUTE_PORT=${ports[2]} POCKETSTACK_IMAGE_PORT=${ports[3]} POCKETSTACK_LOAD_BALANCER_PORT=${ports[4]} \
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_LB_NETWORK_DRIVER=noop POCKETSTACK_LOG_LEVEL=warn \
  "$here/bin/pocketstack" serve >"$data/server.out" 2>"$data/server.err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do grep -q "is up" "$data/server.out" 2>/dev/null && break; sleep 0.1; done
TEMPEST_WORKSPACE=${TEMPEST_WORKSPACE:-/tmp/tempest-lb} OCTAVIA=true EXTRA_TEMPEST_CONF="${EXTRA_TEMPEST_CONF:-$here/test/tempest/octavia.conf}" \
  "$runner" "http://127.0.0.1:${ports[0]}/v3" admin secret admin "$regex"
