/** The other extensions of issue 11. */
import { S } from '../scenario.js';
import { extNet, routerOn, tenantNet } from './common.js';

export function rbac() {
  const s = new S(
    'rbac-policies',
    'RBAC: access_as_shared / access_as_external on networks, and sharing security groups, address scopes, subnet pools, address groups; removal while in use',
    ['rbac-policies', 'rbac-security-groups', 'rbac-address-scope', 'rbac-subnetpool', 'rbac-address-group'],
  );
  tenantNet(s, 'member', 'net', 'gold-rbac-net', '10.40.0.0/24');
  s.post(
    'member',
    'share network with B',
    '/v2.0/rbac-policies',
    {
      rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_shared', target_tenant: '${projectB}' },
    },
    { bind: { rp: 'rbac_policy.id' }, expect: 201 },
  );
  s.get('member', 'show policy', '/v2.0/rbac-policies/${rp}', { expect: 200 });
  s.get('member', 'list policies', '/v2.0/rbac-policies?object_id=${net}', { expect: 200 });
  s.get('alt', 'B sees network', '/v2.0/networks/${net}', { expect: 200 });
  s.get('alt', 'B list shared=false', '/v2.0/networks?id=${net}&fields=id&fields=shared', {});
  s.get('alt', 'B list shared=true', '/v2.0/networks?id=${net}&shared=true&fields=id', {});
  s.get('alt', 'B cannot see policy', '/v2.0/rbac-policies/${rp}', { expect: 404 });
  s.post('alt', 'B port on shared', '/v2.0/ports', { port: { network_id: '${net}' } }, { bind: { altPort: 'port.id' }, expect: 201 });
  s.del('member', 'remove while in use', '/v2.0/rbac-policies/${rp}', { expect: 409 });
  s.put('member', 'retarget while in use', '/v2.0/rbac-policies/${rp}', { rbac_policy: { target_tenant: 'someone-else' } }, { expect: 409 });
  s.post(
    'member',
    'duplicate',
    '/v2.0/rbac-policies',
    {
      rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_shared', target_tenant: '${projectB}' },
    },
    { expect: 409 },
  );
  s.post(
    'member',
    'wildcard by member',
    '/v2.0/rbac-policies',
    {
      rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_shared', target_tenant: '*' },
    },
    { expect: 403 },
  );
  s.post(
    'member',
    'external by member',
    '/v2.0/rbac-policies',
    {
      rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_external', target_tenant: '${projectB}' },
    },
    { bind: { rpExtMember: 'rbac_policy.id' } },
  );
  s.get('member', 'network after member external', '/v2.0/networks/${net}?fields=router:external&fields=shared', {});
  s.del('member', 'member removes external', '/v2.0/rbac-policies/${rpExtMember}', {});
  s.post(
    'member',
    'bad action',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_owner', target_tenant: '*' } },
    { expect: 403 },
  );
  s.post(
    'member',
    'bad object type',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'router', object_id: '${net}', action: 'access_as_shared', target_tenant: '*' } },
    { expect: 400 },
  );
  s.post('alt', 'B shares A network', '/v2.0/rbac-policies', {
    rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_shared', target_tenant: '*' },
  });
  s.del('alt', 'B port gone', '/v2.0/ports/${altPort}', { expect: 204 });
  s.del('member', 'remove', '/v2.0/rbac-policies/${rp}', { expect: 204 });
  s.get('alt', 'B no longer sees', '/v2.0/networks/${net}', { expect: 404 });
  s.post(
    'admin',
    'admin wildcard share',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_shared', target_tenant: '*' } },
    {
      bind: { rpAll: 'rbac_policy.id' },
      expect: 201,
    },
  );
  s.get('alt', 'B sees shared true', '/v2.0/networks/${net}', { expect: 200 });
  s.del('admin', 'admin remove wildcard', '/v2.0/rbac-policies/${rpAll}', { expect: 204 });
  s.post(
    'admin',
    'external to B',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'network', object_id: '${net}', action: 'access_as_external', target_tenant: '${projectB}' } },
    {
      bind: { rpExt: 'rbac_policy.id' },
      expect: 201,
    },
  );
  s.get('alt', 'B sees external', '/v2.0/networks/${net}', { expect: 200 });
  s.get('member', 'owner sees router:external', '/v2.0/networks/${net}?fields=router:external&fields=shared', { expect: 200 });
  s.del('admin', 'remove external', '/v2.0/rbac-policies/${rpExt}', { expect: 204 });
  s.post('member', 'security group', '/v2.0/security-groups', { security_group: { name: 'gold-rbac-sg' } }, { bind: { sg: 'security_group.id' }, expect: 201 });
  s.post(
    'member',
    'share security group',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'security_group', object_id: '${sg}', action: 'access_as_shared', target_tenant: '${projectB}' } },
    {
      bind: { rpSg: 'rbac_policy.id' },
      expect: 201,
    },
  );
  s.get('alt', 'B sees security group', '/v2.0/security-groups/${sg}', { expect: 200 });
  s.post('alt', 'B network', '/v2.0/networks', { network: { name: 'gold-rbac-alt' } }, { bind: { altNet: 'network.id' }, expect: 201 });
  s.post(
    'alt',
    'B port with shared group',
    '/v2.0/ports',
    { port: { network_id: '${altNet}', security_groups: ['${sg}'] } },
    { bind: { altSgPort: 'port.id' }, expect: 201 },
  );
  s.del('member', 'unshare group in use', '/v2.0/rbac-policies/${rpSg}', { expect: 409 });
  s.post('alt', 'B rule on shared group refused', '/v2.0/security-group-rules', { security_group_rule: { security_group_id: '${sg}', direction: 'ingress' } });
  s.del('alt', 'B port with group gone', '/v2.0/ports/${altSgPort}', { expect: 204 });
  s.del('member', 'unshare group', '/v2.0/rbac-policies/${rpSg}', { expect: 204 });
  s.post(
    'admin',
    'address scope',
    '/v2.0/address-scopes',
    { address_scope: { name: 'gold-rbac-scope', ip_version: 4, project_id: '${projectA}' } },
    {
      bind: { scope: 'address_scope.id' },
      expect: 201,
    },
  );
  s.post(
    'member',
    'share scope',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'address_scope', object_id: '${scope}', action: 'access_as_shared', target_tenant: '${projectB}' } },
    {
      bind: { rpScope: 'rbac_policy.id' },
      expect: 201,
    },
  );
  s.get('alt', 'B sees scope', '/v2.0/address-scopes/${scope}', { expect: 200 });
  s.post(
    'alt',
    'B pool in shared scope',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'gold-rbac-altpool', prefixes: ['10.41.0.0/16'], address_scope_id: '${scope}' } },
    {
      bind: { altPool: 'subnetpool.id' },
      expect: 201,
    },
  );
  s.del('member', 'unshare scope in use', '/v2.0/rbac-policies/${rpScope}', { expect: 409 });
  s.del('alt', 'B pool gone', '/v2.0/subnetpools/${altPool}', { expect: 204 });
  s.del('member', 'unshare scope', '/v2.0/rbac-policies/${rpScope}', { expect: 204 });
  s.post(
    'member',
    'subnet pool',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'gold-rbac-pool', prefixes: ['10.42.0.0/16'], default_prefixlen: 24 } },
    {
      bind: { pool: 'subnetpool.id' },
      expect: 201,
    },
  );
  s.post(
    'member',
    'share pool',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'subnetpool', object_id: '${pool}', action: 'access_as_shared', target_tenant: '${projectB}' } },
    {
      bind: { rpPool: 'rbac_policy.id' },
      expect: 201,
    },
  );
  s.get('alt', 'B sees pool', '/v2.0/subnetpools/${pool}', { expect: 200 });
  s.post(
    'alt',
    'B subnet from pool',
    '/v2.0/subnets',
    { subnet: { network_id: '${altNet}', subnetpool_id: '${pool}', ip_version: 4 } },
    { bind: { altSub: 'subnet.id' }, expect: 201 },
  );
  s.del('member', 'unshare pool in use', '/v2.0/rbac-policies/${rpPool}', { expect: 409 });
  s.del('alt', 'B subnet gone', '/v2.0/subnets/${altSub}', { expect: 204 });
  s.del('member', 'unshare pool', '/v2.0/rbac-policies/${rpPool}', { expect: 204 });
  s.post(
    'member',
    'address group',
    '/v2.0/address-groups',
    { address_group: { name: 'gold-rbac-ag', addresses: ['10.43.0.0/24'] } },
    { bind: { ag: 'address_group.id' }, expect: 201 },
  );
  s.post(
    'member',
    'share address group',
    '/v2.0/rbac-policies',
    { rbac_policy: { object_type: 'address_group', object_id: '${ag}', action: 'access_as_shared', target_tenant: '${projectB}' } },
    {
      bind: { rpAg: 'rbac_policy.id' },
      expect: 201,
    },
  );
  s.get('alt', 'B sees address group', '/v2.0/address-groups/${ag}', { expect: 200 });
  s.post('alt', 'B group', '/v2.0/security-groups', { security_group: { name: 'gold-rbac-altsg' } }, { bind: { altSg: 'security_group.id' }, expect: 201 });
  s.post(
    'alt',
    'B rule with shared address group',
    '/v2.0/security-group-rules',
    {
      security_group_rule: { security_group_id: '${altSg}', direction: 'ingress', remote_address_group_id: '${ag}' },
    },
    { bind: { altRule: 'security_group_rule.id' }, expect: 201 },
  );
  s.del('member', 'unshare address group in use', '/v2.0/rbac-policies/${rpAg}', { expect: 409 });
  s.del('alt', 'B rule gone', '/v2.0/security-group-rules/${altRule}', { expect: 204 });
  s.del('member', 'unshare address group', '/v2.0/rbac-policies/${rpAg}', { expect: 204 });
  s.get('alt', 'B no longer sees address group', '/v2.0/address-groups/${ag}', { expect: 404 });
  return s.done();
}

