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
. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" tempest-identity

REGEX=${1:-'^(tempest\.api\.identity\.|keystone_tempest_plugin\.tests\.api\.)'}
export TEMPEST_WORKSPACE=${TEMPEST_WORKSPACE:-/tmp/tempest-identity}

/usr/bin/python3 -c 'import keystone_tempest_plugin' 2>/dev/null \
    || { echo "keystone_tempest_plugin missing: apt-get install keystone-tempest-plugin" >&2; echo "0 passed, 0 failed, 0 skipped"; exit 2; }
EXCLUDE_REGEX=$(tempest_excludes "$ROOT/test/tempest/identity-exclude.txt") || exit 2
export EXCLUDE_REGEX
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_DEMO_PASSWORD=secret pocketstack_start

# What this Keystone offers, as tempest's [identity-feature-enabled] describes it. OS-OAUTH1 and
# OS-FEDERATION are not listed, so their suites skip themselves.
cat > "$DATA_DIR/extra.conf" <<CONF
[identity]
default_domain_id = default

[identity-feature-enabled]
trust = true
application_credentials = true
access_rules = true
project_tags = true
security_compliance = false
domain_specific_drivers = false
api_extensions = OS-EC2,OS-INHERIT,OS-TRUST,OS-EP-FILTER,OS-REVOKE,OS-PKI,OS-SIMPLE-CERT,s3tokens,OS-ENDPOINT-POLICY
federation = false
CONF

CONCURRENCY=${CONCURRENCY:-4} QUIET=${QUIET:-1} EXTRA_TEMPEST_CONF="$DATA_DIR/extra.conf" \
    "$RUNNER" "$IDENTITY" admin secret admin "$REGEX"
