import { isDeepStrictEqual } from 'node:util';
import type { Tx } from '../../store/db.js';
import type { NetworksTable, PortsTable, SubnetsTable } from '../../store/schema.js';
import { dropBoundLogs } from './logs.js';
import { fromJson, IN_CHUNK, TransactionConflict, chunks, isUniqueViolation, prepared } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import { type Cidr, type Ip, cidrContains, eui64, ipKey, ipToString, parseCidr, parseIp, randomMac } from '../../util/ip.js';
import { type RequestContext, systemContext } from '../context.js';
import type { Work } from '../work.js';
import { isoSeconds } from '../../util/time.js';
import { DomainError, conflict, invalidInput, resourceNotFound } from '../errors.js';
import {
  NOT_SPECIFIED,
  allowedAddressPairs,
  dictOrNone,
  extraDhcpOpts,
  fixedIps,
  kvpListToDict,
  macAddress,
  noneToEmptyDict,
  noneToEmptyList,
  string,
  toBoolean,
  toMac,
  uuid,
  uniqueStrings,
  uuidList,
  values as valuesV,
} from './attributes.js';
import { VIF_TYPE_BINDING_FAILED, bindPort, bindingColumns, portSubnetIds } from './binding.js';
import { type DnsAssignment, dnsAssignment, dnsDomain, dnsHostName, dnsNamesEnabled, lowerCase } from './dns.js';
import { dropPortForwardings } from './fipforwardings.js';
import { ipAlreadyAllocated, ipGenerationFailure, ipam } from './ipam.js';
import { type PortNetwork, visibleNetworkForPort } from './networks.js';
import { type PortQosComputed, createPortQos, loadPortQos, portQosInline, qosPolicyIdAttr, updatePortQos } from './qos.js';
import type { ResourceOps } from './registry.js';
import {
  type Prepared,
  type ResourceDef,
  bumpRevision,
  insertRow,
  isFresh,
  policyError,
  prepareCreate,
  prepareUpdate,
  standardAttrs,
  toColumns,
  updateRow,
} from './resource.js';
import { bindPortGroups, checkPortGroups, ensureDefaultSecurityGroup } from './securitygroups.js';
import { ROUTER_PORT_OWNERS, isAutoAddressSubnet, networkSubnets, subnetPools } from './subnets.js';
import { type TrunkDetails, assertPortNotInTrunk, loadTrunkDetails, trunkDetailsInline } from './trunks.js';

export const MAX_FIXED_IPS_PER_PORT = 5;
const VNIC_TYPES = [
  'normal',
  'direct',
  'macvtap',
  'baremetal',
  'direct-physical',
  'virtio-forwarder',
  'smart-nic',
  'vdpa',
  'accelerator-direct',
  'accelerator-direct-physical',
  'remote-managed',
];
/** Ports Neutron manages itself: no security groups, no port security (is_port_trusted). */
const isTrustedOwner = (owner: string) => owner.startsWith('network:');
/** Owners whose ports are deleted through their own API, never directly. */
const SERVICE_OWNERS = [
  'network:router_interface',
  'network:router_interface_distributed',
  'network:router_gateway',
  'network:floatingip',
  'network:ha_router_replicated_interface',
];

/** An extra DHCP option as the API takes and shows it (extra_dhcp_opt). */
interface DhcpOpt {
  opt_name: string;
  opt_value: string | null;
  ip_version?: number | string;
}

/** Attributes computed for rendering (the last two are decoded from their JSON columns). */
interface PortComputed extends PortQosComputed {
  trunk_details: TrunkDetails;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
  security_groups: string[];
  allowed_address_pairs: Array<{ mac_address: string; ip_address: string }>;
  extra_dhcp_opts: DhcpOpt[];
  dns_name: string;
  dns_assignment: DnsAssignment[];
  dns_domain: string;
}

const BINDING = ['binding:vnic_type', 'binding:profile', 'binding:host_id', 'binding:vif_type', 'binding:vif_details'];
/** GET's order: the core dict, then each extension's keys (ML2 extension drivers in configuration order). */
const SHOW_ORDER = [
  'id',
  'name',
  'network_id',
  'tenant_id',
  'mac_address',
  'admin_state_up',
  'status',
  'device_id',
  'device_owner',
  'fixed_ips',
  'allowed_address_pairs',
  'extra_dhcp_opts',
  'security_groups',
  'description',
  ...BINDING,
  'port_security_enabled',
  'qos_policy_id',
  'qos_network_policy_id',
  'dns_name',
  'dns_assignment',
  'dns_domain',
  'propagate_uplink_status',
  'data_plane_status',
  'device_profile',
  'numa_affinity_policy',
  'resource_request',
  'trunk_details',
  'ip_allocation',
  'tags',
  'revision_number',
  'created_at',
  'updated_at',
  'project_id',
];
/** A create's: the dict ML2 builds while it runs its extension drivers. */
const CREATE_HEAD = [
  'id',
  'name',
  'network_id',
  'tenant_id',
  'mac_address',
  'admin_state_up',
  'status',
  'device_id',
  'device_owner',
  'fixed_ips',
  'project_id',
];
const CREATE_DRIVERS = ['port_security_enabled', 'qos_policy_id', 'propagate_uplink_status', 'device_profile', 'numa_affinity_policy', 'security_groups'];
const CREATE_TAIL = [
  'allowed_address_pairs',
  'extra_dhcp_opts',
  'description',
  'qos_network_policy_id',
  'dns_name',
  'dns_assignment',
  'dns_domain',
  'data_plane_status',
  'resource_request',
  'ip_allocation',
  'tags',
  'revision_number',
  'created_at',
  'updated_at',
];
const CREATE_ORDER = [...CREATE_HEAD, ...CREATE_DRIVERS, ...BINDING, ...CREATE_TAIL];
/** A bulk create binds before the extension drivers run. */
const BULK_ORDER = [...CREATE_HEAD, ...BINDING, ...CREATE_DRIVERS, ...CREATE_TAIL];

