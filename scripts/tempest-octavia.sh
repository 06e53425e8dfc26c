#!/usr/bin/env bash
# Octavia's own API tests (octavia_tempest_plugin.tests.api.v2) against a PocketStack started
# here on free loopback ports, with the noop network driver the suite's noop mode needs (VIP and
# member subnets are random UUIDs there). Two passes on the same server: the whole suite with the
# pocketstack provider (test/tempest/octavia.conf; the amphora API tests skip themselves for any
# provider but amphora), then those amphora API tests with the amphora provider
# (octavia-amphora.conf), then Barbican's API tests against the key manager (less
# test/tempest/barbican-exclude.txt). Prints each pass's "N passed, M failed, K skipped".
#   scripts/tempest-octavia.sh [REGEX]      (a REGEX runs that selection alone, first pass only)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
regex=${1:-octavia_tempest_plugin.tests.api.v2}
runner=${TEMPEST_RUNNER:-$here/tools/tempest/run-network.sh}
data=$(mktemp -d /tmp/pocketstack-octavia-tempest.XXXXXX)
read -r -a ports < <(node "$here/scripts/free-ports.mjs" 6)
# npm test has built dist/ already (POCKETSTACK_BUILT=1): rebuilding under servers other suites run
# from it would rewrite files they may be loading.
[ -n "${POCKETSTACK_BUILT:-}" ] || (cd "$here" && npx tsc -p tsconfig.build.json) || exit 2
POCKETSTACK_DATA_DIR=$data POCKETSTACK_IDENTITY_PORT=${ports[0]} POCKETSTACK_NETWORK_PORT=${ports[1]} \
POCKETSTACK_COMPUTE_PORT=${ports[2]} POCKETSTACK_IMAGE_PORT=${ports[3]} POCKETSTACK_LOAD_BALANCER_PORT=${ports[4]} \
POCKETSTACK_KEY_MANAGER_PORT=${ports[5]} \
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_LB_NETWORK_DRIVER=noop POCKETSTACK_LOG_LEVEL=warn \
  "$here/bin/pocketstack" serve >"$data/server.out" 2>"$data/server.err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do grep -q "is up" "$data/server.out" 2>/dev/null && break; sleep 0.1; done
ws=${TEMPEST_WORKSPACE:-/tmp/tempest-lb}
TEMPEST_WORKSPACE=$ws OCTAVIA=true EXTRA_TEMPEST_CONF="${EXTRA_TEMPEST_CONF:-$here/test/tempest/octavia.conf}" \
  "$runner" "http://127.0.0.1:${ports[0]}/v3" admin secret admin "$regex"
rc=$?
[ $# -gt 0 ] && exit $rc
TEMPEST_WORKSPACE=$ws-amphora OCTAVIA=true EXTRA_TEMPEST_CONF="$here/test/tempest/octavia-amphora.conf" \
  "$runner" "http://127.0.0.1:${ports[0]}/v3" admin secret admin octavia_tempest_plugin.tests.api.v2.test_amphora
rc2=$?
# The key manager the TLS listeners read: Barbican's own API tests, less what is not built
# (test/tempest/barbican-exclude.txt, each line with its reason).
exclude=""
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  reason=$(printf '%s' "$line" | sed -nE 's/^[^#]*#[[:space:]]*(.+)$/\1/p')
  [ -n "$reason" ] || { echo "tempest-octavia: exclusion without a reason: $line" >&2; exit 2; }
  exclude="${exclude:+$exclude|}$(printf '%s' "$line" | sed -E 's/[[:space:]]+#.*$//')"
done < "$here/test/tempest/barbican-exclude.txt"
# The roles DevStack's Barbican plugin creates (Barbican's policy and its Tempest plugin name them).
/usr/bin/python3 - "http://127.0.0.1:${ports[0]}/v3" <<'PY' || { echo "tempest-octavia: could not create Barbican's roles" >&2; exit 2; }
import json, sys, urllib.request
base = sys.argv[1]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={'content-type': 'application/json', **({'x-auth-token': token} if token else {})})
    return urllib.request.urlopen(req)
auth = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {'name': 'admin', 'domain': {'id': 'default'}, 'password': 'secret'}}},
                 'scope': {'project': {'name': 'admin', 'domain': {'id': 'default'}}}}}
token = call('POST', '/auth/tokens', auth).headers['x-subject-token']
have = {r['name'] for r in json.load(call('GET', '/roles', token=token))['roles']}
for role in ('key-manager:service-admin', 'creator', 'observer', 'audit'):
    if role not in have:
        call('POST', '/roles', {'role': {'name': role}}, token)
PY
TEMPEST_WORKSPACE=$ws-barbican OCTAVIA=false EXCLUDE_REGEX="$exclude" EXTRA_TEMPEST_CONF="$here/test/tempest/octavia.conf" \
  "$runner" "http://127.0.0.1:${ports[0]}/v3" admin secret admin barbican_tempest_plugin.tests.api
rc3=$?
for r in $rc $rc2 $rc3; do [ "$r" -ne 0 ] && exit "$r"; done
exit 0
