#!/usr/bin/env bash
# gophercloud-acceptance.sh - run Gophercloud's own acceptance tests (Go) against a PocketStack
# started here on free loopback ports (a fresh data directory, the noop data plane, stopped
# afterwards). Debian's golang-github-gophercloud-gophercloud-dev (0.12.0) ships them with the
# library's source (acceptance/openstack/...); upstream runs them against a DevStack, as admin,
# after its script/stackenv has made two flavors and exported the OS_* variables they read
# (acceptance/clients/clients.go). This script does the same here. Nobody here wrote these tests:
# like Tempest, what they find is what a Go user of the cloud would meet.
#
#   scripts/gophercloud-acceptance.sh [PACKAGE…]
#
# PACKAGEs are folders under acceptance/openstack (default: networking/v2 and every package of
# its extensions, compute/v2, identity/v3, imageservice/v2, loadbalancer/v2, keymanager/v1). Lines of
# test/gophercloud/exclude.txt ("PACKAGE [TEST]  # reason") leave out a whole package or one test
# of it, each with its reason. Built in GOPATH mode from Debian's Go packages, offline. Prints each
# package's `go test -v` output, then the counts (passed, failed, skipped) and the wall time; the
# exit status is 1 when a test failed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tempest-common.sh" gophercloud-acceptance

started=$(date +%s)
GC=github.com/gophercloud/gophercloud
export GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= GOTOOLCHAIN=local
# The compiled packages are kept between runs (the acceptance tests and the library compile in
# about a minute on two cores); any writable directory will do.
export GOCACHE=${GOCACHE:-${TMPDIR:-/tmp}/pocketstack-go-build}
[ -x /usr/bin/go ] || { echo "gophercloud-acceptance: Go is not installed (golang-go)" >&2; exit 2; }
[ -d "$GOPATH/src/$GC/acceptance" ] || { echo "gophercloud-acceptance: Gophercloud's acceptance tests are not installed (golang-github-gophercloud-gophercloud-dev)" >&2; exit 2; }

# Exclusions: "PACKAGE  # reason" (the whole package) or "PACKAGE TEST  # reason" (TEST the exact
# name of a top-level test); an entry without its reason is an error.
declare -A EXCLUDED_PKG=() EXCLUDED_TEST=()
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  entry=$(printf '%s' "$line" | sed -E 's/[[:space:]]+#.*$//')
  reason=$(printf '%s' "$line" | sed -nE 's/^[^#]*#[[:space:]]*(.+)$/\1/p')
  [ -n "$reason" ] || { echo "gophercloud-acceptance: exclusion without a reason: $line" >&2; exit 2; }
  read -r pkg test <<< "$entry"
  if [ -z "${test:-}" ]; then EXCLUDED_PKG[$pkg]=1; else EXCLUDED_TEST[$pkg $test]=1; fi
done < "$ROOT/test/gophercloud/exclude.txt"

if [ "$#" -gt 0 ]; then
  PACKAGES=("$@")
else
  PACKAGES=(networking/v2)
  while IFS= read -r d; do PACKAGES+=("${d#"$GOPATH/src/$GC/acceptance/openstack/"}"); done \
    < <(find "$GOPATH/src/$GC/acceptance/openstack/networking/v2/extensions" -name '*_test.go' -printf '%h\n' | sort -u)
  PACKAGES+=(compute/v2 identity/v3 imageservice/v2 loadbalancer/v2 keymanager/v1)
fi

# Each package's tests less its exclusions, as one anchored -run expression (Go 1.19 has no -skip).
# One `go test -list` over every package compiles them side by side (the runs below reuse the
# build cache) and prints each package's tests before its "ok" line. Tests that call
# clients.RequireNonAdmin would only skip as admin: they run in a pass of their own as the demo
# member (RUN_MEMBER), as upstream meets them when it runs as a member.
declare -A RUN=() RUN_MEMBER=()
SELECTED=()
candidates=()
for pkg in "${PACKAGES[@]}"; do [ -n "${EXCLUDED_PKG[$pkg]:-}" ] || candidates+=("$pkg"); done
listing=$(go test -tags "fixtures acceptance" -list '.*' "${candidates[@]/#/$GC/acceptance/openstack/}" 2>&1) \
  || { echo "gophercloud-acceptance: the acceptance tests do not build:" >&2; echo "$listing" >&2; exit 2; }