const macOrNone = (v: unknown) => (v === null ? undefined : macAddress(v));

/** port-numa-affinity-policy's values (Zed: no `socket`). */
const NUMA_POLICIES = ['required', 'preferred', 'legacy', null];

export const portDef: ResourceDef<'ports', PortComputed> = {
  name: 'port',
  collection: 'ports',
  table: 'ports',
  label: 'Port',
  bulk: true,
  taggable: true,
  initialRevision: 1,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    network_id: { post: true, filter: true, sort: true, column: 'network_id', validate: uuid },
    tenant_id: standardAttrs().tenant_id,
    // null on update regenerates the MAC (port-mac-address-regenerate).
    mac_address: { post: true, put: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'mac_address', convert: toMac, validate: macOrNone },
    admin_state_up: { post: true, put: true, default: true, filter: true, sort: true, column: 'admin_state_up', codec: 'bool', convert: toBoolean },
    status: { filter: true, sort: true, column: 'status' },
    device_id: { post: true, put: true, default: '', filter: true, sort: true, column: 'device_id', validate: string(255) },
    device_owner: { post: true, put: true, default: '', filter: true, sort: true, column: 'device_owner', validate: string(255) },
    fixed_ips: { post: true, put: true, default: NOT_SPECIFIED, filter: true, convertList: (vs) => [kvpListToDict(vs)], validate: fixedIps },
    project_id: standardAttrs().project_id,
    port_security_enabled: { post: true, put: true, default: NOT_SPECIFIED, column: 'port_security_enabled', codec: 'bool', convert: toBoolean },
    qos_policy_id: qosPolicyIdAttr,
    qos_network_policy_id: {},
    resource_request: { adminOnlyRead: true },
    security_groups: { post: true, put: true, default: NOT_SPECIFIED, filter: true, convert: noneToEmptyList, validate: uuidList },
    'binding:vnic_type': {
      post: true,
      put: true,
      default: 'normal',
      filter: true,
      adminOnlyRead: false,
      column: 'binding_vnic_type',
      validate: valuesV(VNIC_TYPES),
    },
    'binding:profile': {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      adminOnly: true,
      adminOnlyRead: true,
      column: 'binding_profile',
      codec: 'json',
      convert: noneToEmptyDict,
      validate: dictOrNone,
    },
    'binding:host_id': { post: true, put: true, default: NOT_SPECIFIED, filter: true, adminOnly: true, adminOnlyRead: true, column: 'binding_host_id' },
    'binding:vif_type': { adminOnlyRead: true, column: 'binding_vif_type' },
    'binding:vif_details': { adminOnlyRead: true, column: 'binding_vif_details', codec: 'json' },
    allowed_address_pairs: { post: true, put: true, default: NOT_SPECIFIED, convert: noneToEmptyList, validate: allowedAddressPairs },
    extra_dhcp_opts: { post: true, put: true, default: null, validate: extraDhcpOpts },
    dns_name: { post: true, put: true, default: '', convert: lowerCase, validate: dnsHostName },
    dns_assignment: {},
    dns_domain: { post: true, put: true, default: '', convert: lowerCase, validate: dnsDomain },
    propagate_uplink_status: { post: true, default: true, column: 'propagate_uplink_status', codec: 'bool', convert: toBoolean },
    data_plane_status: { put: true, default: NOT_SPECIFIED, adminOnly: true, column: 'data_plane_status', validate: valuesV([null, 'ACTIVE', 'DOWN']) },
    device_profile: { post: true, default: null, column: 'device_profile', validate: (v) => (v === null ? undefined : string(255)(v)) },
    numa_affinity_policy: { post: true, put: true, default: null, column: 'numa_affinity_policy', validate: valuesV(NUMA_POLICIES) },
    ip_allocation: { filter: true, sort: true, column: 'ip_allocation' },
    trunk_details: {},
    ...(({ tenant_id: _t, project_id: _p, tags: _g, ...rest }) => rest)(standardAttrs()),
    // tag-ports-during-bulk-creation: tags may come with the port.
    tags: { post: true, default: NOT_SPECIFIED, filter: true, validate: uniqueStrings(255) },
  },
  order: { show: SHOW_ORDER, create: CREATE_ORDER, bulk: BULK_ORDER, update: SHOW_ORDER },
  // A network's owner sees every port on it (db_base_plugin_v2's _port_filter_hook).
  sharedWhere: (eb, ctx) =>
    eb(
      'ports.network_id',
      'in',
      eb
        .selectFrom('networks')
        .select('networks.id')
        .where('networks.project_id', '=', ctx.projectId ?? ''),
    ),
  // …and may delete them (delete_port's admin_owner_or_network_owner).
  async deleteAllowed(q, ctx, row) {
    const net = await q.selectFrom('networks').select('project_id').where('id', '=', row.network_id).executeTakeFirst();
    return !!ctx.projectId && net?.project_id === ctx.projectId;
  },
  specialFilters: {
    fixed_ips(eb, values) {
      const spec = kvpListToDict(values);
      const unknown = Object.keys(spec).filter((k) => !['ip_address', 'subnet_id', 'ip_address_substr'].includes(k));
      if (unknown.length) throw invalidInput(`Invalid fixed_ips filter: ${unknown.join(', ')}`);
      let sub = eb.selectFrom('ip_allocations').select('ip_allocations.port_id').whereRef('ip_allocations.port_id', '=', 'ports.id');
      if (spec.ip_address)
        sub = sub.where(
          'ip_allocations.ip_address',
          'in',
          spec.ip_address.map((ip) => (parseIp(ip) ? ipToString(parseIp(ip)!) : ip)),
        );
      if (spec.subnet_id) sub = sub.where('ip_allocations.subnet_id', 'in', spec.subnet_id);
      if (spec.ip_address_substr) {
        for (const s of spec.ip_address_substr) sub = sub.where('ip_allocations.ip_address', 'like', `%${s.replace(/[%_]/g, '')}%`);
      }
      return eb.exists(sub);
    },
    security_groups(eb, values) {
      return eb.exists(
        eb
          .selectFrom('port_security_groups')
          .select('port_security_groups.port_id')
          .whereRef('port_security_groups.port_id', '=', 'ports.id')
          .where('port_security_groups.security_group_id', 'in', values),
      );
    },
  },
  // A show reads the port's children with the port, in one statement (showRow).
  inline: {
    fixed_ips: {
      rows: (eb) =>
        eb
          .selectFrom('ip_allocations')
          .select(['ip_allocations.subnet_id', 'ip_allocations.ip_address', 'ip_allocations.position'])
          .whereRef('ip_allocations.port_id', '=', 'ports.id'),
      // Ordered here, as load orders them: an ORDER BY inside the aggregate costs SQLite a sorter
      // for every port shown, most of which have one address.
      columns: ['subnet_id', 'ip_address', 'position'],
      value: (rows) => {
        if (rows.length > 1) rows.sort((a, b) => (a[2] as number) - (b[2] as number));
        return rows.map(([subnet_id, ip_address]) => ({ subnet_id, ip_address }));
      },
    },
    security_groups: {
      rows: (eb) =>
        eb.selectFrom('port_security_groups').select('port_security_groups.security_group_id').whereRef('port_security_groups.port_id', '=', 'ports.id'),
      columns: ['security_group_id'],
      value: (rows) => rows.map((r) => r[0]),
    },
    ...portQosInline,
    trunk_details: trunkDetailsInline,
  },
  async load(q, rows, _ctx, view) {
    // What a create already knew (Prepared.known) or a show read with the row (inline) is not read again.
    const knownIps = rows.every((r) => r.__fixed_ips !== undefined);
    const knownGroups = rows.every((r) => r.__security_groups !== undefined);
    const knownQos = rows.every((r) => r.__qos_policy_id !== undefined && r.__qos_network_policy_id !== undefined && r.__resource_request !== undefined);
    const allocsOf = new Map<string, Array<{ subnet_id: string; ip_address: string; position: number }>>();
    const groupsOf = new Map<string, string[]>();
    for (const r of rows) {
      const groups: string[] = [];
      if (!knownIps) r.__fixed_ips = [];
      if (!knownGroups) r.__security_groups = groups;
      const mac = r.mac_address;
      // AllowedAddressPair.to_dict's order: the MAC first.
      r.__allowed_address_pairs = fromJson<Array<{ ip_address: string; mac_address?: string }>>(r.allowed_address_pairs, []).map((p) => ({
        mac_address: p.mac_address ?? mac,
        ip_address: p.ip_address,
      }));
      r.__extra_dhcp_opts = fromJson<DhcpOpt[]>(r.extra_dhcp_opts, []);
      r.__dns_name = dnsNamesEnabled() ? r.dns_name : '';
      r.__dns_domain = dnsNamesEnabled() ? r.dns_domain : '';
      allocsOf.set(r.id, []);
      groupsOf.set(r.id, groups);
    }
    for (const chunk of chunks([...allocsOf.keys()], IN_CHUNK)) {
      if (!knownIps) {
        // Unsorted: sorting thousands of rows in SQL costs more than ordering a port's few here.
        const allocs = await q.selectFrom('ip_allocations').select(['port_id', 'subnet_id', 'ip_address', 'position']).where('port_id', 'in', chunk).execute();
        for (const a of allocs) allocsOf.get(a.port_id)?.push(a);
      }
      if (!knownGroups) {
        const sgs = await q.selectFrom('port_security_groups').select(['port_id', 'security_group_id']).where('port_id', 'in', chunk).execute();
        for (const s of sgs) groupsOf.get(s.port_id)?.push(s.security_group_id);
      }
    }
    for (const r of rows) {
      if (!knownIps) {
        const allocs = allocsOf.get(r.id) ?? [];
        if (allocs.length > 1) allocs.sort((a, b) => a.position - b.position);
        r.__fixed_ips = allocs.map((a) => ({ subnet_id: a.subnet_id, ip_address: a.ip_address }));
      }
      r.__dns_assignment = dnsAssignment(r.__fixed_ips ?? [], r.__dns_name ?? '');
    }
    if (!knownQos) await loadPortQos(q, rows);
    // A port just made is no trunk's parent yet (a trunk names an existing port).
    if (!isFresh(view) && !rows.every((r) => r.__trunk_details !== undefined)) await loadTrunkDetails(q, rows);
  },
};

