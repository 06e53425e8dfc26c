import type { Q, Tx } from '../../store/db.js';
import type { SubnetsTable } from '../../store/schema.js';
import { fromJson, prepared } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import { type Cidr, cidrToString, cidrsOverlap, eui64, ipKey, ipToString, parseCidr, parseIp } from '../../util/ip.js';
import { DomainError, conflict, invalidInput, neutronBadRequest, resourceNotFound } from '../errors.js';
import {
  NOT_SPECIFIED,
  cidrToCanonical,
  hostRoutes,
  ipAddressOrNone,
  ipPools,
  ipToCanonical,
  listOf,
  nameservers,
  noneToEmptyList,
  nonNegative,
  string,
  subnetCidrOrNone,
  toBoolean,
  toInt,
  uuid,
  uuidOrNone,
  values as valuesV,
} from './attributes.js';
import { type PoolRange, ipam } from './ipam.js';
import { allocateFromPool } from './subnetpools.js';
import { sharedFilter, visibleNetwork } from './networks.js';
import { sharedWith } from './rbac.js';
import { checkSubnetSegment } from './segments.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, bumpRevision, insertRow, standardAttrs, toColumns, updateRow } from './resource.js';

const IPV6_MODES = ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'] as const;
/** Ports whose fixed IPs on a subnet are the router's own (gateway use is theirs). */
export const ROUTER_PORT_OWNERS = [
  'network:router_interface',
  'network:router_interface_distributed',
  'network:ha_router_replicated_interface',
  'network:router_gateway',
];

const MAX_DNS_NAMESERVERS = 5;
const MAX_HOST_ROUTES = 20;

export const subnetDef: ResourceDef<'subnets'> = {
  name: 'subnet',
  collection: 'subnets',
  table: 'subnets',
  label: 'Subnet',
  bulk: true,
  taggable: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    tenant_id: standardAttrs().tenant_id,
    network_id: { post: true, filter: true, sort: true, column: 'network_id', validate: uuid },
    ip_version: { post: true, filter: true, sort: true, column: 'ip_version', codec: 'int', convert: toInt, validate: valuesV([4, 6]) },
    subnetpool_id: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'subnetpool_id', validate: uuidOrNone },
    enable_dhcp: { post: true, put: true, default: true, filter: true, sort: true, column: 'enable_dhcp', codec: 'bool', convert: toBoolean },
    ipv6_ra_mode: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'ipv6_ra_mode', validate: valuesV(IPV6_MODES) },
    ipv6_address_mode: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'ipv6_address_mode', validate: valuesV(IPV6_MODES) },
    gateway_ip: {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      filter: true,
      sort: true,
      column: 'gateway_ip',
      convert: ipToCanonical,
      validate: ipAddressOrNone,
    },
    cidr: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'cidr', convert: cidrToCanonical, validate: subnetCidrOrNone },
    prefixlen: { post: true, default: NOT_SPECIFIED, visible: false, convert: toInt, validate: nonNegative },
    allocation_pools: { post: true, put: true, default: NOT_SPECIFIED, column: 'allocation_pools', codec: 'json', validate: ipPools },
    host_routes: { post: true, put: true, default: NOT_SPECIFIED, column: 'host_routes', codec: 'json', convert: noneToEmptyList, validate: hostRoutes },
    dns_nameservers: {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      column: 'dns_nameservers',
      codec: 'json',
      convert: noneToEmptyList,
      validate: nameservers,
    },
    description: standardAttrs().description,
    service_types: { post: true, put: true, default: NOT_SPECIFIED, column: 'service_types', codec: 'json', validate: listOf(string(255)) },
    dns_publish_fixed_ip: { post: true, put: true, default: false, column: 'dns_publish_fixed_ip', codec: 'bool', convert: toBoolean },
    // Only admins read a subnet's segment (Neutron's get_subnet:segment_id); it may move once (subnet-segmentid-writable).
    segment_id: {
      post: true,
      put: true,
      default: null,
      filter: true,
      sort: true,
      adminOnly: true,
      adminOnlyRead: true,
      column: 'segment_id',
      validate: uuidOrNone,
    },
    ...(({ tenant_id: _t, project_id: _p, description: _d, ...rest }) => rest)(standardAttrs()),
    project_id: standardAttrs().project_id,
  },
  // Subnets of networks shared with the caller are readable; those of external-only networks are
  // not (Tempest's test_external_network_visibility checks exactly this).
  sharedWhere: (eb, ctx) =>
    eb.or([
      eb.exists(eb.selectFrom('networks').select('networks.id').whereRef('networks.id', '=', 'subnets.network_id').where('networks.shared', '=', 1)),
      sharedWith(eb, 'network', 'subnets.network_id', ctx),
    ]),
  // A subnet is shared as its network is (neutron-lib's apply_filters joins the network's RBAC).
  specialFilters: {
    shared: (eb, values, ctx) => sharedFilter(eb, values, ctx, 'subnets.network_id'),
  },
};

