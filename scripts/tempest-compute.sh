#!/usr/bin/env bash
# Tempest's tempest.api.compute against a PocketStack started here: free
# loopback ports, a temporary data directory, dynamic credentials, the noop data plane. Configured
# as a cloud without block storage, object storage or guest access is (cinder and swift
# unavailable, run_validation off) and with the features this cloud has; every test left out is in
# test/tempest/compute-exclude.txt with its reason. Exits non-zero if any selected test fails.
#
# Environment: TEMPEST_RUNNER (default tools/tempest/run-network.sh), TEMPEST_WORKSPACE (default:
# a fresh temporary directory), TEST_REGEX (default: the compute suite; tempest.api.image runs in
# scripts/tempest-image.sh, against a Glance configured for import), CONCURRENCY (default 8), and
# the runner's own knobs pass through.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" tempest-compute

EXCLUDE_FILE=${EXCLUDE_FILE:-$ROOT/test/tempest/compute-exclude.txt}
REGEX=${TEST_REGEX:-'^tempest\.api\.compute\.'}
ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# Most of the run is Tempest waiting (build_interval, the sleeps some tests take): more workers
# than cores shorten it.
export CONCURRENCY=${CONCURRENCY:-8}

EXCLUDE_REGEX=$(tempest_excludes "$EXCLUDE_FILE")
WORKSPACE=${TEMPEST_WORKSPACE:-$(mktemp -d /tmp/pocketstack-tempest-ws.XXXXXX)}

POCKETSTACK_ADMIN_PASSWORD=$ADMIN_PASSWORD pocketstack_start
TOKEN=$(admin_token "$ADMIN_PASSWORD")
api() { curl -sf -H "x-auth-token: $TOKEN" -H 'content-type: application/json' "$@"; }
json() { node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{const o=JSON.parse(s);console.log(eval(process.argv[1]))})' "$1"; }

# The servers Tempest boots go on a shared network, as on a DevStack with a shared "private" one.
NET=$(api "http://127.0.0.1:$P_NET/v2.0/networks" -d '{"network":{"name":"private","shared":true}}' | json 'o.network.id')
SUBNET=$(api "http://127.0.0.1:$P_NET/v2.0/subnets" -d "{\"subnet\":{\"name\":\"private-subnet\",\"network_id\":\"$NET\",\"ip_version\":4,\"cidr\":\"10.0.0.0/22\"}}" | json 'o.subnet.id')
# …routed to the external network "public", so floating IPs can be associated with its ports.
PUBLIC=$(api "http://127.0.0.1:$P_NET/v2.0/networks?name=public" | json 'o.networks[0].id')
ROUTER=$(api "http://127.0.0.1:$P_NET/v2.0/routers" -d "{\"router\":{\"name\":\"router1\",\"external_gateway_info\":{\"network_id\":\"$PUBLIC\"}}}" | json 'o.router.id')
api -X PUT "http://127.0.0.1:$P_NET/v2.0/routers/$ROUTER/add_router_interface" -d "{\"subnet_id\":\"$SUBNET\"}" >/dev/null
EXTENSIONS=$(network_extensions "$TOKEN")
IMAGE=$(api "http://127.0.0.1:$P_IMG/v2/images?name=cirros-0.3.3-x86_64-disk" | json 'o.images[0].id')
# A second public image, for rebuilds to a different image (image_ref_alt).
IMAGE_ALT=$(api "http://127.0.0.1:$P_IMG/v2/images" -d '{"name":"cirros-alt","disk_format":"qcow2","container_format":"bare","visibility":"public"}' | json 'o.id')
curl -sf -X PUT -H "x-auth-token: $TOKEN" -H 'content-type: application/octet-stream' --data-binary '' "http://127.0.0.1:$P_IMG/v2/images/$IMAGE_ALT/file" >/dev/null

cat > "$DATA_DIR/extra.conf" <<EOF
[compute]
image_ref = $IMAGE
image_ref_alt = $IMAGE_ALT
flavor_ref = 42
flavor_ref_alt = 84
fixed_network_name = private
build_timeout = 60
build_interval = 1
min_microversion = 2.1
max_microversion = 2.96
min_compute_nodes = 1
shelved_offload_time = 0

[compute-feature-enabled]
# Without an instance host (the noop data plane) nothing writes a console log.
console_output = false
interface_attach = true
personality = true
resize = true
snapshot = true
pause = true
suspend = true
shelve = true
rescue = true
# Rescue from an image with hw_rescue_device/hw_rescue_bus (the disk stays attached as it is).
stable_rescue = true
cold_migration = true
live_migration = true
# No guest agent: setting a password fails as Nova's libvirt driver fails without one.
change_password = false
# No remote consoles are enabled.
vnc_console = false
spice_console = false
serial_console = false
# A cloud without block storage.
attach_encrypted_volume = false
swap_volume = false
volume_multiattach = false
volume_backed_live_migration = false
# Guests are never reached (run_validation is off): what they would see is not tested.
metadata_service = false
config_drive = false

[image]
build_timeout = 60
build_interval = 1

[image-feature-enabled]
api_v2 = true
api_v1 = false
import_image = false
os_glance_reserved = true
EOF

# Tests that put the one compute host into an availability zone run alone, after the others: while
# the host is in a test's zone, Nova (like this cloud) refuses to move it back as long as any
# other test's server is on it, and servers asking for zone "nova" find no host.
SERIAL_REGEX='^tempest\.api\.compute\.admin\.test_aggregates\.AggregatesAdminTestJSON\.test_aggregate_add_host_create_server_with_az'
[ -n "${TEST_REGEX:-}" ] && SERIAL_REGEX=""

echo "tempest-compute: PocketStack on identity :$P_ID compute :$P_COMP image :$P_IMG; workspace $WORKSPACE; $CONCURRENCY workers"
run() { # workspace regex exclude concurrency
  TEMPEST_WORKSPACE=$1 NETWORK_API_EXTENSIONS=$EXTENSIONS EXCLUDE_REGEX=$3 CONCURRENCY=$4 NOVA=true GLANCE=true \
    EXTRA_TEMPEST_CONF="$DATA_DIR/extra.conf" QUIET=${QUIET:-1} \
    "$RUNNER" "$IDENTITY" admin "$ADMIN_PASSWORD" admin "$2" | tee "$DATA_DIR/last.out"
  return "${PIPESTATUS[0]}"
}
status=0
run "$WORKSPACE" "$REGEX" "${EXCLUDE_REGEX}${SERIAL_REGEX:+${EXCLUDE_REGEX:+|}$SERIAL_REGEX}" "$CONCURRENCY" || status=$?
if [ -n "$SERIAL_REGEX" ]; then
  first=$(tail -1 "$DATA_DIR/last.out")
  echo "tempest-compute: now alone: $SERIAL_REGEX"
  run "$WORKSPACE/serial" "$SERIAL_REGEX" "$EXCLUDE_REGEX" 1 || { rc=$?; [ "$rc" -gt "$status" ] && status=$rc; }
  second=$(tail -1 "$DATA_DIR/last.out")
  # One summary line for both runs, as the runner prints it.
  p=0 f=0 k=0
  for line in "$first" "$second"; do
    if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
      p=$((p + BASH_REMATCH[1])) f=$((f + BASH_REMATCH[2])) k=$((k + BASH_REMATCH[3]))
    fi
  done
  echo "$p passed, $f failed, $k skipped"
fi
if [ "$status" != 0 ] && [ -n "${KEEP_LOG:-}" ]; then cp "$DATA_DIR/server.log" "$KEEP_LOG" || true; fi
exit $status
