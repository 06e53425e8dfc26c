#!/usr/bin/env bash
# tempest-identity.sh - run Tempest's identity API tests (tempest.api.identity) and the
# keystone_tempest_plugin API tests against a PocketStack started here on free loopback ports
# (a fresh data directory, stopped afterwards), less test/tempest/identity-exclude.txt.
#
#   scripts/tempest-identity.sh [REGEX]
#
# Results land in $TEMPEST_WORKSPACE (default /tmp/tempest-identity)/results; the last line is
# "N passed, M failed, K skipped". Needs Debian's tempest, keystone-tempest-plugin and
# python3-openstackclient; RUNNER overrides the runner path, CONCURRENCY the workers (4).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNNER=${RUNNER:-$ROOT/tools/tempest/run-network.sh}
REGEX=${1:-'^(tempest\.api\.identity\.|keystone_tempest_plugin\.tests\.api\.)'}
export TEMPEST_WORKSPACE=${TEMPEST_WORKSPACE:-/tmp/tempest-identity}
export PATH="/usr/bin:$PATH"

[ -x "$RUNNER" ] || { echo "Tempest runner $RUNNER not found (set RUNNER)" >&2; exit 2; }
/usr/bin/python3 -c 'import keystone_tempest_plugin' 2>/dev/null \
    || { echo "keystone_tempest_plugin missing: apt-get install keystone-tempest-plugin" >&2; echo "0 passed, 0 failed, 0 skipped"; exit 2; }
DATA=$(mktemp -d /tmp/pocketstack-tempest-XXXXXX)
read -r P_ID P_NET P_COMP P_IMG P_LB < <(node "$ROOT/scripts/free-ports.mjs" 5)

cd "$ROOT" || exit 2
POCKETSTACK_IDENTITY_PORT=$P_ID POCKETSTACK_NETWORK_PORT=$P_NET POCKETSTACK_COMPUTE_PORT=$P_COMP \
POCKETSTACK_IMAGE_PORT=$P_IMG POCKETSTACK_LOAD_BALANCER_PORT=$P_LB \
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_DEMO_PASSWORD=secret \
    node --import tsx src/cli/main.ts serve --data-dir "$DATA" --log-level warn > "$DATA/serve.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 150); do grep -q 'PocketStack is up' "$DATA/serve.log" && break; sleep 0.2; done
grep -q 'PocketStack is up' "$DATA/serve.log" || { cat "$DATA/serve.log" >&2; exit 2; }

# What this Keystone offers, as tempest's [identity-feature-enabled] describes it. OS-INHERIT,
# OS-OAUTH1 and OS-FEDERATION are not listed, so their suites skip themselves.
cat > "$DATA/extra.conf" <<CONF
[identity]
default_domain_id = default

[identity-feature-enabled]
trust = true
application_credentials = true
access_rules = true
project_tags = true
security_compliance = false
domain_specific_drivers = false
api_extensions = OS-EC2,OS-TRUST,OS-EP-FILTER,OS-REVOKE,OS-PKI,OS-SIMPLE-CERT,s3tokens,OS-ENDPOINT-POLICY
federation = false
CONF

EXCLUDE_REGEX=$(grep -v '^\s*#' "$ROOT/test/tempest/identity-exclude.txt" | grep -v '^\s*$' | paste -sd'|')
export EXCLUDE_REGEX
CONCURRENCY=${CONCURRENCY:-4} QUIET=${QUIET:-1} EXTRA_TEMPEST_CONF="$DATA/extra.conf" \
    "$RUNNER" "http://127.0.0.1:$P_ID/v3" admin secret admin "$REGEX"