export function isAutoAddressSubnet(s: { ip_version?: unknown; ipv6_address_mode?: unknown }): boolean {
  return s.ip_version === 6 && (s.ipv6_address_mode === 'slaac' || s.ipv6_address_mode === 'dhcpv6-stateless');
}

export function subnetPools(row: Pick<SubnetsTable, 'allocation_pools'>): PoolRange[] {
  return fromJson<PoolRange[]>(row.allocation_pools, []);
}

/** Neutron's generate_pools: the usable range of the CIDR minus the gateway. */
export function defaultPools(c: Cidr, gateway: bigint | null): PoolRange[] {
  let first = c.first;
  let last = c.last;
  if (first !== last) {
    if (c.version === 4) {
      if (c.prefix <= 30) {
        first += 1n;
        last -= 1n;
      }
    } else {
      first += 1n;
    }
  }
  const ranges: Array<[bigint, bigint]> = [];
  if (gateway !== null && gateway >= first && gateway <= last) {
    if (gateway > first) ranges.push([first, gateway - 1n]);
    if (gateway < last) ranges.push([gateway + 1n, last]);
  } else {
    ranges.push([first, last]);
  }
  return ranges.map(([a, b]) => ({
    start: ipToString({ version: c.version, value: a }),
    end: ipToString({ version: c.version, value: b }),
  }));
}

function poolRepr(p: PoolRange): string {
  return `${p.start}-${p.end}`;
}

/** validate_allocation_pools + validate_gw_out_of_pools. */
function validatePools(pools: PoolRange[], c: Cidr, cidrText: string, gateway: bigint | null): PoolRange[] {
  let lo = c.first;
  let hi = c.last;
  if (c.version === 4 && c.prefix <= 30) {
    lo += 1n;
    hi -= 1n;
  } else if (c.version === 6) {
    lo += 1n;
  }
  const parsed = pools.map((p) => {
    const a = parseIp(p.start)!;
    const b = parseIp(p.end)!;
    const text = { start: ipToString(a), end: ipToString(b) };
    if (a.version !== c.version || b.version !== c.version || a.value > b.value) {
      throw new DomainError('bad_request', 'InvalidAllocationPool', `The allocation pool ${poolRepr(text)} is not valid.`);
    }
    if (a.value < lo || b.value > hi) {
      throw new DomainError('bad_request', 'OutOfBoundsAllocationPool', `The allocation pool ${poolRepr(text)} spans beyond the subnet cidr ${cidrText}.`);
    }
    return { a: a.value, b: b.value, text };
  });
  for (let i = 0; i < parsed.length; i++) {
    for (let j = i + 1; j < parsed.length; j++) {
      if (parsed[i].a <= parsed[j].b && parsed[j].a <= parsed[i].b) {
        throw conflict(
          'OverlappingAllocationPools',
          `Found overlapping allocation pools: ${poolRepr(parsed[i].text)} ${poolRepr(parsed[j].text)} for subnet ${cidrText}.`,
        );
      }
    }
  }
  if (gateway !== null) {
    for (const p of parsed) {
      if (gateway >= p.a && gateway <= p.b) {
        throw conflict(
          'GatewayConflictWithAllocationPools',
          `Gateway ip ${ipToString({ version: c.version, value: gateway })} conflicts with allocation pool ${poolRepr(p.text)}`,
        );
      }
    }
  }
  return parsed.map((p) => p.text);
}

function checkIpVersion(name: string, addr: string, version: number): void {
  const v = addr.includes(':') ? 6 : 4;
  if (v !== version) throw invalidInput(`${name} '${addr}' does not match the ip_version '${version}'`);
}

