import { S } from '../scenario.js';
import { extNet, tenantNet } from './common.js';

export function qos() {
  const s = new S(
    'qos',
    'QoS: policies, the five rule kinds, rule types and details, default policy, qos_policy_id on networks, ports, floating IPs and router gateways',
    [
      'qos',
      'qos-bw-limit-direction',
      'qos-default',
      'qos-rule-type-details',
      'qos-rule-type-filter',
      'qos-rules-alias',
      'qos-fip',
      'qos-gateway-ip',
      'qos-bw-minimum-ingress',
      'qos-pps-minimum',
      'qos-pps-minimum-rule-alias',
      'qos-pps',
      'qos-port-network-policy',
      'port-resource-request',
      'port-resource-request-groups',
    ],
  );
  s.get('member', 'rule types', '/v2.0/qos/rule-types', { expect: 200 });
  s.get('member', 'rule types all_supported', '/v2.0/qos/rule-types?all_supported=true');
  s.get('member', 'rule types all_rules', '/v2.0/qos/rule-types?all_rules=true');
  s.get('admin', 'rule type details', '/v2.0/qos/rule-types/bandwidth_limit', { expect: 200 });
  s.get('admin', 'rule type details pps', '/v2.0/qos/rule-types/packet_rate_limit');
  s.post('member', 'member create refused', '/v2.0/qos/policies', { policy: { name: 'gold-qos-x' } }, { expect: 403 });
  s.post('admin', 'create', '/v2.0/qos/policies', { policy: { name: 'gold-qos', description: 'd', shared: true } }, { bind: { qp: 'policy.id' }, expect: 201 });
  s.get('admin', 'show', '/v2.0/qos/policies/${qp}', { expect: 200 });
  s.post(
    'admin',
    'bandwidth limit',
    '/v2.0/qos/policies/${qp}/bandwidth_limit_rules',
    { bandwidth_limit_rule: { max_kbps: 10000, max_burst_kbps: 8000 } },
    {
      bind: { bw: 'bandwidth_limit_rule.id' },
      expect: 201,
    },
  );
  s.post(
    'admin',
    'bandwidth limit ingress',
    '/v2.0/qos/policies/${qp}/bandwidth_limit_rules',
    { bandwidth_limit_rule: { max_kbps: 20000, direction: 'ingress' } },
    {
      bind: { bwIn: 'bandwidth_limit_rule.id' },
      expect: 201,
    },
  );
  s.post(
    'admin',
    'bandwidth limit duplicate direction',
    '/v2.0/qos/policies/${qp}/bandwidth_limit_rules',
    { bandwidth_limit_rule: { max_kbps: 1 } },
    { expect: 409 },
  );
  s.post(
    'admin',
    'bandwidth limit bad direction',
    '/v2.0/qos/policies/${qp}/bandwidth_limit_rules',
    { bandwidth_limit_rule: { max_kbps: 1, direction: 'sideways' } },
    { expect: 400 },
  );
  s.post(
    'admin',
    'bandwidth limit negative',
    '/v2.0/qos/policies/${qp}/bandwidth_limit_rules',
    { bandwidth_limit_rule: { max_kbps: -1, direction: 'ingress' } },
    { expect: 400 },
  );
  s.post(
    'admin',
    'dscp',
    '/v2.0/qos/policies/${qp}/dscp_marking_rules',
    { dscp_marking_rule: { dscp_mark: 26 } },
    { bind: { dscp: 'dscp_marking_rule.id' }, expect: 201 },
  );
  s.post('admin', 'dscp invalid mark', '/v2.0/qos/policies/${qp}/dscp_marking_rules', { dscp_marking_rule: { dscp_mark: 7 } }, { expect: 400 });
  s.post(
    'admin',
    'minimum bandwidth',
    '/v2.0/qos/policies/${qp}/minimum_bandwidth_rules',
    { minimum_bandwidth_rule: { min_kbps: 1000 } },
    {
      bind: { minbw: 'minimum_bandwidth_rule.id' },
      expect: 201,
    },
  );
  s.post(
    'admin',
    'minimum bandwidth ingress',
    '/v2.0/qos/policies/${qp}/minimum_bandwidth_rules',
    { minimum_bandwidth_rule: { min_kbps: 2000, direction: 'ingress' } },
    {
      expect: 201,
    },
  );
  s.post(
    'admin',
    'minimum packet rate',
    '/v2.0/qos/policies/${qp}/minimum_packet_rate_rules',
    { minimum_packet_rate_rule: { min_kpps: 1000, direction: 'any' } },
    {
      bind: { minpps: 'minimum_packet_rate_rule.id' },
      expect: 201,
    },
  );
  s.post('admin', 'minimum packet rate egress beside any', '/v2.0/qos/policies/${qp}/minimum_packet_rate_rules', {
    minimum_packet_rate_rule: { min_kpps: 10, direction: 'egress' },
  });
  s.post(
    'admin',
    'packet rate limit',
    '/v2.0/qos/policies/${qp}/packet_rate_limit_rules',
    { packet_rate_limit_rule: { max_kpps: 500, max_burst_kpps: 100 } },
    {
      bind: { pps: 'packet_rate_limit_rule.id' },
    },
  );
  s.get('admin', 'show with rules', '/v2.0/qos/policies/${qp}', { expect: 200 });
  s.get('admin', 'list bandwidth rules', '/v2.0/qos/policies/${qp}/bandwidth_limit_rules', { expect: 200 });
  s.get('admin', 'show dscp rule', '/v2.0/qos/policies/${qp}/dscp_marking_rules/${dscp}', { expect: 200 });
  s.put(
    'admin',
    'update bandwidth rule',
    '/v2.0/qos/policies/${qp}/bandwidth_limit_rules/${bw}',
    { bandwidth_limit_rule: { max_kbps: 5000 } },
    { expect: 200 },
  );
  s.put(
    'admin',
    'update bandwidth rule clash',
    '/v2.0/qos/policies/${qp}/bandwidth_limit_rules/${bw}',
    { bandwidth_limit_rule: { direction: 'ingress' } },
    { expect: 409 },
  );
  s.get('admin', 'alias show', '/v2.0/qos/alias_bandwidth_limit_rules/${bw}', { expect: 200 });
  s.put('admin', 'alias update', '/v2.0/qos/alias_dscp_marking_rules/${dscp}', { alias_dscp_marking_rule: { dscp_mark: 34 } }, { expect: 200 });
  s.get('admin', 'alias minimum packet rate', '/v2.0/qos/alias_minimum_packet_rate_rules/${minpps}');
  s.get('member', 'member sees shared', '/v2.0/qos/policies/${qp}', { expect: 200 });
  s.post('member', 'member rule refused', '/v2.0/qos/policies/${qp}/dscp_marking_rules', { dscp_marking_rule: { dscp_mark: 10 } }, { expect: 403 });
  s.get('member', 'member list', '/v2.0/qos/policies?name=gold-qos', { expect: 200 });
  s.put('admin', 'update policy', '/v2.0/qos/policies/${qp}', { policy: { description: 'changed' } }, { expect: 200 });
  s.post('admin', 'private policy', '/v2.0/qos/policies', { policy: { name: 'gold-qos-private' } }, { bind: { qpPriv: 'policy.id' }, expect: 201 });
  s.get('member', 'member cannot see private', '/v2.0/qos/policies/${qpPriv}', { expect: 404 });
  s.post(
    'admin',
    'default for A',
    '/v2.0/qos/policies',
    { policy: { name: 'gold-qos-default', is_default: true, project_id: '${projectA}' } },
    {
      bind: { qpDef: 'policy.id' },
      expect: 201,
    },
  );
  s.post(
    'admin',
    'second default for A',
    '/v2.0/qos/policies',
    { policy: { name: 'gold-qos-default-2', is_default: true, project_id: '${projectA}' } },
    { expect: 409 },
  );
  s.post('admin', 'plain policy', '/v2.0/qos/policies', { policy: { name: 'gold-qos-plain', shared: true } }, { bind: { qpl: 'policy.id' }, expect: 201 });
  s.post('admin', 'plain policy limit', '/v2.0/qos/policies/${qpl}/bandwidth_limit_rules', { bandwidth_limit_rule: { max_kbps: 3000 } }, { expect: 201 });
  s.post(
    'member',
    'network with minimum rule policy',
    '/v2.0/networks',
    { network: { name: 'gold-qos-net-min', qos_policy_id: '${qp}' } },
    {
      note: 'OVS supports minimum bandwidth on physical networks only',
    },
  );
  s.post('member', 'network takes default', '/v2.0/networks', { network: { name: 'gold-qos-net-default' } }, { bind: { netDef: 'network.id' }, expect: 201 });
  s.post(
    'member',
    'network with policy',
    '/v2.0/networks',
    { network: { name: 'gold-qos-net', qos_policy_id: '${qpl}' } },
    { bind: { net: 'network.id' }, expect: 201 },
  );
  s.post(
    'member',
    'subnet',
    '/v2.0/subnets',
    { subnet: { network_id: '${net}', cidr: '10.30.0.0/24', ip_version: 4 } },
    { bind: { sub: 'subnet.id' }, expect: 201 },
  );
  s.post('member', 'port inherits', '/v2.0/ports', { port: { network_id: '${net}' } }, { bind: { port: 'port.id' }, expect: 201 });
  s.post(
    'member',
    'port own policy',
    '/v2.0/ports',
    { port: { network_id: '${net}', qos_policy_id: '${qpDef}' } },
    { bind: { port2: 'port.id' }, expect: 201 },
  );
  s.put('member', 'port clear policy', '/v2.0/ports/${port2}', { port: { qos_policy_id: null } }, { expect: 200 });
  s.post('member', 'port private policy', '/v2.0/ports', { port: { network_id: '${net}', qos_policy_id: '${qpPriv}' } }, { expect: 404 });
  s.post(
    'admin',
    'port bound with minimum rule',
    '/v2.0/ports',
    { port: { network_id: '${net}', qos_policy_id: '${qp}', 'binding:vnic_type': 'normal' } },
    {
      note: 'resource_request of a port whose policy has minimum rules',
    },
  );
  s.del('admin', 'delete in use', '/v2.0/qos/policies/${qpl}', { expect: 409 });
  extNet(s, 'ext', 'gold-qos-ext', '198.18.3.0/24');
  s.post(
    'member',
    'router gateway policy',
    '/v2.0/routers',
    { router: { name: 'gold-qos-router', external_gateway_info: { network_id: '${ext}', qos_policy_id: '${qpl}' } } },
    {
      bind: { router: 'router.id' },
    },
  );
  s.post(
    'member',
    'router',
    '/v2.0/routers',
    { router: { name: 'gold-qos-router-2', external_gateway_info: { network_id: '${ext}' } } },
    { bind: { router2: 'router.id' }, expect: 201 },
  );
  s.put('member', 'router set gateway policy', '/v2.0/routers/${router2}', {
    router: { external_gateway_info: { network_id: '${ext}', qos_policy_id: '${qpl}' } },
  });
  s.post(
    'member',
    'fip with policy',
    '/v2.0/floatingips',
    { floatingip: { floating_network_id: '${ext}', qos_policy_id: '${qpl}' } },
    { bind: { fip: 'floatingip.id' }, expect: 201 },
  );
  s.put('member', 'fip clear policy', '/v2.0/floatingips/${fip}', { floatingip: { qos_policy_id: null } }, { expect: 200 });
  s.put('member', 'network clear policy', '/v2.0/networks/${net}', { network: { qos_policy_id: null } }, { expect: 200 });
  s.del('admin', 'delete rule', '/v2.0/qos/policies/${qp}/dscp_marking_rules/${dscp}', { expect: 204 });
  s.del('admin', 'delete rule again', '/v2.0/qos/policies/${qp}/dscp_marking_rules/${dscp}', { expect: 404 });
  s.post(
    'member',
    'fip with minimum rule policy',
    '/v2.0/floatingips',
    { floatingip: { floating_network_id: '${ext}', qos_policy_id: '${qp}' } },
    {
      note: 'a policy with minimum rules on a floating IP (one earlier capture answered 500 here when the policy was gone)',
    },
  );
  s.del('admin', 'delete private', '/v2.0/qos/policies/${qpPriv}', { expect: 204 });
  return s.done();
}