interface FixedIpRequest {
  subnet_id?: string;
  ip_address?: string;
}

interface Allocation {
  subnet: SubnetsTable;
  ip: Ip;
}

/** Subnets a port of this device owner may draw from (subnet service types). */
function eligibleSubnets(subnets: SubnetsTable[], deviceOwner: string): SubnetsTable[] {
  const typed = subnets.filter((s) => fromJson<string[]>(s.service_types, []).length > 0);
  const matching = typed.filter((s) => fromJson<string[]>(s.service_types, []).includes(deviceOwner));
  if (matching.length) return matching;
  return subnets.filter((s) => fromJson<string[]>(s.service_types, []).length === 0);
}

function checkSubnetIp(c: Cidr, ip: Ip, owner: string): boolean {
  if (!cidrContains(c, ip)) return false;
  if (c.version === 6) return ROUTER_PORT_OWNERS.includes(owner) || owner === '' || ip.value !== c.network;
  return c.prefix >= 31 || (ip.value !== c.first && ip.value !== c.last);
}

/**
 * Neutron's IP allocation for a port: explicit requests first (validated against the network's
 * subnets), else one address from an IPv4 subnet and one from a stateful IPv6 subnet; SLAAC
 * subnets always add their EUI-64 address (except on router ports).
 */