function validateRoutes(routes: Array<{ destination: string; nexthop: string }>, version: number): void {
  if (routes.length > MAX_HOST_ROUTES) {
    throw new DomainError(
      'bad_request',
      'HostRoutesExhausted',
      `Unable to complete operation for new subnet. The number of host routes exceeds the limit ${MAX_HOST_ROUTES}.`,
    );
  }
  for (const r of routes) {
    if ((r.destination.includes(':') ? 6 : 4) !== version || (r.nexthop.includes(':') ? 6 : 4) !== version) {
      throw invalidInput(`Invalid route: ${JSON.stringify(r).replace(/"/g, "'")}`);
    }
  }
}

function validateDns(dns: string[], version: number, subnetId = 'new subnet'): void {
  if (dns.length > MAX_DNS_NAMESERVERS) {
    throw new DomainError(
      'bad_request',
      'DNSNameServersExhausted',
      `Unable to complete operation for ${subnetId}. The number of DNS nameservers exceeds the limit ${MAX_DNS_NAMESERVERS}.`,
    );
  }
  for (const d of dns) checkIpVersion('dns_nameserver', d, version);
}

function gatewayInvalid(c: Cidr, gw: bigint): boolean {
  return c.version === 4 && (gw === c.first || gw === c.last) && gw >= c.first && gw <= c.last;
}

