#!/usr/bin/env bash
# sdk-functional.sh - run openstacksdk's own functional tests against a PocketStack started here on
# free loopback ports (a fresh data directory, stopped afterwards). Debian's python3-openstacksdk
# ships them (openstack/tests/functional); upstream runs them against a DevStack, with the clouds
# devstack (a member), devstack-alt (a member of another project) and devstack-admin, which this
# script writes into a clouds.yaml of its own. Nobody here wrote these tests: like Tempest, what
# they find is what an SDK user would meet.
#
#   scripts/sdk-functional.sh [SUITE…]
#
# SUITEs are folders of openstack/tests/functional (default: network compute image identity cloud
# load_balancer; `examples` needs the examples package of openstacksdk's source tree, which Debian
# does not ship). Tests listed in test/sdk/functional-exclude.txt ("NODE-ID-PREFIX  # reason") are
# deselected, each with its reason. Each pytest run ends with its summary line; the exit status is
# 1 when any run failed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" sdk-functional

SUITES=${*:-network compute image identity cloud load_balancer}
TESTS=/usr/lib/python3/dist-packages/openstack/tests/functional
[ -d "$TESTS" ] || { echo "sdk-functional: openstacksdk's functional tests are not installed (python3-openstacksdk)" >&2; exit 2; }
/usr/bin/python3 -c 'import pytest, xdist' 2>/dev/null || { echo "sdk-functional: needs python3-pytest and python3-pytest-xdist" >&2; exit 2; }

# A DevStack's initial networking (lib/neutron_plugins/services/l3, create_neutron_initial_network):
# its shared default subnet pools (auto-allocated topology), and the demo project's `private`
# network and `router1`. The cloud layer's create_server without a network sends networks 'auto',
# and Nova then boots on the project's one network: `private`.
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_DEMO_PASSWORD=secret pocketstack_start --default-subnetpools --initial-networks

cloud() {
  printf '  %s:\n    auth: {auth_url: "%s", username: %s, password: secret, project_name: %s, user_domain_name: Default, project_domain_name: Default}\n    region_name: RegionOne\n    identity_api_version: 3\n' "$1" "$IDENTITY" "$2" "$2"
}
{
  echo 'clouds:'
  cloud devstack demo
  cloud devstack-alt alt_demo
  cloud devstack-admin admin
} > "$DATA_DIR/clouds.yaml"

# What DevStack makes besides what PocketStack's first start does, through openstacksdk in one
# process (a CLI call each would cost seconds): the third cloud's member of a project of its own.
OS_CLIENT_CONFIG_FILE="$DATA_DIR/clouds.yaml" /usr/bin/python3 - <<'PY' || { echo "sdk-functional: could not make DevStack's alt_demo project" >&2; exit 2; }
import openstack

admin = openstack.connect(cloud='devstack-admin')
domain = admin.identity.find_domain('Default', ignore_missing=False)
project = admin.identity.create_project(name='alt_demo', domain_id=domain.id)
user = admin.identity.create_user(name='alt_demo', password='secret', domain_id=domain.id, default_project_id=project.id)
admin.identity.assign_project_role_to_user(project, user, admin.identity.find_role('member', ignore_missing=False))
PY

# Deselections: "NODE-ID-PREFIX  # reason" (node ids relative to $TESTS, pytest's rootdir here); a
# prefix without its reason is an error.
DESELECT=()
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  id=$(printf '%s' "$line" | sed -E 's/[[:space:]]+#.*$//')
  reason=$(printf '%s' "$line" | sed -nE 's/^[^#]*#[[:space:]]*(.+)$/\1/p')
  [ -n "$reason" ] || { echo "sdk-functional: exclusion without a reason: $line" >&2; exit 2; }
  DESELECT+=(--deselect "$id")
done < "$ROOT/test/sdk/functional-exclude.txt"

# The load-balancer tests put their VIP on the first subnet an admin lists, whoever owns it: beside
# the other suites that may be a subnet another test is about to delete (the VIP port then blocks
# that delete, or the subnet is gone before the load balancer is made). They run after the others.
# The cloud layer's server tests (cloud/test_compute.py) boot without naming a network, which Nova
# refuses as ambiguous once the demo project has a second network: other tests make theirs there,
# and some leave them (upstream's serial run reaches cloud/test_compute.py before them). They run
# alone, first.
FIRST=() ALONE=() LAST=()
for s in $SUITES; do
  case "$s" in
    load_balancer) LAST+=("$TESTS/$s") ;;
    cloud) FIRST+=("$TESTS/$s" --ignore "$TESTS/cloud/test_compute.py") ALONE+=("$TESTS/cloud/test_compute.py") ;;
    *) FIRST+=("$TESTS/$s") ;;
  esac
done
# compute's test_service disables the compute service, and forces it down, for a moment: a server
# scheduled then finds no host (NoValidHost, as Nova's ComputeFilter refuses a disabled or down
# service), which failed CI once. It runs in the second run, where no test boots a server.
NOT_FIRST=()
case " $SUITES " in
  *" compute "*)
    NOT_FIRST=(--deselect compute/v2/test_service.py)
    LAST+=("$TESTS/compute/v2/test_service.py")
    ;;
esac

# The image tests upload ./CONTRIBUTING.rst (upstream runs them from its source tree).
mkdir -p "$DATA_DIR/work" && printf 'openstacksdk functional test data\n' > "$DATA_DIR/work/CONTRIBUTING.rst"
cd "$DATA_DIR/work" || exit 2
# OS_TEST_TIMEOUT is upstream tox's per-test limit; the tests poll load balancers every 2 s, so
# they run on several workers (pytest-xdist), each test in a project of the clouds above.
run() {
  OS_CLIENT_CONFIG_FILE="$DATA_DIR/clouds.yaml" OS_TEST_TIMEOUT=${OS_TEST_TIMEOUT:-600} \
    /usr/bin/python3 -m pytest -p no:cacheprovider --rootdir "$TESTS" -q -rfE -n "${SDK_WORKERS:-6}" "${DESELECT[@]}" "$@"
}
status=0
# Tests of one file share names (every application-credential test makes one named app_cred for the
# same user, which Keystone refuses twice), and some files share them with another: test/sdk/
# xdist_groups.py puts each file, or each such set of files, on one worker. The load-balancer tests
# name everything uniquely and are one file of 58 that waits on each load balancer: they spread over
# the workers.
if [ "${#ALONE[@]}" -gt 0 ]; then SDK_WORKERS=0 run "${ALONE[@]}" || status=1; fi
if [ "${#FIRST[@]}" -gt 0 ]; then
  PYTHONPATH="$ROOT/test/sdk${PYTHONPATH:+:$PYTHONPATH}" run -p xdist_groups --dist loadgroup "${NOT_FIRST[@]}" "${FIRST[@]}" || status=1
fi
if [ "${#LAST[@]}" -gt 0 ]; then run --dist load "${LAST[@]}" || status=1; fi
# The server's log (warnings and errors: a server in ERROR is logged with its fault) goes with a
# failure, since the data directory does not outlive this script.
if [ "$status" -ne 0 ]; then
  echo "--- sdk-functional: the PocketStack server's log (last 400 lines) ---"
  tail -n 400 "$DATA_DIR/server.log"
fi
exit "$status"