async function allocateIps(
  trx: Tx,
  networkId: string,
  portId: string,
  mac: string,
  owner: string,
  requested: FixedIpRequest[] | undefined,
  keep: Allocation[] = [],
  known?: SubnetsTable[],
): Promise<Allocation[]> {
  const all = known ?? (await networkSubnets(trx, networkId));
  const subnets = eligibleSubnets(all, owner);
  const byId = new Map(all.map((s) => [s.id, s]));
  const router = ROUTER_PORT_OWNERS.includes(owner);
  const out: Allocation[] = [...keep];
  const taken = new Set(keep.map((a) => `${a.subnet.id}/${ipKey(a.ip)}`));

  const take = async (subnet: SubnetsTable, ip: Ip) => {
    const key = `${subnet.id}/${ipKey(ip)}`;
    if (taken.has(key)) return;
    const used = await trx.selectFrom('ip_allocations').select('port_id').where('subnet_id', '=', subnet.id).where('ip_key', '=', ipKey(ip)).executeTakeFirst();
    if (used && used.port_id !== portId) throw ipAlreadyAllocated(ipToString(ip), subnet.id);
    if (!used) await ipam.takeSpecific(trx, subnet.id, ip);
    taken.add(key);
    out.push({ subnet, ip });
  };
  // Neutron's PreferNextAddressRequest: DHCP ports take the start of the pool (.2 on a /24).
  const preferNext = owner === 'network:dhcp' || owner === 'network:distributed';
  const takeAny = async (subnet: SubnetsTable): Promise<boolean> => {
    const ip = await ipam.takeAny(trx, subnet.id, subnet.ip_version === 6 ? 6 : 4, preferNext ? () => 0 : undefined);
    if (!ip) return false;
    taken.add(`${subnet.id}/${ipKey(ip)}`);
    out.push({ subnet, ip });
    return true;
  };

  if (requested !== undefined) {
    if (requested.length > MAX_FIXED_IPS_PER_PORT) throw invalidInput('Exceeded maximum amount of fixed ips per port.');
    for (const f of requested) {
      let subnet: SubnetsTable | undefined;
      if (f.subnet_id !== undefined) {
        subnet = byId.get(f.subnet_id);
        if (!subnet) {
          const exists = await trx.selectFrom('subnets').select('id').where('id', '=', f.subnet_id).executeTakeFirst();
          if (!exists) throw resourceNotFound('Subnet', f.subnet_id);
          throw invalidInput(`Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${f.subnet_id}`);
        }
      }
      if (f.ip_address !== undefined) {
        const ip = parseIp(f.ip_address)!;
        if (!subnet) {
          subnet = all.find((s) => checkSubnetIp(parseCidr(s.cidr)!, ip, owner));
          if (!subnet) {
            throw new DomainError(
              'bad_request',
              'InvalidIpForNetwork',
              `IP address ${f.ip_address} is not a valid IP for any of the subnets on the specified network.`,
            );
          }
        } else if (!checkSubnetIp(parseCidr(subnet.cidr)!, ip, owner)) {
          throw new DomainError('bad_request', 'InvalidIpForSubnet', `IP address ${f.ip_address} is not a valid IP for the specified subnet.`);
        }
        if (isAutoAddressSubnet(subnet) && !router) {
          const auto = eui64(parseCidr(subnet.cidr)!, mac);
          if (auto.value !== ip.value) {
            throw invalidInput(
              `IPv6 address ${ipToString(ip)} cannot be directly assigned to a port on subnet ${subnet.id} since the subnet is configured for automatic addresses`,
            );
          }
        }
        await take(subnet, ip);
      } else if (subnet) {
        if (isAutoAddressSubnet(subnet) && !router) await take(subnet, eui64(parseCidr(subnet.cidr)!, mac));
        else if (!(await takeAny(subnet))) throw ipGenerationFailure(networkId);
      }
    }
  } else {
    const v4 = subnets.filter((s) => s.ip_version === 4);
    const v6stateful = subnets.filter((s) => s.ip_version === 6 && !isAutoAddressSubnet(s));
    for (const group of [v4, v6stateful]) {
      if (group.length === 0) continue;
      let ok = false;
      for (const s of group) {
        if (await takeAny(s)) {
          ok = true;
          break;
        }
      }
      if (!ok) throw ipGenerationFailure(networkId);
    }
  }
  if (!router) {
    for (const s of subnets.filter((x) => isAutoAddressSubnet(x))) {
      if (out.some((a) => a.subnet.id === s.id)) continue;
      await take(s, eui64(parseCidr(s.cidr)!, mac));
    }
  }
  return out;
}