export function trunk() {
  const s = new S('trunk', 'trunks and subports: create, add/remove subports, inherit, trunk_details, in use', ['trunk', 'trunk-details']);
  tenantNet(s, 'member', 'net', 'gold-trunk-parent', '10.31.0.0/24');
  tenantNet(s, 'member', 'net2', 'gold-trunk-child', '10.31.1.0/24');
  s.post('member', 'parent port', '/v2.0/ports', { port: { name: 'parent', network_id: '${net}' } }, { bind: { parent: 'port.id' }, expect: 201 });
  s.post(
    'member',
    'child port',
    '/v2.0/ports',
    { port: { name: 'child', network_id: '${net2}' } },
    { bind: { child: 'port.id', childMac: 'port.mac_address' }, expect: 201 },
  );
  s.post('member', 'child port 2', '/v2.0/ports', { port: { name: 'child2', network_id: '${net2}' } }, { bind: { child2: 'port.id' }, expect: 201 });
  s.post(
    'member',
    'create',
    '/v2.0/trunks',
    {
      trunk: { name: 'gold-trunk', port_id: '${parent}', sub_ports: [{ port_id: '${child}', segmentation_type: 'vlan', segmentation_id: 101 }] },
    },
    { bind: { trunk: 'trunk.id' }, expect: 201 },
  );
  s.get('member', 'show', '/v2.0/trunks/${trunk}', { expect: 200 });
  s.get('member', 'parent trunk_details', '/v2.0/ports/${parent}', { expect: 200 });
  s.get('member', 'show child port', '/v2.0/ports/${child}', { expect: 200 });
  s.post('member', 'second trunk same parent', '/v2.0/trunks', { trunk: { port_id: '${parent}' } }, { expect: 409 });
  s.put(
    'member',
    'add subport duplicate vlan',
    '/v2.0/trunks/${trunk}/add_subports',
    { sub_ports: [{ port_id: '${child2}', segmentation_type: 'vlan', segmentation_id: 101 }] },
    {
      expect: 409,
    },
  );
  s.put(
    'member',
    'add subport bad vlan',
    '/v2.0/trunks/${trunk}/add_subports',
    { sub_ports: [{ port_id: '${child2}', segmentation_type: 'vlan', segmentation_id: 5000 }] },
    {
      expect: 400,
    },
  );
  s.put('member', 'add subport inherit', '/v2.0/trunks/${trunk}/add_subports', { sub_ports: [{ port_id: '${child2}', segmentation_type: 'inherit' }] });
  s.put(
    'member',
    'add subport',
    '/v2.0/trunks/${trunk}/add_subports',
    { sub_ports: [{ port_id: '${child2}', segmentation_type: 'vlan', segmentation_id: 102 }] },
    { expect: 200 },
  );
  s.get('member', 'get subports', '/v2.0/trunks/${trunk}/get_subports', { expect: 200 });
  s.put('member', 'update', '/v2.0/trunks/${trunk}', { trunk: { name: 'gold-trunk-b', admin_state_up: false } }, { expect: 200 });
  s.put('member', 'add subport when disabled', '/v2.0/trunks/${trunk}/add_subports', { sub_ports: [] });
  s.put('member', 'enable', '/v2.0/trunks/${trunk}', { trunk: { admin_state_up: true } }, { expect: 200 });
  s.del('member', 'delete parent port in use', '/v2.0/ports/${parent}', { expect: 409 });
  s.del('member', 'delete subport port in use', '/v2.0/ports/${child}', { expect: 409 });
  s.put('member', 'remove subport', '/v2.0/trunks/${trunk}/remove_subports', { sub_ports: [{ port_id: '${child2}' }] }, { expect: 200 });
  s.put('member', 'remove subport again', '/v2.0/trunks/${trunk}/remove_subports', { sub_ports: [{ port_id: '${child2}' }] }, { expect: 404 });
  s.get('member', 'list', '/v2.0/trunks?name=gold-trunk-b', { expect: 200 });
  s.get('alt', 'alt cannot see', '/v2.0/trunks/${trunk}', { expect: 404 });
  s.post('member', 'trunk on missing port', '/v2.0/trunks', { trunk: { port_id: '11111111-2222-3333-4444-555555555555' } }, { expect: 404 });
  s.del('member', 'delete', '/v2.0/trunks/${trunk}', { expect: 204 });
  s.del('member', 'delete parent port', '/v2.0/ports/${parent}', { expect: 204 });
  return s.done();
}