export function addressScopes() {
  const s = new S('address-scope', 'address scopes: create, shared, subnet pool binding, network address scope, in use', ['address-scope']);
  s.post(
    'member',
    'create',
    '/v2.0/address-scopes',
    { address_scope: { name: 'gold-scope', ip_version: 4 } },
    { bind: { scope: 'address_scope.id' }, expect: 201 },
  );
  s.get('member', 'show', '/v2.0/address-scopes/${scope}', { expect: 200 });
  s.post('member', 'member shared refused', '/v2.0/address-scopes', { address_scope: { name: 'x', ip_version: 4, shared: true } }, { expect: 403 });
  s.post('member', 'bad version', '/v2.0/address-scopes', { address_scope: { name: 'x', ip_version: 5 } }, { expect: 400 });
  s.post('member', 'missing version', '/v2.0/address-scopes', { address_scope: { name: 'x' } }, { expect: 400 });
  s.put('member', 'update', '/v2.0/address-scopes/${scope}', { address_scope: { name: 'gold-scope-b' } }, { expect: 200 });
  s.put('member', 'update version refused', '/v2.0/address-scopes/${scope}', { address_scope: { ip_version: 6 } }, { expect: 400 });
  s.post(
    'member',
    'pool in scope',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'gold-scope-pool', prefixes: ['10.44.0.0/16'], address_scope_id: '${scope}', default_prefixlen: 24 } },
    {
      bind: { pool: 'subnetpool.id' },
      expect: 201,
    },
  );
  s.post(
    'member',
    'overlapping pool in scope',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'x', prefixes: ['10.44.128.0/17'], address_scope_id: '${scope}' } },
    { expect: 409 },
  );
  s.post(
    'member',
    'v6 pool in v4 scope',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'x', prefixes: ['fd00:44::/48'], address_scope_id: '${scope}' } },
    { expect: 400 },
  );
  s.post('member', 'network', '/v2.0/networks', { network: { name: 'gold-scope-net' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.post(
    'member',
    'subnet from pool',
    '/v2.0/subnets',
    { subnet: { network_id: '${net}', subnetpool_id: '${pool}', ip_version: 4 } },
    { bind: { sub: 'subnet.id' }, expect: 201 },
  );
  s.get('member', 'network address scope', '/v2.0/networks/${net}', { expect: 200 });
  s.get('member', 'list', '/v2.0/address-scopes?name=gold-scope-b', { expect: 200 });
  s.get('alt', 'alt cannot see', '/v2.0/address-scopes/${scope}', { expect: 404 });
  s.del('member', 'delete in use', '/v2.0/address-scopes/${scope}', { expect: 409 });
  s.put('member', 'unbind pool', '/v2.0/subnetpools/${pool}', { subnetpool: { address_scope_id: null } }, { expect: 200 });
  s.get('member', 'network scope after unbind', '/v2.0/networks/${net}?fields=ipv4_address_scope', { expect: 200 });
  s.del('member', 'delete', '/v2.0/address-scopes/${scope}', { expect: 204 });
  s.post(
    'admin',
    'shared scope',
    '/v2.0/address-scopes',
    { address_scope: { name: 'gold-scope-shared', ip_version: 6, shared: true } },
    { bind: { scope6: 'address_scope.id' }, expect: 201 },
  );
  s.get('alt', 'alt sees shared', '/v2.0/address-scopes/${scope6}', { expect: 200 });
  s.del('admin', 'delete shared', '/v2.0/address-scopes/${scope6}', { expect: 204 });
  return s.done();
}

export function addressGroups() {
  const s = new S('address-group', 'address groups: create, add/remove addresses, remote_address_group_id in security group rules, in use', [
    'address-group',
    'security-groups-remote-address-group',
  ]);
  s.post(
    'member',
    'create',
    '/v2.0/address-groups',
    { address_group: { name: 'gold-ag', description: 'd', addresses: ['10.45.0.1/32', '10.45.1.0/24'] } },
    {
      bind: { ag: 'address_group.id' },
      expect: 201,
    },
  );
  s.get('member', 'show', '/v2.0/address-groups/${ag}', { expect: 200 });
  s.post('member', 'address without prefix length', '/v2.0/address-groups', { address_group: { name: 'x', addresses: ['10.45.0.1'] } }, { expect: 400 });
  s.put('member', 'add addresses', '/v2.0/address-groups/${ag}/add_addresses', { addresses: ['10.45.2.0/24', 'fd00:45::/64'] }, { expect: 200 });
  s.put('member', 'add existing', '/v2.0/address-groups/${ag}/add_addresses', { addresses: ['10.45.2.0/24'] }, { expect: 400 });
  s.put('member', 'remove addresses', '/v2.0/address-groups/${ag}/remove_addresses', { addresses: ['10.45.0.1/32'] }, { expect: 200 });
  s.put('member', 'remove absent', '/v2.0/address-groups/${ag}/remove_addresses', { addresses: ['10.45.9.0/24'] }, { expect: 404 });
  s.put('member', 'bad address', '/v2.0/address-groups/${ag}/add_addresses', { addresses: ['nope'] }, { expect: 400 });
  s.put('member', 'update', '/v2.0/address-groups/${ag}', { address_group: { name: 'gold-ag-b' } }, { expect: 200 });
  s.put('member', 'update addresses refused', '/v2.0/address-groups/${ag}', { address_group: { addresses: [] } }, { expect: 400 });
  s.post('member', 'security group', '/v2.0/security-groups', { security_group: { name: 'gold-ag-sg' } }, { bind: { sg: 'security_group.id' }, expect: 201 });
  s.post(
    'member',
    'rule with address group',
    '/v2.0/security-group-rules',
    {
      security_group_rule: {
        security_group_id: '${sg}',
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: 22,
        port_range_max: 22,
        remote_address_group_id: '${ag}',
      },
    },
    { bind: { rule: 'security_group_rule.id' }, expect: 201 },
  );
  s.post(
    'member',
    'rule with address group and prefix',
    '/v2.0/security-group-rules',
    {
      security_group_rule: { security_group_id: '${sg}', direction: 'ingress', remote_address_group_id: '${ag}', remote_ip_prefix: '10.0.0.0/8' },
    },
    { expect: 400 },
  );
  s.post(
    'member',
    'rule with missing address group',
    '/v2.0/security-group-rules',
    {
      security_group_rule: { security_group_id: '${sg}', direction: 'ingress', remote_address_group_id: '11111111-2222-3333-4444-555555555555' },
    },
    { expect: 404 },
  );
  s.get('member', 'rules by address group', '/v2.0/security-group-rules?remote_address_group_id=${ag}', { expect: 200 });
  s.get('alt', 'alt cannot see', '/v2.0/address-groups/${ag}', { expect: 404 });
  s.del('member', 'delete in use', '/v2.0/address-groups/${ag}', { expect: 409 });
  s.del('member', 'delete rule', '/v2.0/security-group-rules/${rule}', { expect: 204 });
  s.del('member', 'delete', '/v2.0/address-groups/${ag}', { expect: 204 });
  return s.done();
}

export function portForwarding() {
  const s = new S('floating-ip-port-forwarding', 'floating IP port forwardings: single ports, ranges, description, conflicts', [
    'floating-ip-port-forwarding',
    'floating-ip-port-forwarding-description',
    'floating-ip-port-forwarding-port-ranges',
    'floating-ip-port-forwarding-detail',
    'expose-port-forwarding-in-fip',
  ]);
  extNet(s, 'ext', 'gold-pf-ext', '198.18.4.0/24');
  tenantNet(s, 'member', 'net', 'gold-pf-net', '10.46.0.0/24');
  routerOn(s, 'member', 'router', 'gold-pf-router', 'ext', 'netSub');
  s.post(
    'member',
    'port',
    '/v2.0/ports',
    { port: { network_id: '${net}', fixed_ips: [{ ip_address: '10.46.0.10' }] } },
    { bind: { port: 'port.id' }, expect: 201 },
  );
  s.post('member', 'fip', '/v2.0/floatingips', { floatingip: { floating_network_id: '${ext}' } }, { bind: { fip: 'floatingip.id' }, expect: 201 });
  s.post(
    'member',
    'create',
    '/v2.0/floatingips/${fip}/port_forwardings',
    {
      port_forwarding: {
        protocol: 'tcp',
        internal_ip_address: '10.46.0.10',
        internal_port: 22,
        internal_port_id: '${port}',
        external_port: 2222,
        description: 'ssh',
      },
    },
    { bind: { pf: 'port_forwarding.id' }, expect: 201 },
  );
  s.get('member', 'show', '/v2.0/floatingips/${fip}/port_forwardings/${pf}', { expect: 200 });
  s.post(
    'member',
    'range',
    '/v2.0/floatingips/${fip}/port_forwardings',
    {
      port_forwarding: {
        protocol: 'udp',
        internal_ip_address: '10.46.0.10',
        internal_port_range: '5000:5010',
        internal_port_id: '${port}',
        external_port_range: '6000:6010',
      },
    },
    { bind: { pfRange: 'port_forwarding.id' }, expect: 201 },
  );
  s.post(
    'member',
    'range size mismatch',
    '/v2.0/floatingips/${fip}/port_forwardings',
    {
      port_forwarding: {
        protocol: 'udp',
        internal_ip_address: '10.46.0.10',
        internal_port_range: '7000:7010',
        internal_port_id: '${port}',
        external_port_range: '8000:8005',
      },
    },
    { expect: 400 },
  );
  s.post(
    'member',
    'internal port with external range',
    '/v2.0/floatingips/${fip}/port_forwardings',
    {
      port_forwarding: { protocol: 'tcp', internal_ip_address: '10.46.0.10', internal_port: 80, internal_port_id: '${port}', external_port_range: '8000:8005' },
    },
    { expect: 201 },
  );
  s.post(
    'member',
    'duplicate external port',
    '/v2.0/floatingips/${fip}/port_forwardings',
    {
      port_forwarding: { protocol: 'tcp', internal_ip_address: '10.46.0.10', internal_port: 23, internal_port_id: '${port}', external_port: 2222 },
    },
    { expect: 400 },
  );
  s.post(
    'member',
    'address not on port',
    '/v2.0/floatingips/${fip}/port_forwardings',
    {
      port_forwarding: { protocol: 'tcp', internal_ip_address: '10.46.0.99', internal_port: 24, internal_port_id: '${port}', external_port: 2224 },
    },
    { expect: 400 },
  );
  s.post(
    'member',
    'icmp protocol',
    '/v2.0/floatingips/${fip}/port_forwardings',
    {
      port_forwarding: { protocol: 'icmp', internal_ip_address: '10.46.0.10', internal_port: 24, internal_port_id: '${port}', external_port: 2224 },
    },
    { expect: 201 },
  );
  s.get('member', 'list', '/v2.0/floatingips/${fip}/port_forwardings', { expect: 200 });
  s.get('member', 'list by protocol', '/v2.0/floatingips/${fip}/port_forwardings?protocol=udp', { expect: 200 });
  s.get('member', 'fip shows forwardings', '/v2.0/floatingips/${fip}', { expect: 200 });
  s.put(
    'member',
    'update',
    '/v2.0/floatingips/${fip}/port_forwardings/${pf}',
    { port_forwarding: { external_port: 2223, description: 'ssh2' } },
    { expect: 200 },
  );
  s.put('member', 'associate fip with forwardings', '/v2.0/floatingips/${fip}', { floatingip: { port_id: '${port}' } }, { expect: 409 });
  s.get('alt', 'alt cannot see', '/v2.0/floatingips/${fip}/port_forwardings/${pf}', { expect: 404 });
  s.del('member', 'delete', '/v2.0/floatingips/${fip}/port_forwardings/${pf}', { expect: 204 });
  s.del('member', 'delete range', '/v2.0/floatingips/${fip}/port_forwardings/${pfRange}', { expect: 204 });
  s.get('member', 'list empty', '/v2.0/floatingips/${fip}/port_forwardings', { expect: 200 });
  return s.done();
}

export function segments() {
  const s = new S('segment', 'segments: create, multi-segment networks, provider attributes, subnets on segments, policy, in use', [
    'segment',
    'standard-attr-segment',
    'multi-provider',
    'l2_adjacency',
  ]);
  s.post(
    'admin',
    'network',
    '/v2.0/networks',
    {
      network: { name: 'gold-seg-net', 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 120 },
    },
    { bind: { net: 'network.id' }, expect: 201 },
  );
  s.get('admin', 'list segments of network', '/v2.0/segments?network_id=${net}', { expect: 200, note: "the network's own segment" });
  s.post(
    'admin',
    'create',
    '/v2.0/segments',
    { segment: { network_id: '${net}', network_type: 'flat', physical_network: 'physnet2', name: 'gold-seg-2', description: 'd' } },
    {
      bind: { seg: 'segment.id' },
      expect: 201,
    },
  );
  s.get('admin', 'show', '/v2.0/segments/${seg}', { expect: 200 });
  s.get('admin', 'network with two segments', '/v2.0/networks/${net}', { expect: 200 });
  s.post('admin', 'bad type', '/v2.0/segments', { segment: { network_id: '${net}', network_type: 'gre' } }, { expect: 400 });
  s.put('admin', 'update', '/v2.0/segments/${seg}', { segment: { name: 'gold-seg-2b' } }, { expect: 200 });
  s.put('admin', 'update physical network refused', '/v2.0/segments/${seg}', { segment: { physical_network: 'physnet3' } }, { expect: 400 });
  s.post(
    'admin',
    'subnet on segment',
    '/v2.0/subnets',
    { subnet: { network_id: '${net}', segment_id: '${seg}', cidr: '10.47.0.0/24', ip_version: 4 } },
    {
      bind: { sub: 'subnet.id' },
      expect: 201,
    },
  );
  s.post('admin', 'subnet without segment beside', '/v2.0/subnets', { subnet: { network_id: '${net}', cidr: '10.47.1.0/24', ip_version: 4 } }, { expect: 400 });
  s.get('member', 'member list', '/v2.0/segments?network_id=${net}', {});
  s.post('member', 'member create refused', '/v2.0/segments', { segment: { network_id: '${net}', network_type: 'vxlan' } }, {});
  s.del('admin', 'delete in use', '/v2.0/segments/${seg}', { expect: 409 });
  s.del('admin', 'delete subnet', '/v2.0/subnets/${sub}', { expect: 204 });
  s.del('admin', 'delete', '/v2.0/segments/${seg}', { expect: 204 });
  s.get('admin', 'network after', '/v2.0/networks/${net}', { expect: 200 });
  s.del('admin', 'delete network', '/v2.0/networks/${net}', { expect: 204 });
  return s.done();
}

export function segmentRanges() {
  const s = new S('network-segment-range', 'network segment ranges: the default ranges from the configuration, project ranges, overlap, policy', [
    'network-segment-range',
  ]);
  s.get('admin', 'default filter refused', '/v2.0/network_segment_ranges?default=true', {});
  s.get(
    'admin',
    'default ranges',
    '/v2.0/network_segment_ranges?network_type=vxlan&fields=id&fields=name&fields=default&fields=shared&fields=project_id&fields=network_type&fields=physical_network&fields=minimum&fields=maximum',
    {
      bind: { defRange: 'network_segment_ranges.0.id' },
      expect: 200,
    },
  );
  s.post(
    'admin',
    'create',
    '/v2.0/network_segment_ranges',
    {
      network_segment_range: {
        name: 'gold-range',
        network_type: 'vlan',
        physical_network: 'physnet1',
        minimum: 180,
        maximum: 189,
        shared: false,
        project_id: '${projectA}',
      },
    },
    { bind: { range: 'network_segment_range.id' }, expect: 201 },
  );
  s.get('admin', 'show', '/v2.0/network_segment_ranges/${range}', { expect: 200 });
  s.post(
    'admin',
    'shared with project',
    '/v2.0/network_segment_ranges',
    {
      network_segment_range: {
        name: 'gold-range-shared-project',
        network_type: 'vxlan',
        minimum: 2000,
        maximum: 2010,
        shared: true,
        project_id: '${projectA}',
      },
    },
    { bind: { rangeSp: 'network_segment_range.id' } },
  );
  s.post(
    'admin',
    'vxlan range',
    '/v2.0/network_segment_ranges',
    { network_segment_range: { name: 'gold-range-vx', network_type: 'vxlan', minimum: 3000, maximum: 3010, shared: true } },
    {
      bind: { rangeVx: 'network_segment_range.id' },
      expect: 201,
    },
  );
  s.put('admin', 'update', '/v2.0/network_segment_ranges/${range}', { network_segment_range: { name: 'gold-range-b', maximum: 195 } }, { expect: 200 });
  s.put('admin', 'update type refused', '/v2.0/network_segment_ranges/${range}', { network_segment_range: { network_type: 'vxlan' } }, { expect: 400 });
  s.get('member', 'member refused', '/v2.0/network_segment_ranges/${range}', {});
  s.post(
    'member',
    'member create refused',
    '/v2.0/network_segment_ranges',
    { network_segment_range: { name: 'x', network_type: 'vxlan', minimum: 4000, maximum: 4001 } },
    {},
  );
  s.del('admin', 'delete', '/v2.0/network_segment_ranges/${range}', { expect: 204 });
  s.del('admin', 'delete vxlan', '/v2.0/network_segment_ranges/${rangeVx}', { expect: 204 });
  s.del('admin', 'delete shared-with-project', '/v2.0/network_segment_ranges/${rangeSp}', {});
  s.del('admin', 'delete default refused', '/v2.0/network_segment_ranges/${defRange}', { expect: 400 });
  return s.done();
}

export function autoAllocate() {
  const s = new S(
    'auto-allocated-topology',
    'auto-allocated topology: prerequisites, dry-run, allocation from the default subnet pools, is_default networks, delete',
    ['auto-allocated-topology', 'default-subnetpools', 'subnet_allocation'],
  );
  s.get('member', 'dry-run without prerequisites', '/v2.0/auto-allocated-topology/${projectA}?fields=dry-run', {});
  s.get('member', 'allocate without prerequisites', '/v2.0/auto-allocated-topology/${projectA}', {});
  s.post(
    'admin',
    'external network',
    '/v2.0/networks',
    { network: { name: 'gold-aa-ext', 'router:external': true } },
    { bind: { ext: 'network.id' }, expect: 201 },
  );
  s.post(
    'admin',
    'external subnet',
    '/v2.0/subnets',
    { subnet: { network_id: '${ext}', cidr: '198.18.5.0/24', ip_version: 4, enable_dhcp: false } },
    { expect: 201 },
  );
  s.post('admin', 'internal network', '/v2.0/networks', { network: { name: 'gold-aa-internal' } }, { bind: { internal: 'network.id' }, expect: 201 });
  s.put('admin', 'is_default on internal network', '/v2.0/networks/${internal}', { network: { is_default: true } }, {});
  s.put('admin', 'is_default not a boolean', '/v2.0/networks/${ext}', { network: { is_default: 'often' } }, { expect: 400 });
  s.put('admin', 'make default external', '/v2.0/networks/${ext}', { network: { is_default: true } }, { expect: 200 });
  s.get('member', 'dry-run without pool', '/v2.0/auto-allocated-topology/${projectA}?fields=dry-run', {});
  s.post(
    'admin',
    'default pool',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'gold-aa-pool', prefixes: ['10.48.0.0/16'], default_prefixlen: 26, is_default: true, shared: true } },
    {
      bind: { pool: 'subnetpool.id' },
      expect: 201,
    },
  );
  s.post('admin', 'second default pool', '/v2.0/subnetpools', { subnetpool: { name: 'x', prefixes: ['10.49.0.0/16'], is_default: true } }, {});
  s.get('member', 'dry-run', '/v2.0/auto-allocated-topology/${projectA}?fields=dry-run', { expect: 200 });
  s.get('member', 'other project refused', '/v2.0/auto-allocated-topology/${projectB}', {});
  s.get('member', 'allocate', '/v2.0/auto-allocated-topology/${projectA}', { bind: { aaNet: 'auto_allocated_topology.id' }, expect: 200 });
  s.get('member', 'allocate again', '/v2.0/auto-allocated-topology/${projectA}', { expect: 200 });
  s.get('member', 'network made', '/v2.0/networks/${aaNet}', { expect: 200 });
  s.get('member', 'subnets made', '/v2.0/subnets?network_id=${aaNet}', { expect: 200 });
  s.get('member', 'router made', '/v2.0/routers?name=auto_allocated_router', { expect: 200 });
  s.del('member', 'delete', '/v2.0/auto-allocated-topology/${projectA}', { expect: 204 });
  s.get('member', 'network gone', '/v2.0/networks/${aaNet}', { expect: 404 });
  s.put('admin', 'unset default pool', '/v2.0/subnetpools/${pool}', { subnetpool: { is_default: false } }, { expect: 200 });
  s.put('admin', 'unset default network', '/v2.0/networks/${ext}', { network: { is_default: false } }, { expect: 200 });
  s.del('admin', 'delete external network', '/v2.0/networks/${ext}', { expect: 204 });
  return s.done();
}

