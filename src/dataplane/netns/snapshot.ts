import { VIF_TYPE_BINDING_FAILED } from '../../core/network/binding.js';
import { L2_AGENT_TYPE } from '../../core/network/zones.js';
import { fromJson } from '../../store/db.js';
import type { Store } from '../../store/db.js';
import type { Q } from '../../store/db.js';
import type { AddressPair, HostRoute, SegmentRec, LocalIpRec, PortForwardingRec, QosRuleRec, RuleRec, SgLogRec, Snapshot, TrunkRec } from './model.js';

/**
 * One consistent read of everything the data plane renders (a read transaction, so a pass never
 * sees half of an API call). Plain records come out; nothing here knows about the kernel.
 */
export async function loadSnapshot(store: Store): Promise<Snapshot> {
  return store.db.transaction().execute(async (q) => {
    const [networks, subnets, ports, allocs, bindings, groups, rules, groupAddrs, routers, routes, fips, extras, placement] = await Promise.all([
      q.selectFrom('networks').select(['id', 'mtu', 'admin_state_up', 'network_type', 'physical_network', 'segmentation_id']).execute(),
      q
        .selectFrom('subnets')
        .leftJoin('subnetpools', 'subnetpools.id', 'subnets.subnetpool_id')
        .select([
          'subnets.id',
          'subnets.network_id',
          'subnets.ip_version',
          'subnets.cidr',
          'subnets.gateway_ip',
          'subnets.host_routes',
          'subnets.enable_dhcp',
          'subnets.dns_nameservers',
          'subnets.ipv6_address_mode',
          'subnets.ipv6_ra_mode',
          'subnetpools.address_scope_id',
        ])
        .execute(),
      q
        .selectFrom('ports')
        .select([
          'id',
          'network_id',
          'mac_address',
          'admin_state_up',
          'status',
          'device_id',
          'device_owner',
          'binding_host_id',
          'binding_vif_type',
          'binding_segment_id',
          'port_security_enabled',
          'allowed_address_pairs',
          'extra_dhcp_opts',
          'created_at',
        ])
        .execute(),
      q.selectFrom('ip_allocations').select(['port_id', 'subnet_id', 'ip_address', 'position']).orderBy('port_id').orderBy('position').execute(),
      q.selectFrom('port_security_groups').select(['port_id', 'security_group_id']).execute(),
      q.selectFrom('security_groups').select(['id', 'stateful', 'project_id']).execute(),
      q
        .selectFrom('security_group_rules')
        .select([
          'id',
          'security_group_id',
          'direction',
          'ethertype',
          'protocol',
          'port_range_min',
          'port_range_max',
          'remote_ip_prefix',
          'remote_group_id',
          'remote_address_group_id',
        ])
        .execute(),
      q.selectFrom('address_group_addresses').select(['address_group_id', 'address']).execute(),
      q.selectFrom('routers').select(['id', 'admin_state_up', 'status', 'enable_snat', 'gw_port_id', 'enable_ndp_proxy', 'ha', 'ha_vr_id']).execute(),
      q.selectFrom('router_routes').select(['router_id', 'destination', 'nexthop']).orderBy('router_id').orderBy('position').execute(),
      q.selectFrom('floating_ips').select(['id', 'floating_ip_address', 'fixed_ip_address', 'fixed_port_id', 'router_id', 'status']).execute(),
      loadExtras(q),
      loadPlacement(q),
    ]);
    const routesOf = new Map<string, HostRoute[]>();
    for (const r of routes) {
      if (!routesOf.has(r.router_id)) routesOf.set(r.router_id, []);
      routesOf.get(r.router_id)!.push({ destination: r.destination, nexthop: r.nexthop });
    }
    const fixed = new Map<string, Array<{ subnetId: string; ipAddress: string }>>();
    for (const a of allocs) {
      if (!fixed.has(a.port_id)) fixed.set(a.port_id, []);
      fixed.get(a.port_id)!.push({ subnetId: a.subnet_id, ipAddress: a.ip_address });
    }
    const portGroups = new Map<string, string[]>();
    for (const b of bindings) {
      if (!portGroups.has(b.port_id)) portGroups.set(b.port_id, []);
      portGroups.get(b.port_id)!.push(b.security_group_id);
    }
    const addressesOf = new Map<string, string[]>();
    for (const a of groupAddrs) {
      if (!addressesOf.has(a.address_group_id)) addressesOf.set(a.address_group_id, []);
      addressesOf.get(a.address_group_id)!.push(a.address);
    }
    const groupRules = new Map<string, RuleRec[]>();
    for (const r of rules) {
      const rec = (remoteIpPrefix: string | null): RuleRec => ({
        id: r.id,
        direction: r.direction as RuleRec['direction'],
        ethertype: r.ethertype as RuleRec['ethertype'],
        protocol: r.protocol,
        portMin: r.port_range_min,
        portMax: r.port_range_max,
        remoteIpPrefix,
        remoteGroupId: r.remote_group_id,
      });
      if (!groupRules.has(r.security_group_id)) groupRules.set(r.security_group_id, []);
      const list = groupRules.get(r.security_group_id)!;
      if (!r.remote_address_group_id) {
        list.push(rec(r.remote_ip_prefix));
        continue;
      }
      // A rule naming an address group admits each of the group's addresses of its ethertype, as
      // Neutron's OVS firewall expands the group's members into conjunction flows; an empty group
      // admits nothing.
      const v6 = r.ethertype === 'IPv6';
      for (const address of addressesOf.get(r.remote_address_group_id) ?? []) if (address.includes(':') === v6) list.push(rec(address));
    }
    // Each network's segments in order: a port is bound to one of them (binding.ts), and its host
    // builds the network's bridge from that one.
    const segmentsOf = new Map<string, SegmentRec[]>();
    const segRows = await q
      .selectFrom('network_segments')
      .select(['id', 'network_id', 'network_type', 'physical_network', 'segmentation_id'])
      .orderBy('network_id')
      .orderBy('segment_index')
      .execute();
    for (const r of segRows) {
      const rec: SegmentRec = { id: r.id, networkType: r.network_type, physicalNetwork: r.physical_network, segmentationId: r.segmentation_id };
      const list = segmentsOf.get(r.network_id);
      if (list) list.push(rec);
      else segmentsOf.set(r.network_id, [rec]);
    }
    return {
      networks: networks.map((n) => ({
        qosPolicyId: extras.networkQos.get(n.id) ?? null,
        id: n.id,
        mtu: n.mtu,
        adminUp: n.admin_state_up === 1,
        networkType: n.network_type,
        physicalNetwork: n.physical_network,
        segmentationId: n.segmentation_id,
        segments: segmentsOf.get(n.id) ?? [],
      })),
      subnets: subnets.map((x) => ({
        id: x.id,
        networkId: x.network_id,
        ipVersion: x.ip_version as 4 | 6,
        cidr: x.cidr,
        gatewayIp: x.gateway_ip,
        hostRoutes: fromJson<HostRoute[]>(x.host_routes, []),
        enableDhcp: x.enable_dhcp === 1,
        dnsNameservers: fromJson<string[]>(x.dns_nameservers, []),
        ipv6AddressMode: x.ipv6_address_mode,
        ipv6RaMode: x.ipv6_ra_mode,
        addressScopeId: x.address_scope_id ?? null,
      })),
      ports: ports.map((p) => ({
        qosPolicyId: extras.portQos.get(p.id) ?? null,
        id: p.id,
        networkId: p.network_id,
        mac: p.mac_address,
        adminUp: p.admin_state_up === 1,
        status: p.status,
        deviceId: p.device_id,
        deviceOwner: p.device_owner,
        bindingHost: p.binding_host_id,
        bindingSegment: p.binding_segment_id,
        bindingFailed: p.binding_vif_type === VIF_TYPE_BINDING_FAILED,
        portSecurity: p.port_security_enabled === 1,
        fixedIps: fixed.get(p.id) ?? [],
        allowedAddressPairs: fromJson<Array<{ ip_address: string; mac_address?: string }>>(p.allowed_address_pairs, []).map(
          (x): AddressPair => ({ ipAddress: x.ip_address, macAddress: x.mac_address ?? p.mac_address }),
        ),
        securityGroups: portGroups.get(p.id) ?? [],
        createdAt: p.created_at,
        extraDhcpOpts: fromJson<Array<{ opt_name: string; opt_value: string; ip_version?: number }>>(p.extra_dhcp_opts, []).map((o) => ({
          optName: o.opt_name,
          optValue: o.opt_value,
          ipVersion: o.ip_version === 6 ? 6 : 4,
        })),
      })),
      securityGroups: groups.map((g) => ({ id: g.id, stateful: g.stateful === 1, rules: groupRules.get(g.id) ?? [], projectId: g.project_id })),
      routers: routers.map((r) => ({
        id: r.id,
        adminUp: r.admin_state_up === 1,
        status: r.status,
        enableSnat: r.enable_snat === 1,
        gatewayPortId: r.gw_port_id,
        routes: routesOf.get(r.id) ?? [],
        enableNdpProxy: r.enable_ndp_proxy === 1,
        ...(r.ha === 1 && r.ha_vr_id ? { haVrid: r.ha_vr_id } : {}),
      })),
      floatingIps: fips.map((f) => ({
        id: f.id,
        floatingIp: f.floating_ip_address,
        fixedIp: f.fixed_ip_address,
        portId: f.fixed_port_id,
        routerId: f.router_id,
        status: f.status,
      })),
      instances: null,
      qosPolicies: extras.qosPolicies,
      portForwardings: extras.portForwardings,
      trunks: extras.trunks,
      conntrackHelpers: extras.conntrackHelpers,
      ndpProxies: extras.ndpProxies,
      sgLogs: extras.sgLogs,
      localIps: extras.localIps,
      placement,
    };
  });
}