/** A port's addresses, in order, replacing what it had (`fresh`: a new port, which had none). */
async function writeAllocations(trx: Tx, portId: string, networkId: string, allocs: Allocation[], fresh = false): Promise<void> {
  if (!fresh) await trx.deleteFrom('ip_allocations').where('port_id', '=', portId).execute();
  let position = 0;
  for (const a of allocs) {
    await insertAllocation.run(trx, {
      port: portId,
      network: networkId,
      subnet: a.subnet.id,
      address: ipToString(a.ip),
      key: ipKey(a.ip),
      position: position++,
    });
  }
}

async function releaseAllocations(trx: Tx, portId: string, keepKeys: Set<string> = new Set()): Promise<void> {
  const allocs = await trx
    .selectFrom('ip_allocations as a')
    .innerJoin('subnets as s', 's.id', 'a.subnet_id')
    .select(['a.subnet_id', 'a.ip_address', 'a.ip_key', 's.allocation_pools'])
    .where('a.port_id', '=', portId)
    .execute();
  for (const a of allocs) {
    if (keepKeys.has(`${a.subnet_id}/${a.ip_key}`)) continue;
    await trx.deleteFrom('ip_allocations').where('subnet_id', '=', a.subnet_id).where('ip_key', '=', a.ip_key).execute();
    await ipam.giveBack(trx, a.subnet_id, parseIp(a.ip_address)!, subnetPools({ allocation_pools: a.allocation_pools }));
  }
}

/**
 * allowed_address_pairs on another project's network is the admin's or the network owner's
 * (Neutron's create_port/update_port:allowed_address_pairs): the refusal names the sub-keys used.
 */
function checkPairsPolicy(ctx: RequestContext, network: NetworksTable, action: string, pairs: unknown): void {
  if (ctx.isAdmin || network.project_id === ctx.projectId || !Array.isArray(pairs)) return;
  const keys = ['ip_address', 'mac_address'].filter((k) => pairs.some((p) => typeof p === 'object' && p !== null && k in p));
  const sub = keys.length ? ` and (${keys.map((k) => `rule:${action}:allowed_address_pairs:${k}`).join(' and ')})` : '';
  const text = `(rule:${action} and (rule:${action}:allowed_address_pairs${sub}))`;
  throw new DomainError('forbidden', 'PolicyNotAuthorized', `${text} is disallowed by policy`);
}

/** Only an admin or the network's owner may choose addresses or MACs on it (Neutron's policy). */
function assertNetworkOwner(ctx: RequestContext, network: NetworksTable, action: string, attr: string): void {
  if (!ctx.isAdmin && network.project_id !== ctx.projectId) throw policyError(action, [attr]);
}

/** The port holding a MAC on a network (every port create asks: compiled once). */
const portWithMac = prepared(['network', 'mac'], (q, a) =>
  q.selectFrom('ports').select('id').where('network_id', '=', a.network).where('mac_address', '=', a.mac),
);
const insertAllocation = prepared<'port' | 'network' | 'subnet' | 'address' | 'key' | 'position', unknown, string | number>(
  ['port', 'network', 'subnet', 'address', 'key', 'position'],
  (q, a) =>
    q
      .insertInto('ip_allocations')
      .values({ port_id: a.port, network_id: a.network, subnet_id: a.subnet, ip_address: a.address, ip_key: a.key, position: a.position as unknown as number }),
);

async function checkMacFree(trx: Tx, networkId: string, mac: string, portId?: string): Promise<void> {
  const [used] = await portWithMac.execute(trx, { network: networkId, mac });
  if (used && used.id !== portId) {
    throw conflict('MacAddressInUse', `Unable to complete operation for network ${networkId}. The mac address ${mac} is in use.`);
  }
}

async function newMac(trx: Tx, networkId: string): Promise<string> {
  for (let i = 0; i < 16; i++) {
    const mac = randomMac();
    const [used] = await portWithMac.execute(trx, { network: networkId, mac });
    if (!used) return mac;
  }
  throw new DomainError('unavailable', 'NetworkMacAddressGenerationFailure', `Unable to generate unique mac on network ${networkId}.`);
}

function checkPairsAllowed(portSecurity: boolean, pairs: unknown[] | undefined): void {
  if (!portSecurity && pairs && pairs.length) {
    throw conflict('AddressPairAndPortSecurityRequired', 'Port Security must be enabled in order to have allowed address pairs on a port.');
  }
}

function checkGroupsAllowed(portSecurity: boolean, groups: string[] | undefined): void {
  if (!portSecurity && groups && groups.length) {
    throw new DomainError(
      'bad_request',
      'PortSecurityAndIPRequiredForSecurityGroups',
      'Port security must be enabled and port must have an IP address in order to use security groups.',
    );
  }
}

/**
 * `known`: the port's network as the caller of an internal port create already read it in its
 * transaction (a floating IP's or a router gateway's external network, checked with the caller's
 * rights, by visibleNetworkForPort): not read again.
 */