export function flavors() {
  const s = new S('flavors', 'flavors framework: flavors, service profiles, their association, policy, L3 flavors', ['flavors', 'l3-flavors']);
  s.post(
    'admin',
    'create flavor',
    '/v2.0/flavors',
    { flavor: { name: 'gold-flavor', service_type: 'L3_ROUTER_NAT', description: 'd' } },
    { bind: { flavor: 'flavor.id' }, expect: 201 },
  );
  s.get('member', 'member show', '/v2.0/flavors/${flavor}', { expect: 200 });
  s.post('member', 'member create refused', '/v2.0/flavors', { flavor: { name: 'x', service_type: 'L3_ROUTER_NAT' } }, { expect: 403 });
  s.post('admin', 'bad service type', '/v2.0/flavors', { flavor: { name: 'x', service_type: 'NOPE' } }, { expect: 400 });
  s.post(
    'admin',
    'create profile',
    '/v2.0/service_profiles',
    { service_profile: { description: 'gold-profile', metainfo: '{"a": 1}', enabled: true } },
    {
      bind: { sp: 'service_profile.id' },
      expect: 201,
    },
  );
  s.post(
    'admin',
    'profile with unknown driver',
    '/v2.0/service_profiles',
    { service_profile: { description: 'x', driver: 'no.such.Driver' } },
    { expect: 404 },
  );
  s.post('admin', 'profile without driver or metainfo', '/v2.0/service_profiles', { service_profile: { description: 'x' } }, { expect: 400 });
  s.get('admin', 'show profile', '/v2.0/service_profiles/${sp}', { expect: 200 });
  s.get('member', 'member show profile refused', '/v2.0/service_profiles/${sp}', {});
  s.post('admin', 'associate', '/v2.0/flavors/${flavor}/service_profiles', { service_profile: { id: '${sp}' } }, { expect: 201 });
  s.post('admin', 'associate again', '/v2.0/flavors/${flavor}/service_profiles', { service_profile: { id: '${sp}' } }, { expect: 409 });
  s.get('admin', 'flavor with profile', '/v2.0/flavors/${flavor}', { expect: 200 });
  s.get('admin', 'association', '/v2.0/flavors/${flavor}/service_profiles/${sp}', {});
  s.put('admin', 'update flavor', '/v2.0/flavors/${flavor}', { flavor: { enabled: false, name: 'gold-flavor-b' } }, { expect: 200 });
  s.put('admin', 'update service type refused', '/v2.0/flavors/${flavor}', { flavor: { service_type: 'QOS' } }, { expect: 400 });
  s.post('member', 'router with disabled flavor', '/v2.0/routers', { router: { name: 'gold-flavor-router', flavor_id: '${flavor}' } }, {});
  s.get('member', 'list flavors', '/v2.0/flavors?name=gold-flavor-b', { expect: 200 });
  s.del('admin', 'delete profile in use', '/v2.0/service_profiles/${sp}', { expect: 409 });
  s.del('admin', 'disassociate', '/v2.0/flavors/${flavor}/service_profiles/${sp}', { expect: 204 });
  s.del('admin', 'delete profile', '/v2.0/service_profiles/${sp}', { expect: 204 });
  s.del('admin', 'delete flavor', '/v2.0/flavors/${flavor}', { expect: 204 });
  return s.done();
}

