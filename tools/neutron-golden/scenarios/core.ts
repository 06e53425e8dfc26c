/** Resources PocketStack already serves: networks, subnets, ports, security groups, routers, floating IPs, subnet pools, quotas, tags, metering. */
import { S } from '../scenario.js';
import { MISSING, extNet, tenantNet } from './common.js';

export function extensions() {
  const s = new S('extensions', 'GET /v2.0/extensions with the plugins the fixtures were captured with (the list to match)', []);
  s.get('member', 'list', '/v2.0/extensions', { expect: 200 });
  s.get('member', 'show router', '/v2.0/extensions/router', { expect: 200 });
  s.get('member', 'show qos', '/v2.0/extensions/qos', { expect: 200 });
  s.get('member', 'show unknown', '/v2.0/extensions/no-such-extension', { expect: 404 });
  return s.done();
}

export function networks() {
  const s = new S('networks', 'networks: defaults, filters, policy, shared visibility, in-use delete', [
    'network',
    'external-net',
    'provider',
    'net-mtu',
    'shared',
  ]);
  s.post('member', 'create', '/v2.0/networks', { network: { name: 'gold-net-1' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.get('member', 'show', '/v2.0/networks/${net}', { expect: 200 });
  s.get('member', 'list by name', '/v2.0/networks?name=gold-net-1', { expect: 200 });
  s.get('member', 'list fields', '/v2.0/networks?name=gold-net-1&fields=id&fields=name&fields=shared', { expect: 200 });
  s.put('member', 'update', '/v2.0/networks/${net}', { network: { name: 'gold-net-1b', description: 'd', mtu: 1400 } }, { expect: 200 });
  s.post('member', 'member provider refused', '/v2.0/networks', { network: { name: 'x', 'provider:network_type': 'vlan' } }, { expect: 403 });
  s.post('member', 'member shared refused', '/v2.0/networks', { network: { name: 'x', shared: true } }, { expect: 403 });
  s.post('member', 'member external refused', '/v2.0/networks', { network: { name: 'x', 'router:external': true } }, { expect: 403 });
  s.post('member', 'bad admin_state_up', '/v2.0/networks', { network: { name: 'x', admin_state_up: 'maybe' } }, { expect: 400 });
  s.post('member', 'unknown attribute', '/v2.0/networks', { network: { name: 'x', colour: 'red' } }, { expect: 400 });
  s.post('member', 'mtu too big', '/v2.0/networks', { network: { name: 'x', mtu: 9000 } });
  s.get('member', 'show missing', `/v2.0/networks/${MISSING}`, { expect: 404 });
  s.post(
    'admin',
    'admin create shared',
    '/v2.0/networks',
    { network: { name: 'gold-net-shared', shared: true } },
    { bind: { shared: 'network.id' }, expect: 201 },
  );
  s.post('admin', 'admin create vlan', '/v2.0/networks', {
    network: { name: 'gold-net-vlan', 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 177 },
  });
  s.get('alt', 'alt sees shared', '/v2.0/networks/${shared}', { expect: 200 });
  s.get('alt', 'alt list shared=true', '/v2.0/networks?shared=true&name=gold-net-shared', { expect: 200 });
  s.put('alt', 'alt update shared refused', '/v2.0/networks/${shared}', { network: { name: 'mine' } });
  s.get('alt', 'alt cannot see private', '/v2.0/networks/${net}', { expect: 404 });
  s.put('alt', 'alt update private', '/v2.0/networks/${net}', { network: { name: 'mine' } }, { expect: 404 });
  s.del('alt', 'alt delete private', '/v2.0/networks/${net}', { expect: 404 });
  s.post(
    'member',
    'port on net',
    '/v2.0/ports',
    { port: { network_id: '${net}', device_owner: 'compute:nova', device_id: 'vm-1' } },
    { bind: { port: 'port.id' }, expect: 201 },
  );
  s.del('member', 'delete in use', '/v2.0/networks/${net}', { expect: 409 });
  s.del('member', 'delete port', '/v2.0/ports/${port}', { expect: 204 });
  s.del('member', 'delete', '/v2.0/networks/${net}', { expect: 204 });
  s.del('admin', 'delete shared', '/v2.0/networks/${shared}', { expect: 204 });
  return s.done();
}

export function subnets() {
  const s = new S('subnets', 'subnets: defaults, CIDR host bits, shared filter, bad input, in use', ['subnet', 'subnet_allocation', 'subnet-service-types']);
  s.post('member', 'network', '/v2.0/networks', { network: { name: 'gold-sub-net' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.post(
    'member',
    'create',
    '/v2.0/subnets',
    { subnet: { name: 'gold-sub-1', network_id: '${net}', cidr: '10.10.1.0/24', ip_version: 4 } },
    { bind: { sub: 'subnet.id' }, expect: 201 },
  );
  s.post(
    'member',
    'create with host bits',
    '/v2.0/subnets',
    { subnet: { name: 'gold-sub-hostbits', network_id: '${net}', cidr: '10.99.99.0/16', ip_version: 4 } },
    {
      bind: { subHost: 'subnet.id' },
      note: 'neutron-lib normalises a CIDR with host bits (netaddr keeps the string form)',
    },
  );
  s.post('member', 'invalid cidr', '/v2.0/subnets', { subnet: { network_id: '${net}', cidr: '10.1.2.3/33', ip_version: 4 } }, { expect: 400 });
  s.post('member', 'cidr version mismatch', '/v2.0/subnets', { subnet: { network_id: '${net}', cidr: 'fd00:10::/64', ip_version: 4 } }, { expect: 400 });
  s.post('member', 'overlap in network', '/v2.0/subnets', { subnet: { network_id: '${net}', cidr: '10.10.1.128/25', ip_version: 4 } }, { expect: 400 });
  s.post('member', 'gateway outside', '/v2.0/subnets', { subnet: { network_id: '${net}', cidr: '10.10.2.0/24', ip_version: 4, gateway_ip: '10.10.3.1' } });
  s.post(
    'member',
    'ipv6 slaac',
    '/v2.0/subnets',
    {
      subnet: { name: 'gold-sub-v6', network_id: '${net}', cidr: 'fd00:10::/64', ip_version: 6, ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' },
    },
    { expect: 201 },
  );
  s.get('member', 'show', '/v2.0/subnets/${sub}', { expect: 200 });
  s.put(
    'member',
    'update',
    '/v2.0/subnets/${sub}',
    { subnet: { dns_nameservers: ['8.8.8.8'], host_routes: [{ destination: '10.20.0.0/24', nexthop: '10.10.1.5' }] } },
    { expect: 200 },
  );
  s.put('member', 'update cidr refused', '/v2.0/subnets/${sub}', { subnet: { cidr: '10.10.9.0/24' } }, { expect: 400 });
  s.get('member', 'list shared=false', '/v2.0/subnets?network_id=${net}&shared=false&fields=name&fields=cidr&sort_key=name&sort_dir=asc', {
    note: 'issue 11: shared is a filter on subnets',
  });
  s.get('member', 'sort_key without sort_dir', '/v2.0/subnets?network_id=${net}&sort_key=name', { expect: 400 });
  s.get('member', 'list shared=true', '/v2.0/subnets?network_id=${net}&shared=true&fields=name');
  s.post(
    'admin',
    'shared network',
    '/v2.0/networks',
    { network: { name: 'gold-sub-shared', shared: true } },
    { bind: { sharedNet: 'network.id' }, expect: 201 },
  );
  s.post(
    'admin',
    'subnet on shared',
    '/v2.0/subnets',
    { subnet: { name: 'gold-sub-on-shared', network_id: '${sharedNet}', cidr: '10.11.0.0/24', ip_version: 4 } },
    {
      bind: { sharedSub: 'subnet.id' },
      expect: 201,
    },
  );
  s.get('alt', 'alt list shared subnets', '/v2.0/subnets?shared=true&network_id=${sharedNet}&fields=name&fields=shared', {});
  s.get('alt', 'alt show shared subnet', '/v2.0/subnets/${sharedSub}', { expect: 200 });
  s.post('alt', 'alt subnet on shared network', '/v2.0/subnets', { subnet: { network_id: '${sharedNet}', cidr: '10.11.1.0/24', ip_version: 4 } });
  s.post(
    'member',
    'port on subnet',
    '/v2.0/ports',
    { port: { network_id: '${net}', fixed_ips: [{ subnet_id: '${sub}' }] } },
    { bind: { port: 'port.id' }, expect: 201 },
  );
  s.del('member', 'delete in use', '/v2.0/subnets/${sub}', { expect: 409 });
  s.del('member', 'delete port', '/v2.0/ports/${port}', { expect: 204 });
  s.del('member', 'delete', '/v2.0/subnets/${sub}', { expect: 204 });
  s.del('admin', 'delete shared network', '/v2.0/networks/${sharedNet}', { expect: 204 });
  return s.done();
}

export function ports() {
  const s = new S('ports', 'ports: defaults, fixed IPs, allowed address pairs (also on a shared network of another project), policy, in-use addresses', [
    'port',
    'allowed-address-pairs',
    'binding',
    'port-security',
  ]);
  tenantNet(s, 'member', 'net', 'gold-port-net', '10.12.0.0/24');
  s.post(
    'member',
    'create',
    '/v2.0/ports',
    { port: { name: 'gold-port-1', network_id: '${net}' } },
    { bind: { port: 'port.id', ip: 'port.fixed_ips.0.ip_address' }, expect: 201 },
  );
  s.get('member', 'show', '/v2.0/ports/${port}', { expect: 200 });
  s.post(
    'member',
    'create fixed ip',
    '/v2.0/ports',
    { port: { name: 'gold-port-2', network_id: '${net}', fixed_ips: [{ ip_address: '10.12.0.50' }] } },
    {
      bind: { port2: 'port.id' },
      expect: 201,
    },
  );
  s.post('member', 'address in use', '/v2.0/ports', { port: { network_id: '${net}', fixed_ips: [{ ip_address: '10.12.0.50' }] } }, { expect: 409 });
  s.post('member', 'address outside subnet', '/v2.0/ports', { port: { network_id: '${net}', fixed_ips: [{ ip_address: '10.13.0.5' }] } }, { expect: 400 });
  s.post('member', 'bad mac', '/v2.0/ports', { port: { network_id: '${net}', mac_address: 'zz:16:3e:00:00:01' } }, { expect: 400 });
  s.post('member', 'member binding host refused', '/v2.0/ports', { port: { network_id: '${net}', 'binding:host_id': 'host1' } }, { expect: 403 });
  s.put(
    'member',
    'allowed address pairs',
    '/v2.0/ports/${port}',
    { port: { allowed_address_pairs: [{ ip_address: '10.12.0.200' }, { ip_address: '10.12.0.0/28', mac_address: 'fa:16:3e:00:00:01' }] } },
    {
      expect: 200,
    },
  );
  s.put('member', 'allowed address pair bad ip', '/v2.0/ports/${port}', { port: { allowed_address_pairs: [{ ip_address: 'nope' }] } }, { expect: 400 });
  s.get('member', 'list by ip', '/v2.0/ports?fixed_ips=ip_address%3D10.12.0.50', { expect: 200 });
  s.get('member', 'list by network sorted', '/v2.0/ports?network_id=${net}&fields=name&fields=status&sort_key=name&sort_dir=desc', { expect: 200 });
  s.put('member', 'port security off with sg refused', '/v2.0/ports/${port}', { port: { port_security_enabled: false } }, { expect: 409 });
  s.put('member', 'port security off', '/v2.0/ports/${port2}', { port: { port_security_enabled: false, security_groups: [] } }, { expect: 200 });
  s.put('member', 'pairs without port security', '/v2.0/ports/${port2}', { port: { allowed_address_pairs: [{ ip_address: '10.12.0.201' }] } }, { expect: 409 });
  s.post(
    'admin',
    'shared network',
    '/v2.0/networks',
    { network: { name: 'gold-port-shared', shared: true } },
    { bind: { sharedNet: 'network.id' }, expect: 201 },
  );
  s.post('admin', 'shared subnet', '/v2.0/subnets', { subnet: { network_id: '${sharedNet}', cidr: '10.12.1.0/24', ip_version: 4 } }, { expect: 201 });
  s.post(
    'alt',
    'alt port with pairs on shared',
    '/v2.0/ports',
    { port: { network_id: '${sharedNet}', allowed_address_pairs: [{ ip_address: '10.12.1.100' }] } },
    {
      note: "issue 11: allowed address pairs on another project's shared network",
    },
  );
  s.post('alt', 'alt port on shared', '/v2.0/ports', { port: { network_id: '${sharedNet}' } }, { bind: { altPort: 'port.id' }, expect: 201 });
  s.put('alt', 'alt update pairs on shared', '/v2.0/ports/${altPort}', {
    port: { allowed_address_pairs: [{ ip_address: '10.12.1.101', mac_address: 'fa:16:3e:00:00:02' }] },
  });
  s.get('alt', 'alt cannot see member port', '/v2.0/ports/${port}', { expect: 404 });
  s.del('alt', 'alt delete own port', '/v2.0/ports/${altPort}', { expect: 204 });
  s.del('member', 'delete', '/v2.0/ports/${port}', { expect: 204 });
  s.del('member', 'delete again', '/v2.0/ports/${port}', { expect: 404 });
  s.del('admin', 'delete shared network', '/v2.0/networks/${sharedNet}', { expect: 204 });
  return s.done();
}

export function securityGroups() {
  const s = new S(
    'security-groups',
    'security groups and rules: what is rendered inside a group (standard attributes on rules), defaults, quota on creation, in use',
    ['security-group', 'standard-attr-description', 'stateful-security-group', 'security-groups-normalized-cidr'],
  );
  s.post(
    'member',
    'create',
    '/v2.0/security-groups',
    { security_group: { name: 'gold-sg', description: 'web' } },
    { bind: { sg: 'security_group.id' }, expect: 201 },
  );
  s.get('member', 'show', '/v2.0/security-groups/${sg}', { expect: 200 });
  s.post(
    'member',
    'rule',
    '/v2.0/security-group-rules',
    {
      security_group_rule: {
        security_group_id: '${sg}',
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: 80,
        port_range_max: 80,
        remote_ip_prefix: '10.0.0.7/8',
        ethertype: 'IPv4',
      },
    },
    { bind: { rule: 'security_group_rule.id' }, expect: 201 },
  );
  s.get('member', 'show rule', '/v2.0/security-group-rules/${rule}', { expect: 200 });
  s.get('member', 'show with rule', '/v2.0/security-groups/${sg}', {
    expect: 200,
    note: 'what a rule looks like embedded in its group (standard_attr_id? tags?)',
  });
  s.get('member', 'list rules of group', '/v2.0/security-group-rules?security_group_id=${sg}', { expect: 200 });
  s.post(
    'member',
    'same rule, prefix written normalised',
    '/v2.0/security-group-rules',
    {
      security_group_rule: {
        security_group_id: '${sg}',
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: 80,
        port_range_max: 80,
        remote_ip_prefix: '10.0.0.0/8',
        ethertype: 'IPv4',
      },
    },
    { expect: 201 },
  );
  s.post(
    'member',
    'bad port range',
    '/v2.0/security-group-rules',
    {
      security_group_rule: { security_group_id: '${sg}', direction: 'ingress', protocol: 'tcp', port_range_min: 90, port_range_max: 80 },
    },
    { expect: 400 },
  );
  s.post(
    'member',
    'bad protocol',
    '/v2.0/security-group-rules',
    { security_group_rule: { security_group_id: '${sg}', direction: 'ingress', protocol: 'bogus' } },
    { expect: 400 },
  );
  s.post(
    'member',
    'remote group and prefix',
    '/v2.0/security-group-rules',
    {
      security_group_rule: { security_group_id: '${sg}', direction: 'ingress', remote_group_id: '${sg}', remote_ip_prefix: '10.0.0.0/8' },
    },
    { expect: 400 },
  );
  s.get('member', 'list default group', '/v2.0/security-groups?name=default', { expect: 200 });
  s.get('alt', 'alt cannot see', '/v2.0/security-groups/${sg}', { expect: 404 });
  s.post(
    'member',
    'create stateless',
    '/v2.0/security-groups',
    { security_group: { name: 'gold-sg-stateless', stateful: false } },
    { bind: { sg2: 'security_group.id' }, expect: 201 },
  );
  s.put('member', 'update', '/v2.0/security-groups/${sg2}', { security_group: { name: 'gold-sg-2', description: 'x' } }, { expect: 200 });
  s.put('member', 'default group cannot be renamed', '/v2.0/security-groups/${sg2}', { security_group: { name: 'default' } }, { expect: 409 });
  s.post('member', 'network', '/v2.0/networks', { network: { name: 'gold-sg-net' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.post(
    'member',
    'port with group',
    '/v2.0/ports',
    { port: { network_id: '${net}', security_groups: ['${sg}'] } },
    { bind: { port: 'port.id' }, expect: 201 },
  );
  s.del('member', 'delete in use', '/v2.0/security-groups/${sg}', { expect: 409 });
  s.del('member', 'delete port', '/v2.0/ports/${port}', { expect: 204 });
  s.del('member', 'delete rule', '/v2.0/security-group-rules/${rule}', { expect: 204 });
  s.del('member', 'delete', '/v2.0/security-groups/${sg}', { expect: 204 });
  s.put('admin', 'rule quota 5 for alt', '/v2.0/quotas/${projectB}', { quota: { security_group_rule: 5 } }, { expect: 200 });
  s.get('alt', 'alt default group made', '/v2.0/security-groups?name=default&fields=name', { expect: 200 });
  s.post(
    'alt',
    'alt group over rule quota',
    '/v2.0/security-groups',
    { security_group: { name: 'gold-sg-quota' } },
    {
      note: 'issue 11: a group brings two egress rules, counted against security_group_rule',
    },
  );
  s.get('alt', 'alt rules after', '/v2.0/security-group-rules?fields=direction&fields=ethertype', {});
  return s.done();
}

export function routers() {
  const s = new S('routers', 'routers: gateway, interfaces, interface port status without agents, in-use refusals, policy', [
    'router',
    'ext-gw-mode',
    'extraroute',
  ]);
  extNet(s, 'ext', 'gold-rt-ext', '198.18.1.0/24');
  tenantNet(s, 'member', 'net', 'gold-rt-net', '10.14.0.0/24');
  s.post('member', 'create', '/v2.0/routers', { router: { name: 'gold-router' } }, { bind: { router: 'router.id' }, expect: 201 });
  s.put('member', 'set gateway', '/v2.0/routers/${router}', { router: { external_gateway_info: { network_id: '${ext}' } } }, { expect: 200 });
  s.put(
    'member',
    'member enable_snat refused',
    '/v2.0/routers/${router}',
    { router: { external_gateway_info: { network_id: '${ext}', enable_snat: false } } },
    { expect: 403 },
  );
  s.put('member', 'add interface', '/v2.0/routers/${router}/add_router_interface', { subnet_id: '${netSub}' }, { bind: { ifPort: 'port_id' }, expect: 200 });
  s.put('member', 'add interface again', '/v2.0/routers/${router}/add_router_interface', { subnet_id: '${netSub}' }, { expect: 400 });
  s.get('member', 'interface port', '/v2.0/ports/${ifPort}', { expect: 200, note: 'issue 11: status of a router interface port with no L3 agent' });
  s.get('member', 'router ports', '/v2.0/ports?device_id=${router}&fields=device_owner&fields=status&fields=admin_state_up', { expect: 200 });
  s.put('member', 'extra route', '/v2.0/routers/${router}', { router: { routes: [{ destination: '10.50.0.0/24', nexthop: '10.14.0.10' }] } }, { expect: 200 });
  s.put('member', 'bad nexthop', '/v2.0/routers/${router}', { router: { routes: [{ destination: '10.51.0.0/24', nexthop: '192.0.2.1' }] } }, { expect: 400 });
  s.get('member', 'show', '/v2.0/routers/${router}', { expect: 200 });
  s.del('member', 'delete subnet in use', '/v2.0/subnets/${netSub}', { expect: 409 });
  s.del('member', 'delete interface port directly', '/v2.0/ports/${ifPort}', { expect: 409 });
  s.del('member', 'delete router in use', '/v2.0/routers/${router}', { expect: 409 });
  s.put('member', 'clear routes', '/v2.0/routers/${router}', { router: { routes: [] } }, { expect: 200 });
  s.put('member', 'remove interface', '/v2.0/routers/${router}/remove_router_interface', { subnet_id: '${netSub}' }, { expect: 200 });
  s.put('member', 'remove interface again', '/v2.0/routers/${router}/remove_router_interface', { subnet_id: '${netSub}' }, { expect: 404 });
  s.get('alt', 'alt cannot see', '/v2.0/routers/${router}', { expect: 404 });
  s.put('member', 'clear gateway', '/v2.0/routers/${router}', { router: { external_gateway_info: {} } }, { expect: 200 });
  s.del('member', 'delete', '/v2.0/routers/${router}', { expect: 204 });
  return s.done();
}

export function floatingips() {
  const s = new S('floatingips', "floating IPs: create, associate, blank update clears the association, admin associating another project's port, errors", [
    'router',
    'fip-port-details',
    'floatingip-pools',
  ]);
  extNet(s, 'ext', 'gold-fip-ext', '198.18.2.0/24');
  tenantNet(s, 'member', 'net', 'gold-fip-net', '10.15.0.0/24');
  s.post(
    'member',
    'router',
    '/v2.0/routers',
    { router: { name: 'gold-fip-router', external_gateway_info: { network_id: '${ext}' } } },
    { bind: { router: 'router.id' }, expect: 201 },
  );
  s.put('member', 'interface', '/v2.0/routers/${router}/add_router_interface', { subnet_id: '${netSub}' }, { expect: 200 });
  s.post('member', 'port', '/v2.0/ports', { port: { name: 'gold-fip-port', network_id: '${net}' } }, { bind: { port: 'port.id' }, expect: 201 });
  s.post(
    'member',
    'create',
    '/v2.0/floatingips',
    { floatingip: { floating_network_id: '${ext}' } },
    { bind: { fip: 'floatingip.id', fipAddr: 'floatingip.floating_ip_address' }, expect: 201 },
  );
  s.put('member', 'associate', '/v2.0/floatingips/${fip}', { floatingip: { port_id: '${port}' } }, { expect: 200 });
  s.get('member', 'show', '/v2.0/floatingips/${fip}', { expect: 200 });
  s.put(
    'member',
    'blank update',
    '/v2.0/floatingips/${fip}',
    { floatingip: {} },
    { expect: 200, note: 'issue 11: an update without port_id clears the association' },
  );
  s.put('member', 'description update', '/v2.0/floatingips/${fip}', { floatingip: { description: 'kept' } }, { expect: 200 });
  s.put('member', 'associate again', '/v2.0/floatingips/${fip}', { floatingip: { port_id: '${port}' } }, { expect: 200 });
  s.put('member', 'disassociate', '/v2.0/floatingips/${fip}', { floatingip: { port_id: null } }, { expect: 200 });
  s.post('member', 'on internal network', '/v2.0/floatingips', { floatingip: { floating_network_id: '${net}' } }, { expect: 400 });
  s.post(
    'member',
    'member chosen address',
    '/v2.0/floatingips',
    { floatingip: { floating_network_id: '${ext}', floating_ip_address: '198.18.2.77' } },
    { expect: 403 },
  );
  s.post(
    'member',
    'with port at create',
    '/v2.0/floatingips',
    { floatingip: { floating_network_id: '${ext}', port_id: '${port}' } },
    { bind: { fip2: 'floatingip.id' }, expect: 201 },
  );
  s.put('member', 'second fip same port', '/v2.0/floatingips/${fip}', { floatingip: { port_id: '${port}' } }, { expect: 409 });
  s.get('member', 'list by port', '/v2.0/floatingips?port_id=${port}', { expect: 200 });
  s.get('member', 'pools filtered by network_id refused', '/v2.0/floatingip_pools?network_id=${ext}', {});
  s.del('member', 'delete port with fip', '/v2.0/ports/${port}', { expect: 204 });
  s.get('member', 'fip after port delete', '/v2.0/floatingips/${fip2}', { expect: 200 });
  s.post('alt', 'alt network', '/v2.0/networks', { network: { name: 'gold-fip-alt' } }, { bind: { altNet: 'network.id' }, expect: 201 });
  s.post(
    'alt',
    'alt subnet',
    '/v2.0/subnets',
    { subnet: { network_id: '${altNet}', cidr: '10.15.1.0/24', ip_version: 4 } },
    { bind: { altSub: 'subnet.id' }, expect: 201 },
  );
  s.put('member', 'alt subnet on member router', '/v2.0/routers/${router}/add_router_interface', { subnet_id: '${altSub}' }, { expect: 404 });
  s.post(
    'alt',
    'alt router',
    '/v2.0/routers',
    { router: { name: 'gold-fip-alt', external_gateway_info: { network_id: '${ext}' } } },
    { bind: { altRouter: 'router.id' }, expect: 201 },
  );
  s.put('alt', 'alt interface', '/v2.0/routers/${altRouter}/add_router_interface', { subnet_id: '${altSub}' }, { expect: 200 });
  s.post('alt', 'alt port', '/v2.0/ports', { port: { network_id: '${altNet}' } }, { bind: { altPort: 'port.id' }, expect: 201 });
  s.put('member', 'member associates alt port', '/v2.0/floatingips/${fip}', { floatingip: { port_id: '${altPort}' } }, { expect: 404 });
  s.post('admin', 'admin fip', '/v2.0/floatingips', { floatingip: { floating_network_id: '${ext}' } }, { bind: { adminFip: 'floatingip.id' }, expect: 201 });
  s.put(
    'admin',
    'admin associates alt port',
    '/v2.0/floatingips/${adminFip}',
    { floatingip: { port_id: '${altPort}' } },
    {
      note: "issue 11: an admin associating a floating IP of one project with another project's port",
    },
  );
  s.del('member', 'delete', '/v2.0/floatingips/${fip}', { expect: 204 });
  s.del('member', 'delete missing', '/v2.0/floatingips/${fip}', { expect: 404 });
  return s.done();
}

export function subnetpools() {
  const s = new S('subnetpools', 'subnet pools: defaults, allocation from a pool, bounds, shared, policy', [
    'subnet_allocation',
    'subnetpool-prefix-ops',
    'default-subnetpools',
  ]);
  s.post(
    'member',
    'create',
    '/v2.0/subnetpools',
    { subnetpool: { name: 'gold-pool', prefixes: ['10.16.0.0/16'], default_prefixlen: 26 } },
    { bind: { pool: 'subnetpool.id' }, expect: 201 },
  );
  s.get('member', 'show', '/v2.0/subnetpools/${pool}', { expect: 200 });
  s.post('member', 'network', '/v2.0/networks', { network: { name: 'gold-pool-net' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.post(
    'member',
    'subnet from pool',
    '/v2.0/subnets',
    { subnet: { network_id: '${net}', subnetpool_id: '${pool}', ip_version: 4 } },
    { bind: { sub: 'subnet.id' }, expect: 201 },
  );
  s.post(
    'member',
    'subnet prefixlen below pool minimum',
    '/v2.0/subnets',
    { subnet: { network_id: '${net}', subnetpool_id: '${pool}', ip_version: 4, prefixlen: 4 } },
    {},
  );
  s.put('member', 'add prefix', '/v2.0/subnetpools/${pool}/add_prefixes', { prefixes: ['10.17.0.0/24'] }, { expect: 200 });
  s.put('member', 'remove prefix in use', '/v2.0/subnetpools/${pool}/remove_prefixes', { prefixes: ['10.16.0.0/16'] }, { expect: 400 });
  s.put('member', 'shrink refused', '/v2.0/subnetpools/${pool}', { subnetpool: { prefixes: ['10.17.0.0/24'] } }, { expect: 400 });
  s.put('member', 'update', '/v2.0/subnetpools/${pool}', { subnetpool: { name: 'gold-pool-b', min_prefixlen: 24 } }, { expect: 200 });
  s.post('member', 'member shared refused', '/v2.0/subnetpools', { subnetpool: { name: 'x', prefixes: ['10.18.0.0/16'], shared: true } }, { expect: 403 });
  s.post('member', 'member default refused', '/v2.0/subnetpools', { subnetpool: { name: 'x', prefixes: ['10.18.0.0/16'], is_default: true } }, { expect: 403 });
  s.post('member', 'mixed versions', '/v2.0/subnetpools', { subnetpool: { name: 'x', prefixes: ['10.18.0.0/16', 'fd00:18::/48'] } }, { expect: 400 });
  s.get('member', 'list', '/v2.0/subnetpools?name=gold-pool-b', { expect: 200 });
  s.get('alt', 'alt cannot see', '/v2.0/subnetpools/${pool}', { expect: 404 });
  s.del('member', 'delete in use', '/v2.0/subnetpools/${pool}', { expect: 400 });
  s.del('member', 'delete subnet', '/v2.0/subnets/${sub}', { expect: 204 });
  s.del('member', 'delete', '/v2.0/subnetpools/${pool}', { expect: 204 });
  return s.done();
}

export function quotas() {
  const s = new S('quotas', 'quotas: show, defaults, details, update, policy, enforcement', ['quotas', 'quota_details', 'quota-check-limit']);
  s.get('member', 'show own', '/v2.0/quotas/${projectA}', { expect: 200 });
  s.get('member', 'details own', '/v2.0/quotas/${projectA}/details', { expect: 200 });
  s.get('member', 'defaults', '/v2.0/quotas/${projectA}/default', { expect: 200 });
  s.get('member', 'show other refused', '/v2.0/quotas/${projectB}', { expect: 403 });
  s.put('member', 'member update refused', '/v2.0/quotas/${projectA}', { quota: { network: 5 } }, { expect: 403 });
  s.put('admin', 'update', '/v2.0/quotas/${projectA}', { quota: { network: 1, port: 3 } }, { expect: 200 });
  s.put('admin', 'bad value', '/v2.0/quotas/${projectA}', { quota: { network: 'lots' } }, { expect: 400 });
  s.put('admin', 'unknown resource', '/v2.0/quotas/${projectA}', { quota: { widgets: 3 } }, { expect: 400 });
  s.post('member', 'first network', '/v2.0/networks', { network: { name: 'gold-q-1' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.post('member', 'over quota', '/v2.0/networks', { network: { name: 'gold-q-2' } }, { expect: 409 });
  s.get('member', 'details after', '/v2.0/quotas/${projectA}/details', { expect: 200 });
  s.put('admin', 'below usage with check_limit', '/v2.0/quotas/${projectA}', { quota: { network: 0, check_limit: true } }, { expect: 400 });
  s.del('admin', 'reset', '/v2.0/quotas/${projectA}', { expect: 204 });
  s.get('member', 'show after reset', '/v2.0/quotas/${projectA}', { expect: 200 });
  return s.done();
}

export function tags() {
  const s = new S('tags', 'tags: set, add, check, remove, filters', ['standard-attr-tag']);
  s.post('member', 'network', '/v2.0/networks', { network: { name: 'gold-tag-net' } }, { bind: { net: 'network.id' }, expect: 201 });
  s.put('member', 'replace', '/v2.0/networks/${net}/tags', { tags: ['red', 'blue'] }, { expect: 200 });
  s.put('member', 'add one', '/v2.0/networks/${net}/tags/green', undefined, { expect: 201 });
  s.get('member', 'check present', '/v2.0/networks/${net}/tags/green', { expect: 204 });
  s.get('member', 'check absent', '/v2.0/networks/${net}/tags/purple', { expect: 404 });
  s.get('member', 'list tags', '/v2.0/networks/${net}/tags', { expect: 200 });
  s.get('member', 'filter tags', '/v2.0/networks?tags=red,blue&fields=name&fields=tags', { expect: 200 });
  s.get('member', 'filter tags-any', '/v2.0/networks?tags-any=green,nothing&fields=name', { expect: 200 });
  s.get('member', 'filter not-tags', '/v2.0/networks?not-tags=red&name=gold-tag-net&fields=name', { expect: 200 });
  s.put('member', 'too long', '/v2.0/networks/${net}/tags', { tags: ['x'.repeat(256)] }, { expect: 400 });
  s.put('member', 'not a list', '/v2.0/networks/${net}/tags', { tags: 'red' }, { expect: 400 });
  s.del('member', 'remove one', '/v2.0/networks/${net}/tags/red', { expect: 204 });
  s.del('member', 'remove missing', '/v2.0/networks/${net}/tags/red', { expect: 404 });
  s.del('member', 'remove all', '/v2.0/networks/${net}/tags', { expect: 204 });
  s.get('member', 'show after', '/v2.0/networks/${net}', { expect: 200 });
  s.put('alt', 'alt tag refused', '/v2.0/networks/${net}/tags/x', undefined, { expect: 404 });
  s.post('member', 'security group', '/v2.0/security-groups', { security_group: { name: 'gold-tag-sg' } }, { bind: { sg: 'security_group.id' }, expect: 201 });
  s.put('member', 'tag security group', '/v2.0/security-groups/${sg}/tags', { tags: ['a'] }, { expect: 200 });
  s.put('member', 'tag unknown resource', '/v2.0/widgets/${sg}/tags', { tags: ['a'] }, { expect: 404 });
  return s.done();
}

export function metering() {
  const s = new S('metering', 'metering labels and rules (admin), member refusals', ['metering', 'metering_source_and_destination_fields']);
  s.post(
    'admin',
    'create label',
    '/v2.0/metering/metering-labels',
    { metering_label: { name: 'gold-label', description: 'd' } },
    { bind: { label: 'metering_label.id' }, expect: 201 },
  );
  s.get('admin', 'show label', '/v2.0/metering/metering-labels/${label}', { expect: 200 });
  s.post(
    'admin',
    'rule',
    '/v2.0/metering/metering-label-rules',
    { metering_label_rule: { metering_label_id: '${label}', remote_ip_prefix: '10.19.0.0/16', direction: 'ingress' } },
    {
      bind: { rule: 'metering_label_rule.id' },
      expect: 201,
    },
  );
  s.post('admin', 'rule source/destination', '/v2.0/metering/metering-label-rules', {
    metering_label_rule: { metering_label_id: '${label}', source_ip_prefix: '10.20.0.0/16', destination_ip_prefix: '10.21.0.0/16', direction: 'egress' },
  });
  s.post(
    'admin',
    'overlapping rule',
    '/v2.0/metering/metering-label-rules',
    { metering_label_rule: { metering_label_id: '${label}', remote_ip_prefix: '10.19.1.0/24', direction: 'ingress' } },
    {
      expect: 409,
    },
  );
  s.get('admin', 'list rules', '/v2.0/metering/metering-label-rules?metering_label_id=${label}', { expect: 200 });
  s.post('member', 'member label refused', '/v2.0/metering/metering-labels', { metering_label: { name: 'x' } }, { expect: 403 });
  s.get('member', 'member list', '/v2.0/metering/metering-labels', { expect: 200 });
  s.del('admin', 'delete rule', '/v2.0/metering/metering-label-rules/${rule}', { expect: 204 });
  s.del('admin', 'delete label', '/v2.0/metering/metering-labels/${label}', { expect: 204 });
  return s.done();
}

export function networkIpAvailability() {
  const s = new S('network-ip-availability', 'network IP availability (admin)', ['network-ip-availability']);
  tenantNet(s, 'member', 'net', 'gold-ipa-net', '10.22.0.0/24');
  s.post('member', 'port', '/v2.0/ports', { port: { network_id: '${net}' } }, { expect: 201 });
  s.get('admin', 'show', '/v2.0/network-ip-availabilities/${net}', { expect: 200 });
  s.get('admin', 'list by network', '/v2.0/network-ip-availabilities?network_id=${net}', { expect: 200 });
  s.get('member', 'member refused', '/v2.0/network-ip-availabilities/${net}', { expect: 404 });
  return s.done();
}