async function createPort(w: Work, ctx: RequestContext, p: Prepared, known?: PortNetwork): Promise<string> {
  const { trx } = w;
  const v = p.values;
  // The network, whether the caller may use it, its QoS policy with the rules and its subnets: one statement.
  const found = known?.network.id === v.network_id ? known : await visibleNetworkForPort(trx, ctx, v.network_id as string);
  if (!found) throw resourceNotFound('Network', v.network_id as string);
  const { network } = found;
  const project = v.project_id as string;
  const owner = v.device_owner as string;
  const trusted = isTrustedOwner(owner);
  if (p.given.has('mac_address')) assertNetworkOwner(ctx, network, 'create_port', 'mac_address');
  // create_port:port_security_enabled is rule:admin_or_network_owner.
  if (p.given.has('port_security_enabled')) assertNetworkOwner(ctx, network, 'create_port', 'port_security_enabled');
  const requested = v.fixed_ips as FixedIpRequest[] | undefined;
  if (requested?.some((f) => f.ip_address !== undefined)) assertNetworkOwner(ctx, network, 'create_port', 'fixed_ips:ip_address');

  const id = newUuid();
  // A requested MAC is looked up; a generated one is not (Neutron's _create_db_port_obj checks only
  // a requested one): the unique key (network, MAC) refuses the rare repeat at the insert below,
  // and the whole create runs again with a new one, as Neutron's DB retry does.
  const requestedMac = v.mac_address as string | undefined;
  if (requestedMac) await checkMacFree(trx, network.id, requestedMac);
  const mac = requestedMac ?? randomMac();

  // Ports Neutron itself owns (router, DHCP, floating IP) never get port security.
  const portSecurity = trusted ? false : v.port_security_enabled === undefined ? network.port_security_enabled === 1 : (v.port_security_enabled as boolean);
  const pairs = v.allowed_address_pairs as unknown[] | undefined;
  if (p.given.has('allowed_address_pairs')) checkPairsPolicy(ctx, network, 'create_port', pairs);
  checkPairsAllowed(portSecurity, pairs);
  let groups = v.security_groups as string[] | undefined;
  // Every port create makes sure its project has a default group (Neutron's BEFORE_CREATE hook).
  const defaultGroup = project && (ctx.isAdmin || project === ctx.projectId) ? await ensureDefaultSecurityGroup(w, project) : undefined;
  if (trusted) groups = [];
  else {
    checkGroupsAllowed(portSecurity, groups);
    if (groups === undefined) groups = portSecurity && defaultGroup ? [defaultGroup] : [];
    else await checkPortGroups(trx, ctx, project, groups);
  }

  const host = (v['binding:host_id'] as string | undefined) ?? '';
  const allocs = await allocateIps(trx, network.id, id, mac, owner, requested, [], found.subnets);
  const binding = await bindPort(
    trx,
    network.id,
    host,
    allocs.map((a) => a.subnet.id),
    v['binding:vnic_type'] as string,
  );
  const cols = toColumns(portDef, v);
  try {
    await insertRow(trx, portDef, id, {
      ...cols,
      mac_address: mac,
      status: 'DOWN',
      port_security_enabled: portSecurity ? 1 : 0,
      ...bindingColumns(host, binding),
      binding_profile: JSON.stringify(v['binding:profile'] ?? {}),
      allowed_address_pairs: JSON.stringify(pairs ?? []),
      extra_dhcp_opts: JSON.stringify(mergeDhcpOpts([], (v.extra_dhcp_opts as DhcpOpt[] | null) ?? [])),
      // ML2's DNS driver keeps a port's DNS data only when a DNS domain is configured.
      dns_name: dnsNamesEnabled() ? (v.dns_name as string) : '',
      dns_domain: dnsNamesEnabled() ? (v.dns_domain as string) : '',
      // fixed_ips: [] explicitly asks for a port without addresses.
      ip_allocation: Array.isArray(requested) && requested.length === 0 ? 'none' : 'immediate',
    });
  } catch (e) {
    if (!requestedMac && isUniqueViolation(e)) throw new TransactionConflict(`generated MAC ${mac} in use on network ${network.id}`);
    throw e;
  }
  await writeAllocations(trx, id, network.id, allocs, true);
  await bindPortGroups(trx, id, groups, true);
  const qos = await createPortQos(
    w,
    ctx,
    { id, network_id: network.id, binding_vnic_type: v['binding:vnic_type'] as string },
    v.qos_policy_id,
    network.physical_network,
    found.qos,
  );
  // tag-ports-during-bulk-creation: the tags are set after the port, a revision later.
  const tags = v.tags as string[] | undefined;
  if (tags?.length) {
    for (const tag of new Set(tags)) await trx.insertInto('tags').values({ resource_type: 'port', resource_id: id, tag }).execute();
    await bumpRevision(trx, 'ports', id);
  }
  // The answer's addresses (in `position` order, as written), groups and QoS are what was just
  // written, and QoS as it read it. Not claimed where the stored order or more reads decide:
  // several groups (read in the store's order), tags.
  p.known = {
    __fixed_ips: allocs.map((a) => ({ subnet_id: a.subnet.id, ip_address: ipToString(a.ip) })),
    ...(groups.length <= 1 ? { __security_groups: [...groups] } : {}),
    __qos_policy_id: qos.qos_policy_id,
    __qos_network_policy_id: qos.qos_network_policy_id,
    __resource_request: qos.resource_request,
    ...(tags?.length ? {} : { __tags: [] }),
  };
  return id;
}

