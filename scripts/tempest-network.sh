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
. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" tempest-network

EXCLUDE_FILE=${EXCLUDE_FILE:-$ROOT/test/tempest/network-exclude.txt}
REGEX=${TEST_REGEX:-tempest.api.network}
ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# Debian's Tempest sleeps 10 s before every subnet delete: the run is mostly waiting, so more
# workers than cores shorten it (about 30 min with the runner's 2).
export CONCURRENCY=${CONCURRENCY:-6}

EXCLUDE_REGEX=$(tempest_excludes "$EXCLUDE_FILE")
WORKSPACE=${TEMPEST_WORKSPACE:-$(mktemp -d /tmp/pocketstack-tempest-ws.XXXXXX)}

# Six distinct free loopback ports, below the ephemeral range (scripts/free-ports.mjs).
POCKETSTACK_ADMIN_PASSWORD=$ADMIN_PASSWORD pocketstack_start
TOKEN=$(admin_token "$ADMIN_PASSWORD")
EXTENSIONS=$(network_extensions "$TOKEN")
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