/**
 * Networks' DHCP agents' and routers' L3 agents' hosts (agents that are up: the server hands
 * nothing to a disabled one), and the hosts' tunnel endpoints their L2 agents report (l2pop
 * reads them from the agents' configurations too). An HA router is built on every host whose
 * agent hosts it, active or standby: keepalived there decides which one holds its addresses.
 */
async function loadPlacement(q: Q): Promise<NonNullable<Snapshot['placement']>> {
  const [dhcp, l3, l2] = await Promise.all([
    q
      .selectFrom('network_dhcp_agent_bindings')
      .innerJoin('agents', 'agents.id', 'network_dhcp_agent_bindings.dhcp_agent_id')
      .select(['network_dhcp_agent_bindings.network_id as id', 'agents.host'])
      .where('agents.admin_state_up', '=', 1)
      .execute(),
    q
      .selectFrom('router_l3_agent_bindings')
      .innerJoin('agents', 'agents.id', 'router_l3_agent_bindings.l3_agent_id')
      .select(['router_l3_agent_bindings.router_id as id', 'agents.host'])
      .where('agents.admin_state_up', '=', 1)
      .execute(),
    q.selectFrom('agents').select(['host', 'configurations']).where('agent_type', '=', L2_AGENT_TYPE).execute(),
  ]);
  const tunnels = new Map<string, string>();
  for (const a of l2) {
    const ip = fromJson<Record<string, unknown>>(a.configurations, {}).tunneling_ip;
    if (typeof ip === 'string' && ip) tunnels.set(a.host, ip);
  }
  const group = (rows: Array<{ id: string; host: string }>) => {
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.id, [...(out.get(r.id) ?? []), r.host]);
    return out;
  };
  return { dhcp: group(dhcp), l3: group(l3), tunnels };
}

