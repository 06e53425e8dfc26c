#!/usr/bin/env bash
# tempest-compute.sh - run Tempest's compute server-create and image v2 API tests against a
# PocketStack started here on free loopback ports (a fresh data directory, stopped afterwards).
#
#   scripts/tempest-compute.sh [REGEX]
#
# REGEX defaults to the two modules issue 4 names. Results land in $TEMPEST_WORKSPACE
# (default /tmp/tempest-compute)/results; the last line is "N passed, M failed, K skipped".
# Needs Debian's tempest and python3-openstackclient; RUNNER overrides the runner path.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNNER=${RUNNER:-$ROOT/tools/tempest/run-network.sh}
REGEX=${1:-'tempest\.api\.compute\.servers\.test_create_server\.|tempest\.api\.image\.v2\.test_images\.'}
export TEMPEST_WORKSPACE=${TEMPEST_WORKSPACE:-/tmp/tempest-compute}
export PATH="/usr/bin:$PATH"

[ -x "$RUNNER" ] || { echo "Tempest runner $RUNNER not found (set RUNNER)" >&2; exit 2; }
DATA=$(mktemp -d /tmp/pocketstack-tempest-XXXXXX)
read -r P_ID P_NET P_COMP P_IMG P_LB P_KM < <(node "$ROOT/scripts/free-ports.mjs" 6)

cd "$ROOT" || exit 2
POCKETSTACK_IDENTITY_PORT=$P_ID POCKETSTACK_NETWORK_PORT=$P_NET POCKETSTACK_COMPUTE_PORT=$P_COMP \
POCKETSTACK_IMAGE_PORT=$P_IMG POCKETSTACK_LOAD_BALANCER_PORT=$P_LB POCKETSTACK_KEY_MANAGER_PORT=$P_KM \
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_DEMO_PASSWORD=secret \
    node --import tsx src/cli/main.ts serve --data-dir "$DATA" --log-level warn > "$DATA/serve.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q 'PocketStack is up' "$DATA/serve.log" && break; sleep 0.2; done
grep -q 'PocketStack is up' "$DATA/serve.log" || { cat "$DATA/serve.log" >&2; exit 2; }

# The servers Tempest boots go on a shared network, as on a DevStack with a shared "private" net.
# shellcheck disable=SC1091
source "$DATA/openrc-admin.sh"
openstack network create --share private -f value -c id >/dev/null || exit 2
openstack subnet create private-subnet --network private --subnet-range 10.0.0.0/24 -f value -c id >/dev/null || exit 2
IMAGE=$(openstack image show cirros-0.3.3-x86_64-disk -f value -c id) || exit 2

cat > "$DATA/extra.conf" <<EOF
[compute]
image_ref = $IMAGE
image_ref_alt = $IMAGE
flavor_ref = 42
flavor_ref_alt = 84
fixed_network_name = private
build_timeout = 60
build_interval = 1
min_microversion = 2.1
max_microversion = 2.46

[compute-feature-enabled]
console_output = true
interface_attach = true

[image]
build_timeout = 60
build_interval = 1

[image-feature-enabled]
api_v2 = true
import_image = false
os_glance_reserved = true
EOF

NOVA=true GLANCE=true QUIET=${QUIET:-1} EXTRA_TEMPEST_CONF="$DATA/extra.conf" \
    "$RUNNER" "http://127.0.0.1:$P_ID/v3" admin secret admin "$REGEX"