export function dns() {
  const s = new S('dns-integration', 'DNS integration: dns_name, dns_domain and dns_assignment on ports, networks and floating IPs; hostname rules', [
    'dns-integration',
    'dns-domain-ports',
    'dns-integration-domain-keywords',
    'subnet-dns-publish-fixed-ip',
  ]);
  s.post(
    'member',
    'network with domain',
    '/v2.0/networks',
    { network: { name: 'gold-dns-net', dns_domain: 'example.org.' } },
    { bind: { net: 'network.id' }, expect: 201 },
  );
  s.post(
    'member',
    'subnet publish',
    '/v2.0/subnets',
    { subnet: { network_id: '${net}', cidr: '10.50.0.0/24', ip_version: 4, dns_publish_fixed_ip: true } },
    {
      bind: { sub: 'subnet.id' },
      expect: 201,
    },
  );
  s.post('member', 'network bad domain', '/v2.0/networks', { network: { name: 'x', dns_domain: 'no_underscores.org.' } }, { expect: 400 });
  s.post(
    'member',
    'port with dns_name',
    '/v2.0/ports',
    { port: { network_id: '${net}', dns_name: 'vm1', fixed_ips: [{ ip_address: '10.50.0.11' }] } },
    {
      bind: { port: 'port.id' },
      expect: 201,
    },
  );
  s.post(
    'member',
    'port without dns_name',
    '/v2.0/ports',
    { port: { network_id: '${net}', fixed_ips: [{ ip_address: '10.50.0.12' }] } },
    { bind: { port2: 'port.id' }, expect: 201 },
  );
  s.post(
    'member',
    'port with dns_domain',
    '/v2.0/ports',
    { port: { network_id: '${net}', dns_name: 'vm3', dns_domain: 'other.example.', fixed_ips: [{ ip_address: '10.50.0.13' }] } },
    {
      expect: 201,
    },
  );
  s.post('member', 'port fqdn dns_name', '/v2.0/ports', { port: { network_id: '${net}', dns_name: 'vm4.example.org.' } }, {});
  s.post('member', 'port bad dns_name', '/v2.0/ports', { port: { network_id: '${net}', dns_name: '-bad-' } }, { expect: 400 });
  s.post('member', 'port numeric dns_name', '/v2.0/ports', { port: { network_id: '${net}', dns_name: '1234' } }, {});
  s.post('member', 'port long dns_name', '/v2.0/ports', { port: { network_id: '${net}', dns_name: 'a'.repeat(64) } }, { expect: 400 });
  s.put('member', 'rename', '/v2.0/ports/${port}', { port: { dns_name: 'vm1b' } }, { expect: 200 });
  s.post('member', 'duplicate dns_name', '/v2.0/ports', { port: { network_id: '${net}', dns_name: 'vm1b' } }, {});
  s.put('member', 'clear', '/v2.0/ports/${port}', { port: { dns_name: '' } }, { expect: 200 });
  s.get('member', 'list by dns_name', '/v2.0/ports?dns_name=vm3&fields=dns_name&fields=dns_assignment', {});
  s.put('member', 'network domain update', '/v2.0/networks/${net}', { network: { dns_domain: 'new.example.org.' } }, { expect: 200 });
  s.put('member', 'network domain with keywords', '/v2.0/networks/${net}', { network: { dns_domain: '<project_id>.example.org.' } }, {});
  extNet(s, 'ext', 'gold-dns-ext', '198.18.6.0/24');
  s.post('member', 'fip with dns', '/v2.0/floatingips', { floatingip: { floating_network_id: '${ext}', dns_name: 'www', dns_domain: 'example.org.' } }, {});
  s.post('member', 'fip plain', '/v2.0/floatingips', { floatingip: { floating_network_id: '${ext}' } }, { bind: { fip: 'floatingip.id' }, expect: 201 });
  s.put('member', 'fip dns update refused', '/v2.0/floatingips/${fip}', { floatingip: { dns_name: 'www' } }, {});
  return s.done();
}