/** What QoS and port forwarding add to a snapshot. */
interface Extras {
  networkQos: Map<string, string>;
  portQos: Map<string, string>;
  qosPolicies: Map<string, QosRuleRec[]>;
  portForwardings: PortForwardingRec[];
  trunks: TrunkRec[];
  conntrackHelpers: NonNullable<Snapshot['conntrackHelpers']>;
  ndpProxies: NonNullable<Snapshot['ndpProxies']>;
  sgLogs: SgLogRec[];
  localIps: LocalIpRec[];
}

async function loadExtras(q: Q): Promise<Extras> {
  const [netBindings, portBindings, qosRules, pfs, trunks, subports, helpers, proxies, logs, lips, lipAssocs] = await Promise.all([
    q.selectFrom('qos_network_bindings').selectAll().execute(),
    q.selectFrom('qos_port_bindings').selectAll().execute(),
    q
      .selectFrom('qos_rules')
      .select(['policy_id', 'type', 'direction', 'max_kbps', 'max_burst_kbps', 'max_kpps', 'max_burst_kpps', 'dscp_mark'])
      .where('type', 'in', ['bandwidth_limit', 'packet_rate_limit', 'dscp_marking'])
      .execute(),
    q.selectFrom('port_forwardings').selectAll().orderBy('created_at').orderBy('id').execute(),
    q.selectFrom('trunks').select(['id', 'port_id', 'admin_state_up', 'status']).execute(),
    q.selectFrom('trunk_subports').select(['trunk_id', 'port_id', 'segmentation_id']).orderBy('trunk_id').orderBy('position').execute(),
    q.selectFrom('conntrack_helpers').select(['id', 'router_id', 'protocol', 'port', 'helper']).orderBy('router_id').orderBy('id').execute(),
    q.selectFrom('ndp_proxies').select(['id', 'router_id', 'ip_address']).orderBy('router_id').orderBy('id').execute(),
    q
      .selectFrom('logs')
      .select(['id', 'project_id', 'resource_id', 'target_id', 'event'])
      .where('resource_type', '=', 'security_group')
      .where('enabled', '=', 1)
      .orderBy('id')
      .execute(),
    q.selectFrom('local_ips').select(['id', 'local_ip_address']).orderBy('id').execute(),
    q.selectFrom('local_ip_associations').select(['id', 'local_ip_id', 'fixed_ip']).orderBy('local_ip_id').orderBy('id').execute(),
  ]);
  const assocsOf = new Map<string, LocalIpRec['associations']>();
  for (const a of lipAssocs) assocsOf.set(a.local_ip_id, [...(assocsOf.get(a.local_ip_id) ?? []), { portId: a.id, fixedIp: a.fixed_ip }]);
  const subportsOf = new Map<string, TrunkRec['subports']>();
  for (const sp of subports) {
    if (!subportsOf.has(sp.trunk_id)) subportsOf.set(sp.trunk_id, []);
    subportsOf.get(sp.trunk_id)!.push({ portId: sp.port_id, segmentationId: sp.segmentation_id });
  }
  const qosPolicies = new Map<string, QosRuleRec[]>();
  for (const r of qosRules) {
    const rule: QosRuleRec =
      r.type === 'dscp_marking'
        ? { type: 'dscp_marking', mark: Number(r.dscp_mark) }
        : {
            type: r.type as 'bandwidth_limit' | 'packet_rate_limit',
            direction: r.direction === 'ingress' ? 'ingress' : 'egress',
            max: Number(r.type === 'bandwidth_limit' ? r.max_kbps : r.max_kpps),
            burst: Number(r.type === 'bandwidth_limit' ? r.max_burst_kbps : r.max_burst_kpps),
          };
    const list = qosPolicies.get(r.policy_id) ?? [];
    list.push(rule);
    qosPolicies.set(r.policy_id, list);
  }
  return {
    networkQos: new Map(netBindings.map((b) => [b.network_id, b.policy_id])),
    portQos: new Map(portBindings.map((b) => [b.port_id, b.policy_id])),
    qosPolicies,
    portForwardings: pfs.map((pf) => ({
      id: pf.id,
      floatingIpId: pf.floatingip_id,
      protocol: pf.protocol,
      internalIp: pf.internal_ip_address,
      internal: [pf.internal_port_start, pf.internal_port_end],
      external: [pf.external_port_start, pf.external_port_end],
    })),
    conntrackHelpers: helpers.map((h) => ({ id: h.id, routerId: h.router_id, protocol: h.protocol, port: h.port, helper: h.helper })),
    ndpProxies: proxies.map((p) => ({ id: p.id, routerId: p.router_id, ip: p.ip_address })),
    sgLogs: logs.map((l) => ({
      id: l.id,
      projectId: l.project_id,
      resourceId: l.resource_id,
      targetId: l.target_id,
      event: l.event === 'ACCEPT' || l.event === 'DROP' ? l.event : 'ALL',
    })),
    localIps: lips.map((l) => ({ id: l.id, address: l.local_ip_address, associations: assocsOf.get(l.id) ?? [] })),
    trunks: trunks.map((t) => ({ id: t.id, portId: t.port_id, adminUp: t.admin_state_up === 1, status: t.status, subports: subportsOf.get(t.id) ?? [] })),
  };
}