declare -A NAMES=()
names=""
while IFS= read -r line; do
  case "$line" in
    Test*) names="$names $line" ;;
    ok*) NAMES[${line##*"$GC/acceptance/openstack/"}]=$names; names="" ;;
  esac
done < <(printf '%s\n' "$listing" | sed -E 's/[[:space:]]+[0-9.]+s$//; s/[[:space:]]+\[no test files\]$//')
# An exclusion must name a test that exists: a stale one would hide nothing and say something false.
# (Checked for the packages listed here: a run of one package cannot see the others' tests.)
for key in "${!EXCLUDED_TEST[@]}"; do
  case " ${candidates[*]} " in *" ${key% *} "*) ;; *) continue ;; esac
  case " ${NAMES[${key% *}]:-} " in *" ${key#* } "*) ;; *) echo "gophercloud-acceptance: excluded test not found: $key" >&2; exit 2 ;; esac
done
for pkg in "${candidates[@]}"; do
  member=" $(awk '/^func Test/ {name = $2; sub(/\(.*/, "", name)} /clients\.RequireNonAdmin\(/ {print name}' \
    "$GOPATH/src/$GC/acceptance/openstack/$pkg"/*_test.go | tr '\n' ' ')"
  keep=() members=()
  for t in ${NAMES[$pkg]:-}; do
    [ -n "${EXCLUDED_TEST[$pkg $t]:-}" ] && continue
    case "$member" in *" $t "*) members+=("$t") ;; *) keep+=("$t") ;; esac
  done
  [ "${#keep[@]}" -gt 0 ] && RUN[$pkg]="^($(IFS='|'; echo "${keep[*]}"))\$"
  [ "${#members[@]}" -gt 0 ] && RUN_MEMBER[$pkg]="^($(IFS='|'; echo "${members[*]}"))\$"
  [ "${#keep[@]}" -gt 0 ] || [ "${#members[@]}" -gt 0 ] && SELECTED+=("$pkg")
done

# DevStack as upstream's networking job configures it: its neutron-dns service sets neutron.conf's
# dns_domain to openstackgate.local (neutron/devstack/lib/dns), without which Neutron ignores a
# port's dns_name (the dns tests set one). A real cloud's soft reboot or rebuild takes seconds; the
# tests look for REBOOT and REBUILD only after a second's sleep, so an action here stays in its
# transitional state for 3 s (PocketStack's default, 250 ms, is for speed).
POCKETSTACK_ADMIN_PASSWORD=secret POCKETSTACK_DEMO_PASSWORD=secret POCKETSTACK_DNS_DOMAIN=openstackgate.local \
  POCKETSTACK_COMPUTE_ACTION_MS=${POCKETSTACK_COMPUTE_ACTION_MS:-3000} pocketstack_start --initial-networks