export function conntrackHelpers() {
  const s = new S('l3-conntrack-helper', 'L3 conntrack helpers on routers', ['l3-conntrack-helper', 'expose-l3-conntrack-helper']);
  s.post('member', 'router', '/v2.0/routers', { router: { name: 'gold-cth-router' } }, { bind: { router: 'router.id' }, expect: 201 });
  s.post(
    'member',
    'create',
    '/v2.0/routers/${router}/conntrack_helpers',
    { conntrack_helper: { protocol: 'tcp', port: 21, helper: 'ftp' } },
    {
      bind: { cth: 'conntrack_helper.id' },
      expect: 201,
    },
  );
  s.get('member', 'show', '/v2.0/routers/${router}/conntrack_helpers/${cth}', { expect: 200 });
  s.get('member', 'router shows helpers', '/v2.0/routers/${router}', { expect: 200 });
  s.post(
    'member',
    'duplicate',
    '/v2.0/routers/${router}/conntrack_helpers',
    { conntrack_helper: { protocol: 'tcp', port: 21, helper: 'ftp' } },
    { expect: 400 },
  );
  s.post(
    'member',
    'unknown helper',
    '/v2.0/routers/${router}/conntrack_helpers',
    { conntrack_helper: { protocol: 'tcp', port: 21, helper: 'nope' } },
    { expect: 400 },
  );
  s.post(
    'member',
    'helper wrong protocol',
    '/v2.0/routers/${router}/conntrack_helpers',
    { conntrack_helper: { protocol: 'udp', port: 21, helper: 'ftp' } },
    { expect: 400 },
  );
  s.post('member', 'tftp', '/v2.0/routers/${router}/conntrack_helpers', { conntrack_helper: { protocol: 'udp', port: 69, helper: 'tftp' } }, { expect: 201 });
  s.put('member', 'update', '/v2.0/routers/${router}/conntrack_helpers/${cth}', { conntrack_helper: { port: 2121 } }, { expect: 200 });
  s.get('member', 'list', '/v2.0/routers/${router}/conntrack_helpers?sort_key=port&sort_dir=asc', { expect: 200 });
  s.get('alt', 'alt cannot see', '/v2.0/routers/${router}/conntrack_helpers/${cth}', { expect: 404 });
  s.del('member', 'delete', '/v2.0/routers/${router}/conntrack_helpers/${cth}', { expect: 204 });
  return s.done();
}

