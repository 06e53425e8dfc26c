"""pytest plugin for scripts/sdk-functional.sh: which of openstacksdk's functional test files share a
pytest-xdist worker (`--dist loadgroup`).

Upstream runs these tests one at a time (tox's functional env: `stestr run --serial`), so nothing in
them keeps names apart between tests. The script runs them on several workers: the tests of one file
always stay together (they name things the same way: every test of cloud/test_network.py makes a
`network-1`), and the files below, which name things the same way as another file, stay together
with it. testtools' getUniqueString(prefix) is prefix-<counter of the test>, so `network-1` is made
by every test of several files, and their cleanups delete what starts with that name, whoever made
it.
"""

import pytest

# group -> files (paths relative to openstack/tests/functional); a file not listed is its own group.
SHARED_NAMES = {
    # getUniqueString('network') and friends: network-1, network-2 (test_router's prefix, and the name
    # test_update_network renames to); test_network's and test_router's cleanups delete every
    # network whose name starts with theirs.
    'network-n': (
        'cloud/test_network.py',
        'cloud/test_router.py',
        'cloud/test_project_cleanup.py',
        'network/v2/test_agent_add_remove_network.py',
    ),
    # Nova flavors named flavor-1 by both, looked up by name.
    'flavor-n': ('cloud/test_flavor.py', 'compute/v2/test_flavor.py'),
    # qos_policy-1 in the same project, found by name.
    'qos_policy-n': (
        'cloud/test_qos_policy.py',
        'cloud/test_qos_bandwidth_limit_rule.py',
        'cloud/test_qos_dscp_marking_rule.py',
        'cloud/test_qos_minimum_bandwidth_rule.py',
    ),
    # user-1, group-1, domain-1, project-1 in the Default domain, where Keystone refuses a second
    # user or group of the same name; the cleanups delete by prefix.
    'identity-n': (
        'cloud/test_users.py',
        'cloud/test_identity.py',
        'cloud/test_groups.py',
        'cloud/test_domain.py',
        'cloud/test_project.py',
    ),
}

GROUP_OF = {path: group for group, paths in SHARED_NAMES.items() for path in paths}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # Before xdist's own hook, which reads the mark to suffix the node id with the group.
    for item in items:
        path = item.nodeid.split('::', 1)[0]
        item.add_marker(pytest.mark.xdist_group(GROUP_OF.get(path, path)))