export function portOps(): ResourceOps<'ports', PortComputed> {
  return {
    def: portDef,
    quota: 'port',
    create: (w, ctx, p) => createPort(w, ctx, p),

    async update(w, ctx, row, p) {
      const { trx } = w;
      const v = { ...p.values };
      const network = (await trx.selectFrom('networks').selectAll().where('id', '=', row.network_id).executeTakeFirst())!;
      // Changing a MAC is the admin's (update_port:mac_address); null asks for a new one.
      if ('mac_address' in v && !ctx.isAdmin) throw policyError('update_port', ['mac_address']);
      if ('allowed_address_pairs' in v) checkPairsPolicy(ctx, network, 'update_port', v.allowed_address_pairs);
      if ('port_security_enabled' in v) assertNetworkOwner(ctx, network, 'update_port', 'port_security_enabled');
      if (v.mac_address === null) v.mac_address = await newMac(trx, row.network_id);
      if ('mac_address' in v && v.mac_address !== row.mac_address) {
        if (row.binding_host_id) {
          throw conflict(
            'PortBound',
            `Unable to complete operation on port ${row.id}, port is already bound, port type: ${row.binding_vif_type}, old_mac ${row.mac_address}, new_mac ${v.mac_address}.`,
          );
        }
        await checkMacFree(trx, row.network_id, v.mac_address as string, row.id);
      }
      const owner = (v.device_owner as string | undefined) ?? row.device_owner;
      const mac = (v.mac_address as string | undefined) ?? row.mac_address;

      if ('fixed_ips' in v) {
        const requested = v.fixed_ips as FixedIpRequest[];
        if (requested.some((f) => f.ip_address !== undefined)) assertNetworkOwner(ctx, network, 'update_port', 'fixed_ips:ip_address');
        const current = await trx.selectFrom('ip_allocations').select(['subnet_id', 'ip_address', 'ip_key']).where('port_id', '=', row.id).execute();
        // Addresses asked for again are kept; new ones are allocated; the rest are released.
        const subnets = await networkSubnets(trx, row.network_id);
        const byId = new Map(subnets.map((s) => [s.id, s]));
        const keep: Allocation[] = [];
        const fresh: FixedIpRequest[] = [];
        for (const f of requested) {
          const match = current.find(
            (c) =>
              (f.ip_address === undefined || ipKey(parseIp(f.ip_address)!) === c.ip_key) &&
              (f.subnet_id === undefined || f.subnet_id === c.subnet_id) &&
              (f.ip_address !== undefined || !keep.some((k) => k.subnet.id === c.subnet_id)),
          );
          if (match && (f.ip_address !== undefined || f.subnet_id !== undefined) && byId.has(match.subnet_id)) {
            if (!keep.some((k) => k.subnet.id === match.subnet_id && ipKey(k.ip) === match.ip_key)) {
              keep.push({ subnet: byId.get(match.subnet_id)!, ip: parseIp(match.ip_address)! });
              continue;
            }
          }
          fresh.push(f);
        }
        const keepKeys = new Set(keep.map((k) => `${k.subnet.id}/${ipKey(k.ip)}`));
        // Auto addresses stay unless the client names a different one.
        for (const c of current) {
          const s = byId.get(c.subnet_id);
          if (s && isAutoAddressSubnet(s) && !ROUTER_PORT_OWNERS.includes(owner)) keepKeys.add(`${c.subnet_id}/${c.ip_key}`);
        }
        await releaseAllocations(trx, row.id, keepKeys);
        const kept = keep.concat(
          current
            .filter((c) => keepKeys.has(`${c.subnet_id}/${c.ip_key}`) && !keep.some((k) => k.subnet.id === c.subnet_id && ipKey(k.ip) === c.ip_key))
            .map((c) => ({ subnet: byId.get(c.subnet_id)!, ip: parseIp(c.ip_address)! })),
        );
        const allocs = await allocateIps(trx, row.network_id, row.id, mac, owner, fresh, kept);
        if (allocs.length > MAX_FIXED_IPS_PER_PORT) throw invalidInput('Exceeded maximum amount of fixed ips per port.');
        await writeAllocations(trx, row.id, row.network_id, allocs);
        // Forwardings to an address the port no longer has go (PortForwardingPlugin._process_port_request).
        await dropPortForwardings(w, row.id, new Set(allocs.map((a) => ipToString(a.ip))));
        delete v.fixed_ips;
      }

      const portSecurity = v.port_security_enabled === undefined ? row.port_security_enabled === 1 : (v.port_security_enabled as boolean);
      const pairs = 'allowed_address_pairs' in v ? (v.allowed_address_pairs as unknown[]) : fromJson<unknown[]>(row.allowed_address_pairs, []);
      checkPairsAllowed(portSecurity, pairs);
      const currentGroups = (await trx.selectFrom('port_security_groups').select('security_group_id').where('port_id', '=', row.id).execute()).map(
        (g) => g.security_group_id,
      );
      if ('security_groups' in v) {
        const groups = v.security_groups as string[];
        checkGroupsAllowed(portSecurity, groups);
        if (!isTrustedOwner(owner)) await checkPortGroups(trx, ctx, row.project_id, groups);
        await bindPortGroups(trx, row.id, groups);
        delete v.security_groups;
      } else if (!portSecurity && currentGroups.length) {
        // ML2's update_port: port security turned off while the port keeps its groups.
        throw conflict(
          'PortSecurityPortHasSecurityGroup',
          'Port has security group associated. Cannot disable port security or IP address until security group is removed.',
        );
      }

      const cols = toColumns(portDef, v);
      if ('dns_name' in v && dnsNamesEnabled()) cols.dns_name = v.dns_name as string;
      if ('dns_domain' in v && dnsNamesEnabled()) cols.dns_domain = v.dns_domain as string;
      if ('allowed_address_pairs' in v) cols.allowed_address_pairs = JSON.stringify(v.allowed_address_pairs ?? []);
      if ('extra_dhcp_opts' in v)
        cols.extra_dhcp_opts = JSON.stringify(mergeDhcpOpts(fromJson<DhcpOpt[]>(row.extra_dhcp_opts, []), v.extra_dhcp_opts as DhcpOpt[] | null));
      // ML2's update_port unbinds and binds again when the host, the vnic_type or the profile
      // changes (_process_port_binding_attributes; None clears the profile), the port DOWN until
      // its agent reports it up (_process_port_binding), and retries a failed binding on any
      // update (Ml2Plugin._should_bind_port: vif_type unbound or binding_failed with a host).
      const retry = row.binding_vif_type === VIF_TYPE_BINDING_FAILED && row.binding_host_id !== '';
      const vnicType = (v['binding:vnic_type'] as string | undefined) ?? row.binding_vnic_type;
      const host = 'binding:host_id' in v ? ((v['binding:host_id'] as string | null) ?? '') : row.binding_host_id;
      const profileChanged = 'binding:profile' in v && !isDeepStrictEqual(v['binding:profile'] ?? {}, fromJson<unknown>(row.binding_profile, {}));
      const changes = host !== row.binding_host_id || vnicType !== row.binding_vnic_type || profileChanged;
      if (changes || retry) {
        const b = await bindPort(trx, row.network_id, host, await portSubnetIds(trx, row.id), vnicType);
        Object.assign(cols, bindingColumns(host, b));
        if (changes || !host || b.vif_type === VIF_TYPE_BINDING_FAILED) cols.status = 'DOWN';
      }
      if (v.admin_state_up === false) cols.status = 'DOWN';
      // An update of only what ML2's DNS driver keeps elsewhere does not touch the port.
      if (Object.keys(p.values).every((k) => k === 'dns_name' || k === 'dns_domain') && !dnsNamesEnabled()) return;
      if ('qos_policy_id' in v) {
        const vnic = (v['binding:vnic_type'] as string | undefined) ?? row.binding_vnic_type;
        await updatePortQos(w, ctx, { id: row.id, network_id: row.network_id, binding_vnic_type: vnic }, v.qos_policy_id);
      }
      await updateRow(trx, portDef, row, cols);
    },

    async delete(w, _ctx, row) {
      const { trx } = w;
      await assertPortNotInTrunk(trx, row.id);
      await preventServicePortDeletion(trx, row);
      await deletePort(w, row.id);
    },
  };
}