export function subnetOps(): ResourceOps<'subnets'> {
  return {
    def: subnetDef,
    quota: 'subnet',
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const network = await visibleNetwork(trx, ctx, v.network_id as string);
      if (!network) throw resourceNotFound('Network', v.network_id as string);
      await checkSubnetSegment(trx, network.id, (v.segment_id as string | null) ?? null);

      const hasCidr = v.cidr !== undefined && v.cidr !== null;
      if (hasCidr && v.prefixlen !== undefined) throw neutronBadRequest('subnets', 'cidr and prefixlen must not be supplied together');
      const poolId = (v.subnetpool_id as string | null | undefined) ?? null;
      if (!poolId && !hasCidr) throw neutronBadRequest('subnets', 'a subnetpool must be specified in the absence of a cidr');

      const version = v.ip_version as number;
      let cidrIn = v.cidr as string;
      // A pool picks the CIDR (or vets the requested one); the rest is an ordinary subnet.
      let pickedByPool = false;
      if (poolId) {
        if (hasCidr) checkIpVersion('cidr', cidrIn, version);
        const alloc = await allocateFromPool(w, ctx, {
          poolId,
          ipVersion: version,
          networkId: network.id,
          projectId: v.project_id as string,
          cidr: hasCidr ? cidrIn : undefined,
          prefixlen: v.prefixlen as number | undefined,
          allocationPools: v.allocation_pools !== undefined,
        });
        cidrIn = alloc.cidr;
        pickedByPool = alloc.picked;
      }
      checkIpVersion('cidr', cidrIn, version);
      const c = parseCidr(cidrIn)!;
      const cidr = cidrToString(c);
      const enableDhcp = v.enable_dhcp as boolean;

      if (enableDhcp) {
        if ((version === 4 && c.prefix > 30) || (version === 6 && c.prefix > 126)) {
          throw invalidInput('Subnet has a prefix length that is incompatible with DHCP service enabled');
        }
        if ((version === 4 && c.network >> 28n === 0xen) || (version === 6 && c.network >> 120n === 0xffn)) {
          throw invalidInput('Multicast IP subnet is not supported if enable_dhcp is True');
        }
        if ((version === 4 && c.network >> 24n === 127n) || (version === 6 && c.network === 1n && c.prefix === 128)) {
          throw invalidInput('Loopback IP subnet is not supported if enable_dhcp is True');
        }
        if (version === 4 && c.first === 0n) throw invalidInput("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.");
      }

      // Gateway: default is the first address (IPv4) or the subnet-router anycast address (IPv6);
      // a block a pool picked gets its first address in both families, as Neutron's allocator gives.
      let gateway: bigint | null;
      if (v.gateway_ip === undefined) gateway = version === 6 && !pickedByPool ? c.network : c.network + 1n;
      else if (v.gateway_ip === null) gateway = null;
      else {
        checkIpVersion('gateway_ip', v.gateway_ip as string, version);
        gateway = parseIp(v.gateway_ip as string)!.value;
        if (gatewayInvalid(c, gateway)) throw invalidInput('Gateway is not valid on subnet');
      }
      if (c.first === c.last) gateway = v.gateway_ip === undefined ? null : gateway;

      if (v.dns_nameservers !== undefined) validateDns(v.dns_nameservers as string[], version);
      if (v.host_routes !== undefined) validateRoutes(v.host_routes as Array<{ destination: string; nexthop: string }>, version);

      const raMode = (v.ipv6_ra_mode as string | undefined) ?? null;
      const addrMode = (v.ipv6_address_mode as string | undefined) ?? null;
      if (version === 4) {
        if (raMode) throw invalidInput('ipv6_ra_mode is not valid when ip_version is 4');
        if (addrMode) throw invalidInput('ipv6_address_mode is not valid when ip_version is 4');
      } else {
        if ((raMode || addrMode) && !enableDhcp) throw invalidInput('ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False');
        if (raMode && addrMode && raMode !== addrMode) {
          throw invalidInput(
            `ipv6_ra_mode set to '${raMode}' with ipv6_address_mode set to '${addrMode}' is not valid. If both attributes are set, they must be the same value`,
          );
        }
        if ((raMode || addrMode) && isAutoAddressSubnet({ ip_version: 6, ipv6_address_mode: addrMode }) && c.prefix !== 64) {
          throw invalidInput(`Invalid CIDR ${cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64`);
        }
      }

      if (c.prefix === 0) throw invalidInput('0 is not allowed as CIDR prefix length');
      const siblings = await trx.selectFrom('subnets').select(['id', 'cidr']).where('network_id', '=', network.id).execute();
      for (const s of siblings) {
        if (cidrsOverlap(parseCidr(s.cidr)!, c)) {
          throw invalidInput(`Requested subnet with cidr: ${cidr} for network: ${network.id} overlaps with another subnet`);
        }
      }

      const pools = v.allocation_pools === undefined ? defaultPools(c, gateway) : validatePools(v.allocation_pools as PoolRange[], c, cidr, gateway);

      const id = newUuid();
      const cols = toColumns(subnetDef, v);
      await insertRow(trx, subnetDef, id, {
        ...cols,
        cidr,
        ip_version: version,
        gateway_ip: gateway === null ? null : ipToString({ version: c.version, value: gateway }),
        ipv6_ra_mode: raMode,
        ipv6_address_mode: addrMode,
        subnetpool_id: poolId,
        allocation_pools: JSON.stringify(pools),
        dns_nameservers: JSON.stringify(v.dns_nameservers ?? []),
        host_routes: JSON.stringify(v.host_routes ?? []),
        service_types: JSON.stringify(v.service_types ?? []),
      });
      await ipam.addPools(trx, id, pools);
      await bumpRevision(trx, 'networks', network.id);

      // Ports already on the network gain their SLAAC address on a new auto-address subnet.
      if (isAutoAddressSubnet({ ip_version: version, ipv6_address_mode: addrMode })) {
        await addAutoAddresses(trx, id, network.id, c);
      }
      return id;
    },

    async update(w, _ctx, row, p) {
      const { trx } = w;
      const v = { ...p.values };
      const c = parseCidr(row.cidr)!;
      const version = row.ip_version;
      if ('enable_dhcp' in v && v.enable_dhcp === false && version === 6 && (row.ipv6_ra_mode || row.ipv6_address_mode)) {
        throw invalidInput('Cannot disable enable_dhcp with ipv6 attributes set');
      }
      if (v.enable_dhcp === true && !row.enable_dhcp && version === 4 && c.prefix > 30) {
        throw invalidInput('Subnet has a prefix length that is incompatible with DHCP service enabled');
      }
      let gateway: bigint | null = row.gateway_ip ? parseIp(row.gateway_ip)!.value : null;
      if ('gateway_ip' in v) {
        const newGw = v.gateway_ip === null ? null : parseIp(v.gateway_ip as string);
        if (newGw) {
          checkIpVersion('gateway_ip', v.gateway_ip as string, version);
          if (gatewayInvalid(c, newGw.value)) throw invalidInput('Gateway is not valid on subnet');
        }
        const newValue = newGw ? newGw.value : null;
        if (newValue !== gateway && row.gateway_ip) {
          const routerPort = await trx
            .selectFrom('ip_allocations as a')
            .innerJoin('ports as p', 'p.id', 'a.port_id')
            .select('p.id')
            .where('a.subnet_id', '=', row.id)
            .where('a.ip_address', '=', row.gateway_ip)
            .where('p.device_owner', 'in', ROUTER_PORT_OWNERS)
            .executeTakeFirst();
          if (routerPort) {
            throw conflict('GatewayIpInUse', `Current gateway ip ${row.gateway_ip} already in use by port ${routerPort.id}. Unable to update.`);
          }
        }
        gateway = newValue;
        v.gateway_ip = newGw ? ipToString(newGw) : null;
      }
      if (v.dns_nameservers !== undefined) validateDns(v.dns_nameservers as string[], version, row.id);
      if (v.host_routes !== undefined) validateRoutes(v.host_routes as Array<{ destination: string; nexthop: string }>, version);
      if ('allocation_pools' in v) {
        const pools = validatePools(v.allocation_pools as PoolRange[], c, row.cidr, gateway);
        v.allocation_pools = pools;
        await ipam.replacePools(trx, row.id, c.version, pools);
      } else if ('gateway_ip' in v && gateway !== null) {
        // A new gateway may not sit inside the existing pools.
        validatePools(subnetPools(row), c, row.cidr, gateway);
      }
      await updateRow(trx, subnetDef, row, toColumns(subnetDef, v));
    },

    async delete(w, _ctx, row) {
      const { trx } = w;
      const allocs = await trx
        .selectFrom('ip_allocations as a')
        .innerJoin('ports as p', 'p.id', 'a.port_id')
        .select(['p.id', 'p.device_owner', 'a.ip_address'])
        .where('a.subnet_id', '=', row.id)
        .execute();
      const auto = isAutoAddressSubnet(row as { ip_version: number; ipv6_address_mode: string | null });
      // DHCP ports let go of the subnet; SLAAC addresses of ordinary ports are simply removed.
      const blocking = allocs.filter((a) => a.device_owner !== 'network:dhcp' && !(auto && !ROUTER_PORT_OWNERS.includes(a.device_owner)));
      if (blocking.length) {
        throw conflict('SubnetInUse', `Unable to complete operation on subnet ${row.id}: One or more ports have an IP allocation from this subnet.`);
      }
      for (const a of allocs) await bumpRevision(trx, 'ports', a.id);
      await trx.deleteFrom('ip_allocations').where('subnet_id', '=', row.id).execute();
      await trx.deleteFrom('tags').where('resource_type', '=', 'subnet').where('resource_id', '=', row.id).execute();
      await trx.deleteFrom('subnets').where('id', '=', row.id).execute();
      await bumpRevision(trx, 'networks', row.network_id);
    },
  };
}