export function ndpProxy() {
  const s = new S('l3-ndp-proxy', "NDP proxies: enable_ndp_proxy on routers, proxies for IPv6 ports in the gateway's address scope", [
    'l3-ndp-proxy',
    'l3-ext-ndp-proxy',
  ]);
  s.post(
    'admin',
    'v6 scope',
    '/v2.0/address-scopes',
    { address_scope: { name: 'gold-ndp-scope', ip_version: 6, shared: true } },
    { bind: { scope: 'address_scope.id' }, expect: 201 },
  );
  s.post(
    'admin',
    'v6 pool',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'gold-ndp-pool', prefixes: ['2001:db8:51::/48'], default_prefixlen: 64, address_scope_id: '${scope}', shared: true } },
    {
      bind: { pool: 'subnetpool.id' },
      expect: 201,
    },
  );
  s.post(
    'admin',
    'external network',
    '/v2.0/networks',
    { network: { name: 'gold-ndp-ext', 'router:external': true } },
    { bind: { ext: 'network.id' }, expect: 201 },
  );
  s.post('admin', 'external v6 subnet', '/v2.0/subnets', { subnet: { network_id: '${ext}', subnetpool_id: '${pool}', ip_version: 6 } }, { expect: 201 });
  s.post('member', 'network', '/v2.0/networks', { network: { name: 'gold-ndp-net' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.post(
    'member',
    'v6 subnet',
    '/v2.0/subnets',
    { subnet: { network_id: '${net}', subnetpool_id: '${pool}', ip_version: 6, ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' } },
    {
      bind: { sub: 'subnet.id' },
      expect: 201,
    },
  );
  s.post('member', 'router without gateway ndp refused', '/v2.0/routers', { router: { name: 'x', enable_ndp_proxy: true } }, {});
  s.post(
    'member',
    'router',
    '/v2.0/routers',
    { router: { name: 'gold-ndp-router', external_gateway_info: { network_id: '${ext}' }, enable_ndp_proxy: true } },
    {
      bind: { router: 'router.id' },
    },
  );
  s.put('member', 'interface', '/v2.0/routers/${router}/add_router_interface', { subnet_id: '${sub}' }, { expect: 200 });
  s.post('member', 'port', '/v2.0/ports', { port: { network_id: '${net}' } }, { bind: { port: 'port.id' }, expect: 201 });
  s.post(
    'member',
    'create',
    '/v2.0/ndp_proxies',
    { ndp_proxy: { name: 'gold-ndp', router_id: '${router}', port_id: '${port}' } },
    { bind: { ndp: 'ndp_proxy.id' } },
  );
  s.get('member', 'show', '/v2.0/ndp_proxies/${ndp}', {});
  s.put('member', 'update', '/v2.0/ndp_proxies/${ndp}', { ndp_proxy: { description: 'd' } }, {});
  s.put('member', 'disable ndp while proxies exist', '/v2.0/routers/${router}', { router: { enable_ndp_proxy: false } }, {});
  s.get('alt', 'alt cannot see', '/v2.0/ndp_proxies/${ndp}', {});
  s.del('member', 'delete', '/v2.0/ndp_proxies/${ndp}', {});
  return s.done();
}

export function localIp() {
  const s = new S('local_ip', 'local IPs and their port associations', ['local_ip']);
  tenantNet(s, 'member', 'net', 'gold-lip-net', '10.52.0.0/24');
  s.post('member', 'create on network', '/v2.0/local_ips', { local_ip: { name: 'gold-lip', network_id: '${net}' } }, { bind: { lip: 'local_ip.id' } });
  s.get('member', 'show', '/v2.0/local_ips/${lip}', {});
  s.post(
    'member',
    'port',
    '/v2.0/ports',
    { port: { network_id: '${net}' } },
    { bind: { port: 'port.id', portIp: 'port.fixed_ips.0.ip_address' }, expect: 201 },
  );
  s.post(
    'member',
    'create on port',
    '/v2.0/local_ips',
    { local_ip: { name: 'gold-lip-2', local_port_id: '${port}', ip_mode: 'passthrough' } },
    { bind: { lip2: 'local_ip.id' } },
  );
  s.post('member', 'bad ip_mode', '/v2.0/local_ips', { local_ip: { network_id: '${net}', ip_mode: 'sideways' } }, { expect: 400 });
  s.post('member', 'neither network nor port', '/v2.0/local_ips', { local_ip: { name: 'x' } }, { expect: 400 });
  s.post('member', 'vm port', '/v2.0/ports', { port: { network_id: '${net}' } }, { bind: { vm: 'port.id' }, expect: 201 });
  s.post('member', 'associate', '/v2.0/local_ips/${lip}/port_associations', { port_association: { fixed_port_id: '${vm}' } }, {});
  s.get('member', 'list associations', '/v2.0/local_ips/${lip}/port_associations', {});
  s.put('member', 'update', '/v2.0/local_ips/${lip}', { local_ip: { name: 'gold-lip-b' } }, {});
  s.put('member', 'update address refused', '/v2.0/local_ips/${lip}', { local_ip: { local_ip_address: '10.52.0.99' } }, {});
  s.del('member', 'delete in use', '/v2.0/local_ips/${lip}', {});
  s.del('member', 'disassociate', '/v2.0/local_ips/${lip}/port_associations/${vm}', {});
  s.get('alt', 'alt cannot see', '/v2.0/local_ips/${lip}', {});
  s.del('member', 'delete', '/v2.0/local_ips/${lip}', {});
  s.del('member', 'delete second', '/v2.0/local_ips/${lip2}', {});
  return s.done();
}

export function logging() {
  const s = new S('logging', 'logging: security-group log objects, loggable resources, policy', ['logging']);
  s.get('admin', 'loggable resources', '/v2.0/log/loggable-resources', {});
  s.post('member', 'security group', '/v2.0/security-groups', { security_group: { name: 'gold-log-sg' } }, { bind: { sg: 'security_group.id' }, expect: 201 });
  s.post('member', 'member create refused', '/v2.0/log/logs', { log: { name: 'x', resource_type: 'security_group' } }, {});
  s.post(
    'admin',
    'create',
    '/v2.0/log/logs',
    { log: { name: 'gold-log', resource_type: 'security_group', resource_id: '${sg}', event: 'ALL', enabled: true } },
    { bind: { log: 'log.id' } },
  );
  s.post('admin', 'bad event', '/v2.0/log/logs', { log: { name: 'x', resource_type: 'security_group', event: 'SOME' } }, { expect: 400 });
  s.post('admin', 'bad resource type', '/v2.0/log/logs', { log: { name: 'x', resource_type: 'router' } }, {});
  s.get('admin', 'show', '/v2.0/log/logs/${log}', {});
  s.put('admin', 'update', '/v2.0/log/logs/${log}', { log: { enabled: false, description: 'd' } }, {});
  s.put('admin', 'update event refused', '/v2.0/log/logs/${log}', { log: { event: 'DROP' } }, {});
  s.get('member', 'member list', '/v2.0/log/logs', {});
  s.del('admin', 'delete', '/v2.0/log/logs/${log}', {});
  return s.done();
}

export function portAttributes() {
  const s = new S(
    'port-attributes',
    'port extensions: MAC regenerate, NUMA affinity policy, uplink status propagation, data plane status, device profile, tags during bulk creation',
    [
      'port-mac-address-regenerate',
      'port-mac-override',
      'port-numa-affinity-policy',
      'uplink-status-propagation',
      'data-plane-status',
      'port-device-profile',
      'tag-ports-during-bulk-creation',
    ],
  );
  tenantNet(s, 'member', 'net', 'gold-pa-net', '10.53.0.0/24');
  s.post(
    'member',
    'port',
    '/v2.0/ports',
    { port: { network_id: '${net}', name: 'gold-pa' } },
    { bind: { port: 'port.id', mac: 'port.mac_address' }, expect: 201 },
  );
  s.put('member', 'member regenerate mac refused', '/v2.0/ports/${port}', { port: { mac_address: null } }, { expect: 403 });
  s.put('admin', 'admin regenerate mac', '/v2.0/ports/${port}', { port: { mac_address: null } }, { expect: 200 });
  s.put('member', 'member set mac refused', '/v2.0/ports/${port}', { port: { mac_address: 'fa:16:3e:11:22:33' } }, {});
  s.put('admin', 'admin set mac', '/v2.0/ports/${port}', { port: { mac_address: 'fa:16:3e:11:22:33' } }, {});
  s.post(
    'member',
    'numa required',
    '/v2.0/ports',
    { port: { network_id: '${net}', numa_affinity_policy: 'required' } },
    { bind: { numa: 'port.id' }, expect: 201 },
  );
  s.post('member', 'numa socket', '/v2.0/ports', { port: { network_id: '${net}', numa_affinity_policy: 'socket' } }, {});
  s.post('member', 'numa bad', '/v2.0/ports', { port: { network_id: '${net}', numa_affinity_policy: 'always' } }, { expect: 400 });
  s.put('member', 'numa clear', '/v2.0/ports/${numa}', { port: { numa_affinity_policy: null } }, { expect: 200 });
  s.post(
    'member',
    'uplink false',
    '/v2.0/ports',
    { port: { network_id: '${net}', propagate_uplink_status: false } },
    { bind: { uplink: 'port.id' }, expect: 201 },
  );
  s.put('member', 'uplink update', '/v2.0/ports/${uplink}', { port: { propagate_uplink_status: true } }, {});
  s.post('member', 'uplink bad', '/v2.0/ports', { port: { network_id: '${net}', propagate_uplink_status: 'sometimes' } }, { expect: 400 });
  s.put('admin', 'data plane status down', '/v2.0/ports/${port}', { port: { data_plane_status: 'DOWN' } }, { expect: 200 });
  s.put('admin', 'data plane status bad', '/v2.0/ports/${port}', { port: { data_plane_status: 'BROKEN' } }, { expect: 400 });
  s.put('member', 'member data plane status refused', '/v2.0/ports/${port}', { port: { data_plane_status: 'ACTIVE' } }, { expect: 403 });
  s.get('member', 'show', '/v2.0/ports/${port}', { expect: 200 });
  s.post('member', 'device profile', '/v2.0/ports', { port: { network_id: '${net}', device_profile: 'gold-dp' } }, { bind: { dp: 'port.id' } });
  s.put('member', 'device profile update refused', '/v2.0/ports/${dp}', { port: { device_profile: 'other' } }, {});
  s.post(
    'member',
    'bulk with tags',
    '/v2.0/ports',
    {
      ports: [
        { network_id: '${net}', name: 'gold-bulk-1', tags: ['a', 'b'] },
        { network_id: '${net}', name: 'gold-bulk-2', tags: ['c'] },
      ],
    },
    { expect: 201 },
  );
  s.post('member', 'single with tags', '/v2.0/ports', { port: { network_id: '${net}', name: 'gold-bulk-3', tags: ['d'] } }, { expect: 201 });
  s.post('member', 'bad tags', '/v2.0/ports', { port: { network_id: '${net}', tags: 'd' } }, { expect: 400 });
  s.get('member', 'list by tag', '/v2.0/ports?tags=a&fields=name&fields=tags', { expect: 200 });
  return s.done();
}

export function extraDhcpOpt() {
  const s = new S('extra_dhcp_opt', 'extra DHCP options: validation, blank values, clearing with null, ip_version', ['extra_dhcp_opt']);
  tenantNet(s, 'member', 'net', 'gold-edo-net', '10.54.0.0/24');
  s.post(
    'member',
    'create',
    '/v2.0/ports',
    {
      port: {
        network_id: '${net}',
        extra_dhcp_opts: [
          { opt_name: 'bootfile-name', opt_value: 'pxelinux.0' },
          { opt_name: 'tftp-server', opt_value: '10.54.0.2' },
          { opt_name: 'dns-server', opt_value: 'fd00::1', ip_version: 6 },
        ],
      },
    },
    { bind: { port: 'port.id' }, expect: 201 },
  );
  s.post(
    'member',
    'blank router',
    '/v2.0/ports',
    { port: { network_id: '${net}', extra_dhcp_opts: [{ opt_name: 'router', opt_value: '' }] } },
    { expect: 201 },
  );
  s.post(
    'member',
    'blank classless-static-route',
    '/v2.0/ports',
    { port: { network_id: '${net}', extra_dhcp_opts: [{ opt_name: 'classless-static-route', opt_value: '' }] } },
    {
      expect: 201,
    },
  );
  s.post(
    'member',
    'blank other',
    '/v2.0/ports',
    { port: { network_id: '${net}', extra_dhcp_opts: [{ opt_name: 'bootfile-name', opt_value: '' }] } },
    { expect: 400 },
  );
  s.post(
    'member',
    'null value at create',
    '/v2.0/ports',
    { port: { network_id: '${net}', extra_dhcp_opts: [{ opt_name: 'bootfile-name', opt_value: null }] } },
    {},
  );
  s.post('member', 'missing value', '/v2.0/ports', { port: { network_id: '${net}', extra_dhcp_opts: [{ opt_name: 'bootfile-name' }] } }, {});
  s.post(
    'member',
    'unknown key',
    '/v2.0/ports',
    { port: { network_id: '${net}', extra_dhcp_opts: [{ opt_name: 'a', opt_value: 'b', colour: 'red' }] } },
    { expect: 400 },
  );
  s.post(
    'member',
    'bad ip_version',
    '/v2.0/ports',
    { port: { network_id: '${net}', extra_dhcp_opts: [{ opt_name: 'a', opt_value: 'b', ip_version: 5 }] } },
    { expect: 400 },
  );
  s.post('member', 'not a list', '/v2.0/ports', { port: { network_id: '${net}', extra_dhcp_opts: { opt_name: 'a', opt_value: 'b' } } }, { expect: 400 });
  s.put('member', 'change one', '/v2.0/ports/${port}', { port: { extra_dhcp_opts: [{ opt_name: 'bootfile-name', opt_value: 'other.0' }] } }, { expect: 200 });
  s.put('member', 'clear one with null', '/v2.0/ports/${port}', { port: { extra_dhcp_opts: [{ opt_name: 'tftp-server', opt_value: null }] } }, { expect: 200 });
  s.put(
    'member',
    'clear v6 with null',
    '/v2.0/ports/${port}',
    { port: { extra_dhcp_opts: [{ opt_name: 'dns-server', opt_value: null, ip_version: 6 }] } },
    { expect: 200 },
  );
  s.put('member', 'blank on update', '/v2.0/ports/${port}', { port: { extra_dhcp_opts: [{ opt_name: 'bootfile-name', opt_value: '' }] } }, { expect: 400 });
  s.get('member', 'show', '/v2.0/ports/${port}', { expect: 200 });
  return s.done();
}

export const all = () => [
  rbac(),
  addressScopes(),
  addressGroups(),
  portForwarding(),
  segments(),
  segmentRanges(),
  autoAllocate(),
  flavors(),
  dns(),
  conntrackHelpers(),
  ndpProxy(),
  localIp(),
  logging(),
  portAttributes(),
  extraDhcpOpt(),
];