# What upstream's script/stackenv makes besides what PocketStack's first start does (with
# --initial-networks, DevStack's: the demo project's `private` network behind its router1), through
# openstacksdk in one process: the flavors m1.acctest (id 99) and m1.resize (id 98). It prints the
# ids the OS_* variables carry.
cat > "$DATA_DIR/clouds.yaml" <<EOF
clouds:
  admin:
    auth: {auth_url: "$IDENTITY", username: admin, password: secret, project_name: admin, user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
  demo:
    auth: {auth_url: "$IDENTITY", username: demo, password: secret, project_name: demo, user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
EOF
OS_CLIENT_CONFIG_FILE="$DATA_DIR/clouds.yaml" /usr/bin/python3 - > "$DATA_DIR/ids" <<'PY' || { echo "gophercloud-acceptance: could not make stackenv's flavors" >&2; exit 2; }
import openstack

admin = openstack.connect(cloud='admin')
admin.compute.create_flavor(name='m1.acctest', id='99', ram=512, disk=10, vcpus=1, ephemeral=10)
admin.compute.create_flavor(name='m1.resize', id='98', ram=512, disk=11, vcpus=1, ephemeral=10)
demo = openstack.connect(cloud='demo')
net = demo.network.find_network('private', ignore_missing=False)
subnet = demo.network.find_subnet('private-subnet', ignore_missing=False)
public = demo.network.find_network('public', ignore_missing=False)
image = next(i for i in admin.image.images() if 'cirros' in i.name.lower())
print(net.id, subnet.id, public.id, image.id, image.name)
PY
read -r NETWORK_ID SUBNET_ID EXTGW_ID IMAGE_ID IMAGE_NAME < "$DATA_DIR/ids"

# upstream's stackenv: `source openrc admin admin` plus what it appends to openrc. OS_BRANCH is
# what upstream's jobs set to the DevStack branch: the tests skip themselves (clients.SkipRelease)
# where upstream knows them broken — on master, the compute quota-set tests (they look the project
# up through Keystone's v2.0 API, gone since Queens) and TestRolesFilterList (it lists a
# domain-specific role without domain_id, which Keystone answers with global roles only).
# OS_PORTFORWARDING_ENVIRONMENT says floating IP port forwarding is served, as upstream's
# networking job enables it (neutron-port-forwarding) and PocketStack serves it.
export OS_AUTH_URL=$IDENTITY OS_USERNAME=admin OS_PASSWORD=secret OS_PROJECT_NAME=admin OS_TENANT_NAME=admin \
  OS_DOMAIN_ID=default OS_REGION_NAME=RegionOne OS_IDENTITY_API_VERSION=3 OS_BRANCH=master \
  OS_IMAGE_ID=$IMAGE_ID OS_IMAGE_NAME=$IMAGE_NAME OS_NETWORK_ID=$NETWORK_ID OS_NETWORK_NAME=private \
  OS_SUBNET_ID=$SUBNET_ID OS_EXTGW_ID=$EXTGW_ID OS_POOL_NAME=public OS_FLAVOR_ID=99 OS_FLAVOR_ID_RESIZE=98 \
  OS_PORTFORWARDING_ENVIRONMENT=1

# One `go test` per package (each with its own -run), in two lanes: compute/v2 (servers: mostly
# waiting, two minutes) beside all the others one after another, as upstream's
# script/acceptancetest runs them. The lanes share no object: every test makes and deletes its
# own, under its own random name (a network lane's quota test changes the quotas of a project
# literally named "admin", not the admin project). Each package's output is kept and printed in
# order at the end.
mkdir -p "$DATA_DIR/go"
gotest() { # PACKAGE RUN-EXPRESSION LOG
  go test -v -count=1 -timeout 20m -tags "fixtures acceptance" -run "$2" "$GC/acceptance/openstack/$1" > "$3" 2>&1 \
    || echo "$1" >> "$DATA_DIR/go/failed-packages"
}
lane() { for pkg in "$@"; do [ -z "${RUN[$pkg]:-}" ] || gotest "$pkg" "${RUN[$pkg]}" "$DATA_DIR/go/${pkg//\//_}.log"; done; }
FIRST=() REST=()
for pkg in "${SELECTED[@]}"; do if [ "$pkg" = compute/v2 ]; then FIRST+=("$pkg"); else REST+=("$pkg"); fi; done
lane "${FIRST[@]}" &
lane_pid=$!
lane "${REST[@]}"
wait "$lane_pid"
# Then the member pass, as the demo project's member on its own project.
for pkg in "${SELECTED[@]}"; do
  [ -z "${RUN_MEMBER[$pkg]:-}" ] && continue
  OS_USERNAME=demo OS_PROJECT_NAME=demo OS_TENANT_NAME=demo gotest "$pkg" "${RUN_MEMBER[$pkg]}" "$DATA_DIR/go/${pkg//\//_}.member.log"
done
OUT="$DATA_DIR/go-test.log"
for pkg in "${SELECTED[@]}"; do
  for f in "$DATA_DIR/go/${pkg//\//_}.log" "$DATA_DIR/go/${pkg//\//_}.member.log"; do [ -f "$f" ] && cat "$f"; done
done > "$OUT"
cat "$OUT"
status=0
[ -s "$DATA_DIR/go/failed-packages" ] && status=1

# Top-level results only (subtests are indented).
passed=$(grep -c '^--- PASS' "$OUT")
failed=$(grep -c '^--- FAIL' "$OUT")
skipped=$(grep -c '^--- SKIP' "$OUT")
elapsed=$(($(date +%s) - started))
echo "gophercloud-acceptance: $passed passed, $failed failed, $skipped skipped in ${#SELECTED[@]} packages; $((elapsed / 60)) min $((elapsed % 60)) s"
if [ "$failed" -gt 0 ]; then
  echo "gophercloud-acceptance: failed:"
  grep '^--- FAIL' "$OUT" | sed 's/^/  /'
fi
if [ "$status" -ne 0 ]; then
  echo "--- gophercloud-acceptance: the PocketStack server's log (last 400 lines) ---"
  tail -n 400 "$DATA_DIR/server.log"
fi
exit "$status"