async function addAutoAddresses(trx: Tx, subnetId: string, networkId: string, c: Cidr): Promise<void> {
  const ports = await trx.selectFrom('ports').select(['id', 'mac_address', 'device_owner']).where('network_id', '=', networkId).execute();
  for (const port of ports) {
    if (ROUTER_PORT_OWNERS.includes(port.device_owner)) continue;
    const ip = eui64(c, port.mac_address);
    const n = await trx
      .selectFrom('ip_allocations')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('port_id', '=', port.id)
      .executeTakeFirst();
    await trx
      .insertInto('ip_allocations')
      .values({ port_id: port.id, network_id: networkId, subnet_id: subnetId, ip_address: ipToString(ip), ip_key: ipKey(ip), position: Number(n?.n ?? 0) })
      .execute();
    await bumpRevision(trx, 'ports', port.id);
  }
}

/** Subnets of a network, for port address allocation. */
// Every port create reads its network's subnets: compiled once.
const subnetsOfNetwork = prepared(['network'], (q, a) =>
  q.selectFrom('subnets').selectAll().where('network_id', '=', a.network).orderBy('created_at').orderBy('id'),
);

export async function networkSubnets(q: Q, networkId: string): Promise<SubnetsTable[]> {
  return subnetsOfNetwork.execute(q, { network: networkId });
}