/**
 * Router and floating IP ports go through their own APIs, for admins too (Neutron's
 * prevent_l3_port_deletion) — unless they lost their addresses or their owner is gone.
 */
async function preventServicePortDeletion(trx: Tx, row: PortsTable): Promise<void> {
  if (!SERVICE_OWNERS.includes(row.device_owner)) return;
  const ip = await trx.selectFrom('ip_allocations').select('port_id').where('port_id', '=', row.id).executeTakeFirst();
  if (!ip) return;
  const owner =
    row.device_owner === 'network:floatingip'
      ? await trx.selectFrom('floating_ips').select('id').where('id', '=', row.device_id).executeTakeFirst()
      : await trx.selectFrom('routers').select('id').where('id', '=', row.device_id).executeTakeFirst();
  if (!owner) return;
  throw conflict('ServicePortInUse', `Port ${row.id} cannot be deleted directly via the port API: has device owner ${row.device_owner}.`);
}

/**
 * Create a port on the system's behalf (router gateway and interfaces, floating IP holders): the
 * request is validated like an admin's, without quota or policy.
 */
export async function createPortInternal(w: Work, body: Record<string, unknown>, known?: PortNetwork): Promise<string> {
  const ctx = systemContext();
  const p = prepareCreate(portDef, ctx, body);
  const id = await createPort(w, ctx, p, known);
  w.changed('port', id, p.values.project_id as string, 'create');
  return id;
}

/** Update a port on the system's behalf (router interface ownership, gateway addresses). */
export async function updatePortInternal(w: Work, portId: string, body: Record<string, unknown>): Promise<void> {
  const ctx = systemContext();
  const row = await w.trx.selectFrom('ports').selectAll().where('id', '=', portId).executeTakeFirstOrThrow();
  await portOps().update!(w, ctx, row, prepareUpdate(portDef, ctx, body));
  w.changed('port', portId, row.project_id, 'update');
}

/** Remove a port and give its addresses back. Callers check ownership and service owners. */
export async function deletePort(w: Work, portId: string): Promise<void> {
  const { trx } = w;
  const row = await trx.selectFrom('ports').select('project_id').where('id', '=', portId).executeTakeFirst();
  if (row) w.changed('port', portId, row.project_id, 'delete');
  // Its forwardings go with it; a floating IP left without any lets go of its router.
  await dropPortForwardings(w, portId);
  // Floating IPs pointing at the port let go of it (Neutron's disassociate_floatingips).
  await trx
    .updateTable('floating_ips')
    .set((eb) => ({ fixed_port_id: null, fixed_ip_address: null, router_id: null, revision_number: eb('revision_number', '+', 1), updated_at: isoSeconds() }))
    .where('fixed_port_id', '=', portId)
    .execute();
  await releaseAllocations(trx, portId);
  await trx.deleteFrom('port_security_groups').where('port_id', '=', portId).execute();
  await dropBoundLogs(w, { portId });
  await trx.deleteFrom('tags').where('resource_type', '=', 'port').where('resource_id', '=', portId).execute();
  await trx.deleteFrom('ports').where('id', '=', portId).execute();
}

/** extra_dhcp_opts updates merge by option name; a null value removes the option. */
function mergeDhcpOpts(current: DhcpOpt[], update: DhcpOpt[] | null): DhcpOpt[] {
  if (update === null) return [];
  const out = [...current];
  for (const o of update) {
    const key = (x: DhcpOpt) => `${x.opt_name}/${x.ip_version ?? 4}`;
    const i = out.findIndex((x) => key(x) === key(o));
    if (o.opt_value === null) {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = { ...o, ip_version: Number(o.ip_version ?? 4) };
    else out.push({ ...o, ip_version: Number(o.ip_version ?? 4) });
  }
  return out;
}
