#!/usr/bin/env bash
# The Neutron Tempest plugin's API tests (neutron_tempest_plugin.api, Debian's neutron-tempest-plugin)
# against a PocketStack started here: free loopback ports, a temporary data directory, dynamic
# credentials, the noop data plane. Tempest's api_extensions is exactly what GET /v2.0/extensions
# lists, and [neutron_plugin_options] says what this cloud has (below). Every test left out is in
# test/tempest/neutron-plugin-exclude.txt with its reason. Exits non-zero if any selected test fails.
#
#   scripts/tempest-neutron-plugin.sh [REGEX]
#
# Environment: TEMPEST_RUNNER, TEMPEST_WORKSPACE (default: a fresh temporary directory),
# CONCURRENCY (default 6), and the runner's own knobs pass through.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" tempest-neutron-plugin

REGEX=${1:-'^neutron_tempest_plugin\.api\.'}
EXCLUDE_REGEX=$(tempest_excludes "${EXCLUDE_FILE:-$ROOT/test/tempest/neutron-plugin-exclude.txt}") || exit 2
ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
WORKSPACE=${TEMPEST_WORKSPACE:-$(mktemp -d /tmp/pocketstack-tempest-ws.XXXXXX)}
# Debian's Tempest sleeps 10 s before every subnet delete: the run is mostly waiting, so more
# workers than cores shorten it.
export CONCURRENCY=${CONCURRENCY:-6}

# dns_domain as the gate job sets it (ports take their dns_name only outside openstacklocal).
POCKETSTACK_ADMIN_PASSWORD=$ADMIN_PASSWORD POCKETSTACK_DNS_DOMAIN=openstackgate.local pocketstack_start
TOKEN=$(admin_token "$ADMIN_PASSWORD")
EXTENSIONS=$(network_extensions "$TOKEN")
[ -n "$EXTENSIONS" ] || { echo "tempest-neutron-plugin: could not read the advertised extensions" >&2; exit 2; }

# The default subnet pools DevStack makes (USE_SUBNETPOOL, its IPV4_ADDRS_SAFE_TO_USE and
# SUBNETPOOL_PREFIX_V6), which auto-allocated topologies draw from.
for pool in '"name":"shared-default-subnetpool-v4","prefixes":["10.0.0.0/22"],"default_prefixlen":26' \
            '"name":"shared-default-subnetpool-v6","prefixes":["2001:db8:8000::/48"],"default_prefixlen":64'; do
  curl -sf -o /dev/null -H "x-auth-token: $TOKEN" -H 'content-type: application/json' "http://127.0.0.1:$P_NET/v2.0/subnetpools" \
    -d "{\"subnetpool\":{$pool,\"shared\":true,\"is_default\":true}}" \
    || { echo "tempest-neutron-plugin: could not create the default subnet pools" >&2; exit 2; }
done

# What this Neutron is, as the plugin's options describe a deployment:
# - type drivers flat, vlan and vxlan (ML2's type drivers here; vlan on physnet1, whose range is
#   POCKETSTACK_VLAN_RANGES, physnet1:100:199 by default, so provider segments start at 100);
# - the largest MTU a network may have: 1500 (physical networks; vxlan ones 1450);
# - one DHCP agent and one L3 agent (legacy: l3_agent_mode stays unset, the plugin's default),
#   both in availability zone nova;
# - a floating IP may be created with the address asked for;
# - shared resources may be created (QoS policies, RBAC): the tests that do it clean up after them.
cat > "$DATA_DIR/extra.conf" <<EOF
[neutron_plugin_options]
available_type_drivers = flat,vlan,vxlan
provider_vlans = physnet1
provider_net_base_segm_id = 100
max_mtu = 1500
agent_availability_zone = nova
specify_floating_ip_address_available = true
create_shared_resources = true
EOF

echo "tempest-neutron-plugin: PocketStack on identity :$P_ID network :$P_NET; workspace $WORKSPACE; $CONCURRENCY workers"
echo "tempest-neutron-plugin: extensions $EXTENSIONS"
status=0
TEMPEST_WORKSPACE=$WORKSPACE NETWORK_API_EXTENSIONS=$EXTENSIONS EXCLUDE_REGEX=$EXCLUDE_REGEX \
  EXTRA_TEMPEST_CONF="$DATA_DIR/extra.conf" QUIET=${QUIET:-1} \
  "$RUNNER" "$IDENTITY" admin "$ADMIN_PASSWORD" admin "$REGEX" || status=$?
if [ "$status" != 0 ] && [ -n "${KEEP_LOG:-}" ]; then cp "$DATA_DIR/server.log" "$KEEP_LOG" || true; fi
exit $status
