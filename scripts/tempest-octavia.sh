#!/usr/bin/env bash
# Octavia's own API tests (octavia_tempest_plugin.tests.api.v2) against a PocketStack started
# here on free loopback ports, with the noop network driver the suite's noop mode needs (VIP and
# member subnets are random UUIDs there). Two passes on the same server: the whole suite with the
# pocketstack provider (test/tempest/octavia.conf; the amphora API tests skip themselves for any
# provider but amphora), then those amphora API tests with the amphora provider
# (octavia-amphora.conf), then Barbican's API tests against the key manager (less
# test/tempest/barbican-exclude.txt, with test/tempest/barbican.conf). Prints each pass's "N passed,
# M failed, K skipped".
#   scripts/tempest-octavia.sh [REGEX]      (a REGEX runs that selection alone, first pass only)
#   scripts/tempest-octavia.sh --barbican   (the key-manager pass alone)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" tempest-octavia
here=$ROOT
barbican_only=false
if [ "${1:-}" = --barbican ]; then barbican_only=true; shift; fi
regex=${1:-octavia_tempest_plugin.tests.api.v2}
runner=$RUNNER
pocketstack_ports 6
# npm test has built dist/ already (POCKETSTACK_BUILT=1): rebuilding under servers other suites run
# from it would rewrite files they may be loading.
[ -n "${POCKETSTACK_BUILT:-}" ] || (cd "$here" && npx tsc -p tsconfig.build.json && node scripts/bundle.mjs) || exit 2
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_LB_NETWORK_DRIVER=noop pocketstack_start
ws=${TEMPEST_WORKSPACE:-/tmp/tempest-lb}
rc=0 rc2=0
if ! $barbican_only; then
  TEMPEST_WORKSPACE=$ws OCTAVIA=true EXTRA_TEMPEST_CONF="${EXTRA_TEMPEST_CONF:-$here/test/tempest/octavia.conf}" \
    "$runner" "$IDENTITY" admin secret admin "$regex"
  rc=$?
  [ $# -gt 0 ] && exit $rc
  TEMPEST_WORKSPACE=$ws-amphora OCTAVIA=true EXTRA_TEMPEST_CONF="$here/test/tempest/octavia-amphora.conf" \
    "$runner" "$IDENTITY" admin secret admin octavia_tempest_plugin.tests.api.v2.test_amphora
  rc2=$?
fi
# The key manager the TLS listeners read: Barbican's own API tests, less what is not built
# (test/tempest/barbican-exclude.txt, each line with its reason).
exclude=$(tempest_excludes "$here/test/tempest/barbican-exclude.txt") || exit 2
# The roles DevStack's Barbican plugin creates (Barbican's policy and its Tempest plugin name them).
/usr/bin/python3 - "$IDENTITY" <<'PY' || { echo "tempest-octavia: could not create Barbican's roles" >&2; exit 2; }
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
TEMPEST_WORKSPACE=$ws-barbican OCTAVIA=false EXCLUDE_REGEX="$exclude" EXTRA_TEMPEST_CONF="$here/test/tempest/barbican.conf" \
  "$runner" "$IDENTITY" admin secret admin barbican_tempest_plugin.tests.api
rc3=$?
for r in $rc $rc2 $rc3; do [ "$r" -ne 0 ] && exit "$r"; done
exit 0
