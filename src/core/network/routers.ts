/**
 * Routers (Neutron's `router`, `ext-gw-mode`, `extraroute`, `extraroute-atomic`): a gateway port
 * on an external network, interface ports on tenant subnets, extra routes. Every port a router
 * uses is a real port made through the port code, owned by the router (`router_ports`), so IPAM,
 * "in use" checks and port listings see them as Neutron's do.
 */
import type { Q, Tx } from '../../store/db.js';
import type { PortsTable, RoutersTable, SubnetsTable } from '../../store/schema.js';
import { fromBool, fromJson, chunks } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import { type Cidr, cidrContains, cidrsOverlap, parseCidr, parseIp } from '../../util/ip.js';
import { pyRepr, pyStrOf } from '../../util/pyrepr.js';
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import { DomainError, conflict, neutronBadRequest, notFound, resourceNotFound } from '../errors.js';
import { routerZones, routerZonesInline, validateAvailabilityZones } from './zones.js';
import {
  type Validator,
  NOT_SPECIFIED,
  availabilityZoneHints,
  fixedIps,
  hostRoutes,
  noneToEmptyList,
  string,
  toBoolean,
  uuid,
  uuidOrNone,
} from './attributes.js';
import { type PortNetwork, visibleNetworkForPort } from './networks.js';
import { createPortInternal, deletePort, updatePortInternal } from './ports.js';
import { routerGatewayQos, routerGatewayQosInline, setRouterGatewayQos } from './qos.js';
import { type ResourceOps, actionMap } from './registry.js';
import { type Loaded, type ResourceDef, bumpRevision, getRow, insertRow, renderRows, standardAttrs, toColumns, updateRow } from './resource.js';
import { subnetDef } from './subnets.js';
import { checkNdpStateForUpdate, checkNoNdpProxies, checkSubnetNotProxied, gatewaySupportsNdp, ndpStateForCreate, routerHelpers } from './l3extras.js';
import { L3_PROVIDERS, checkProviderSupportsHa, routerFlavorDriver } from './flavors.js';
import { isDict } from '../../util/json.js';
import { HA_REPLICATED_INTF, type HaNetworkOps, type L3HaOptions, cleanupHaNetwork, deleteHaPorts, ensureHaNetwork, releaseVrid } from './l3ha.js';

export const ROUTER_GW = 'network:router_gateway';
export const ROUTER_INTF = 'network:router_interface';
/** Interface owners a floating IP may route through (Neutron's ROUTER_INTERFACE_OWNERS). */
const ROUTER_INTERFACE_OWNERS = [ROUTER_INTF, 'network:router_interface_distributed', HA_REPLICATED_INTF];
/** The interfaces a (legacy or HA) router's API adds and removes. */
const INTERFACE_TYPES = [ROUTER_INTF, HA_REPLICATED_INTF];
/** _get_device_owner: an HA router's interfaces are replicated on its agents. */
const interfaceOwner = (router: Pick<RoutersTable, 'ha'>) => (router.ha === 1 ? HA_REPLICATED_INTF : ROUTER_INTF);
/** The L3 service providers behind these routers, as `GET /v2.0/service-providers` lists them. */
export const L3_SERVICE_PROVIDERS = L3_PROVIDERS.map((p) => ({ service_type: 'L3_ROUTER_NAT', name: p.name, default: false }));
/** neutron.conf max_routes. */
export const MAX_ROUTES = 30;

interface GatewayInfo {
  network_id?: string;
  enable_snat?: unknown;
  external_fixed_ips?: Array<{ subnet_id?: string; ip_address?: string }>;
}

interface Route {
  destination: string;
  nexthop: string;
}

/** Sub-attributes of external_gateway_info, in neutron-lib's order (policy rules follow it). */
const GW_KEYS = ['network_id', 'enable_snat', 'external_fixed_ips', 'qos_policy_id'];

/** `type:dict_or_nodata` with ext-gw-mode's key specs, checked in neutron-lib's order. */
const gatewayInfo: Validator = (v) => {
  if (v === null || v === undefined) return undefined;
  if (!isDict(v)) return `'${pyStrOf(v)}' is not a dictionary`;
  if (Object.keys(v).length === 0) return undefined;
  if (!('network_id' in v)) {
    return `Validation of dictionary's keys failed. Expected keys: {'network_id'} Provided keys: {${Object.keys(v)
      .map((k) => pyRepr(k))
      .join(', ')}}`;
  }
  const unexpected = Object.keys(v).filter((k) => !GW_KEYS.includes(k));
  if (unexpected.length) return `Unexpected keys supplied: ${unexpected.join(', ')}`;
  const netErr = uuid(v.network_id);
  if (netErr) return netErr;
  if ('enable_snat' in v) toBoolean(v.enable_snat);
  if ('external_fixed_ips' in v) {
    const e = fixedIps(v.external_fixed_ips);
    if (e) return e;
  }
  if ('qos_policy_id' in v) return uuidOrNone(v.qos_policy_id);
  return undefined;
};

/** external_gateway_info as a router shows it. */
interface GatewayView {
  network_id: string;
  external_fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
  enable_snat: boolean;
  /** qos-gateway-ip: shown when the router or its gateway's network has a policy. */
  qos_policy_id?: string | null;
}

/** Attributes computed for rendering (no DVR here). */
interface RouterComputed {
  external_gateway_info: GatewayView | null;
  routes: Route[];
  availability_zones: string[];
  distributed: boolean;
  ha: boolean;
  enable_ndp_proxy: boolean;
  conntrack_helpers: Array<{ protocol: string; port: number; helper: string }>;
  /** Read with the router (by a show, `inline`; by load for a list) to make external_gateway_info; not rendered. */
  gateway_port: GatewayPort | null;
  /** The gateway's `qos_policy_id` when it shows one (routerGatewayQos); not rendered. */
  gateway_qos: string | null;
}

/** A router's gateway port: its network and addresses in order. */
interface GatewayPort {
  network_id: string;
  ips: Array<{ subnet_id: string; ip_address: string }>;
}

export const routerDef: ResourceDef<'routers', RouterComputed> = {
  name: 'router',
  collection: 'routers',
  table: 'routers',
  label: 'Router',
  notFound: (id) => notFound('RouterNotFound', `Router ${id} could not be found`),
  bulk: true,
  taggable: true,
  initialRevision: 1,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    tenant_id: standardAttrs().tenant_id,
    admin_state_up: { post: true, put: true, default: true, filter: true, sort: true, column: 'admin_state_up', codec: 'bool', convert: toBoolean },
    status: { sort: true, column: 'status' },
    external_gateway_info: { post: true, put: true, default: null, validate: gatewayInfo },
    description: standardAttrs().description,
    availability_zones: {},
    // No DVR here: every router is a centralised one, as Neutron reports them to admins.
    distributed: { adminOnlyRead: true },
    // l3-ha: the admin's to set and see (create_router:ha, update_router:ha, get_router:ha are
    // admin_only); kept in the `ha` column, written by the operations below.
    ha: { post: true, put: true, default: NOT_SPECIFIED, adminOnly: true, adminOnlyRead: true, convert: (v) => (v === null ? null : toBoolean(v)) },
    // router_availability_zone: set on create only (PUT answers Neutron's read-only refusal).
    availability_zone_hints: { post: true, default: [], column: 'availability_zone_hints', codec: 'json', validate: availabilityZoneHints },
    routes: { put: true, default: NOT_SPECIFIED, convert: noneToEmptyList, validate: hostRoutes },
    // l3-flavors: the flavor whose service profile names the router's driver.
    flavor_id: { post: true, default: NOT_SPECIFIED, sort: true, column: 'flavor_id', validate: uuidOrNone },
    tags: standardAttrs().tags,
    revision_number: standardAttrs().revision_number,
    // l3-ext-ndp-proxy and expose-l3-conntrack-helper.
    enable_ndp_proxy: { post: true, put: true, default: NOT_SPECIFIED, filter: true, convert: (v) => (v === null ? null : toBoolean(v)) },
    conntrack_helpers: {},
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    project_id: standardAttrs().project_id,
  },
  // A show reads these with the router, in one statement (showRow); a list reads them in
  // loadRouterFacts, one statement for all its rows each.
  inline: {
    availability_zones: routerZonesInline,
    routes: {
      rows: (eb) =>
        eb
          .selectFrom('router_routes')
          .select(['router_routes.destination', 'router_routes.nexthop', 'router_routes.position'])
          .whereRef('router_routes.router_id', '=', 'routers.id'),
      columns: ['destination', 'nexthop', 'position'],
      value: (rows) => rows.sort((a, b) => (a[2] as number) - (b[2] as number)).map(([destination, nexthop]) => ({ destination, nexthop }) as Route),
    },
    conntrack_helpers: {
      rows: (eb) =>
        eb
          .selectFrom('conntrack_helpers')
          .select(['conntrack_helpers.protocol', 'conntrack_helpers.port', 'conntrack_helpers.helper'])
          .whereRef('conntrack_helpers.router_id', '=', 'routers.id'),
      columns: ['protocol', 'port', 'helper'],
      value: (rows) => rows.map(([protocol, port, helper]) => ({ protocol: protocol as string, port: Number(port), helper: helper as string })),
    },
    gateway_port: {
      rows: (eb) =>
        eb
          .selectFrom('ports')
          .leftJoin('ip_allocations', 'ip_allocations.port_id', 'ports.id')
          .select(['ports.network_id', 'ip_allocations.subnet_id', 'ip_allocations.ip_address', 'ip_allocations.position'])
          .whereRef('ports.id', '=', 'routers.gw_port_id'),
      columns: ['network_id', 'subnet_id', 'ip_address', 'position'],
      value: (rows): GatewayPort | null => {
        if (!rows.length) return null;
        const ips = rows
          .filter((r) => r[1] !== null)
          .sort((a, b) => (a[3] as number) - (b[3] as number))
          .map(([, subnet_id, ip_address]) => ({ subnet_id: subnet_id as string, ip_address: ip_address as string }));
        return { network_id: rows[0][0] as string, ips };
      },
    },
    gateway_qos: routerGatewayQosInline,
  },
  async load(q, rows) {
    // What a show read with the row is there already (inline attributes come together).
    if (!rows.every((r) => r.__gateway_port !== undefined)) await loadRouterFacts(q, rows);
    for (const r of rows) {
      r.__distributed = false;
      r.__ha = r.ha === 1;
      // Without a gateway a router never proxies NDP (NDPProxyPlugin._extend_router_dict).
      r.__enable_ndp_proxy = r.gw_port_id ? r.enable_ndp_proxy === 1 : false;
      const gw = r.__gateway_port;
      r.__external_gateway_info = gw
        ? {
            network_id: gw.network_id,
            external_fixed_ips: gw.ips,
            enable_snat: fromBool(r.enable_snat),
            ...(r.__gateway_qos !== undefined ? { qos_policy_id: r.__gateway_qos } : {}),
          }
        : null;
    }
  },
};

/** Zones, routes, conntrack helpers and gateway of routers being listed (a show reads them inline). */
async function loadRouterFacts(q: Q, rows: Array<Loaded<'routers', RouterComputed>>): Promise<void> {
  const routesOf = new Map<string, Route[]>();
  const byGwPort = new Map<string, Loaded<'routers', RouterComputed>>();
  for (const r of rows) {
    const routes: Route[] = [];
    r.__routes = routes;
    r.__conntrack_helpers = [];
    r.__gateway_port = null;
    routesOf.set(r.id, routes);
    if (r.gw_port_id) byGwPort.set(r.gw_port_id, r);
  }
  const zones = await routerZones(q, [...routesOf.keys()]);
  for (const r of rows) r.__availability_zones = zones.get(r.id) ?? [];
  for (const chunk of chunks([...byGwPort.keys()], 500)) {
    const ports = await q.selectFrom('ports').select(['id', 'network_id']).where('id', 'in', chunk).execute();
    for (const p of ports) byGwPort.get(p.id)!.__gateway_port = { network_id: p.network_id, ips: [] };
    const ips = await q
      .selectFrom('ip_allocations')
      .select(['port_id', 'subnet_id', 'ip_address'])
      .where('port_id', 'in', chunk)
      .orderBy('port_id')
      .orderBy('position')
      .execute();
    for (const ip of ips) byGwPort.get(ip.port_id)?.__gateway_port?.ips.push({ subnet_id: ip.subnet_id, ip_address: ip.ip_address });
  }
  const gwQos = await routerGatewayQos(
    q,
    rows.map((r) => ({ id: r.id, gwNetworkId: r.__gateway_port?.network_id ?? null })),
  );
  for (const r of rows) if (r.__gateway_port && gwQos.has(r.id)) r.__gateway_qos = gwQos.get(r.id);
  for (const chunk of chunks([...routesOf.keys()], 500)) {
    const helpers = await routerHelpers(q, chunk);
    for (const r of rows) {
      const list = helpers.get(r.id);
      if (list) r.__conntrack_helpers = list;
    }
    const routes = await q
      .selectFrom('router_routes')
      .select(['router_id', 'destination', 'nexthop'])
      .where('router_id', 'in', chunk)
      .orderBy('router_id')
      .orderBy('position')
      .execute();
    for (const rt of routes) routesOf.get(rt.router_id)?.push({ destination: rt.destination, nexthop: rt.nexthop });
  }
}

// ---------------------------------------------------------------- errors

const routerBadRequest = (msg: string) => neutronBadRequest('router', msg);

function invalidRoutes(routes: Route[], reason: string): DomainError {
  return new DomainError('bad_request', 'InvalidRoutes', `Invalid format for routes: ${pyRepr(routes)}, ${reason}`);
}

/** oslo.policy's text for nested attribute rules: (rule:a and (rule:a:b and (rule:a:b:c …))). */
function gatewayPolicyError(action: string, subs: string[]): DomainError {
  const sub = `(${subs.map((k) => `rule:${action}:external_gateway_info:${k}`).join(' and ')})`;
  const text = `(rule:${action} and (rule:${action}:external_gateway_info and ${sub}))`;
  return new DomainError('forbidden', 'PolicyNotAuthorized', `${text} is disallowed by policy`);
}

/** enable_snat and external_fixed_ips are the admin's to choose (Neutron's default policy). */
function checkGatewayPolicy(ctx: RequestContext, action: string, info: unknown): void {
  if (ctx.isAdmin || !isDict(info) || Object.keys(info).length === 0) return;
  if ('enable_snat' in info || 'external_fixed_ips' in info) {
    throw gatewayPolicyError(
      action,
      GW_KEYS.filter((k) => k in info),
    );
  }
}

// ---------------------------------------------------------------- router ports

interface RouterPort {
  id: string;
  network_id: string;
  project_id: string;
  device_owner: string;
  port_type: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
}

async function routerPorts(q: Q, routerId: string, types?: string[]): Promise<RouterPort[]> {
  let qb = q
    .selectFrom('router_ports as rp')
    .innerJoin('ports as p', 'p.id', 'rp.port_id')
    .select(['p.id', 'p.network_id', 'p.project_id', 'p.device_owner', 'rp.port_type'])
    .where('rp.router_id', '=', routerId);
  if (types) qb = qb.where('rp.port_type', 'in', types);
  const ports = await qb.orderBy('p.created_at').orderBy('p.id').execute();
  const out: RouterPort[] = ports.map((p) => ({ ...p, fixed_ips: [] }));
  if (out.length === 0) return out;
  const byId = new Map(out.map((p) => [p.id, p]));
  const ips = await q
    .selectFrom('ip_allocations')
    .select(['port_id', 'subnet_id', 'ip_address'])
    .where('port_id', 'in', [...byId.keys()])
    .orderBy('position')
    .execute();
  for (const ip of ips) byId.get(ip.port_id)!.fixed_ips.push({ subnet_id: ip.subnet_id, ip_address: ip.ip_address });
  return out;
}

interface PortWithIps {
  id: string;
  project_id: string;
  network_id: string;
  device_id: string;
  device_owner: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
}

async function portWithIps(q: Q, portId: string): Promise<PortWithIps> {
  const port = await q.selectFrom('ports').selectAll().where('id', '=', portId).executeTakeFirstOrThrow();
  const ips = await q.selectFrom('ip_allocations').select(['subnet_id', 'ip_address']).where('port_id', '=', portId).orderBy('position').execute();
  return { ...port, fixed_ips: ips };
}

/** Neutron's _check_for_dup_router_subnets: one port per subnet, no overlapping subnets on a router. */
async function checkDupRouterSubnets(trx: Tx, routerId: string, newSubnets: SubnetsTable[]): Promise<void> {
  const newIds = new Set(newSubnets.map((s) => s.id));
  const routerSubnetIds: string[] = [];
  for (const p of await routerPorts(trx, routerId)) {
    for (const ip of p.fixed_ips) {
      if (newIds.has(ip.subnet_id)) throw routerBadRequest(`Router already has a port on subnet ${ip.subnet_id}`);
      if (p.device_owner === ROUTER_GW) {
        // The gateway reaches every subnet of its external network.
        const ext = await trx.selectFrom('subnets').select('id').where('network_id', '=', p.network_id).execute();
        routerSubnetIds.push(...ext.map((s) => s.id));
      } else {
        routerSubnetIds.push(ip.subnet_id);
      }
    }
  }
  if (routerSubnetIds.length === 0) return;
  const subnets = await trx.selectFrom('subnets').select(['id', 'cidr']).where('id', 'in', routerSubnetIds).orderBy('created_at').orderBy('id').execute();
  for (const sub of subnets) {
    const a = parseCidr(sub.cidr)!;
    for (const s of newSubnets) {
      if (cidrsOverlap(a, parseCidr(s.cidr)!)) {
        throw routerBadRequest(`Cidr ${s.cidr} of subnet ${s.id} overlaps with cidr ${sub.cidr} of subnet ${sub.id}`);
      }
    }
  }
}

/** Routers cannot serve IPv6 subnets whose RAs come from an external router. */
function checkSubnetAddressMode(subnet: SubnetsTable): void {
  if (subnet.ip_version === 6 && subnet.ipv6_ra_mode === null && subnet.ipv6_address_mode !== null) {
    throw routerBadRequest(`IPv6 subnet ${subnet.id} configured to receive RAs from an external router cannot be added to Neutron Router.`);
  }
}

// ---------------------------------------------------------------- routes

async function routerCidrsAndIps(q: Q, routerId: string): Promise<{ cidrs: Cidr[]; ips: string[] }> {
  const ports = await routerPorts(q, routerId);
  const cidrs: Cidr[] = [];
  const ips: string[] = [];
  for (const p of ports) {
    for (const ip of p.fixed_ips) {
      const s = await q.selectFrom('subnets').select('cidr').where('id', '=', ip.subnet_id).executeTakeFirst();
      if (s) cidrs.push(parseCidr(s.cidr)!);
      ips.push(ip.ip_address);
    }
  }
  return { cidrs, ips };
}

/** extraroute's _validate_routes: a bounded number of routes, each nexthop on a connected subnet. */
async function validateRoutes(q: Q, routerId: string, routes: Route[]): Promise<void> {
  if (routes.length > MAX_ROUTES) {
    throw new DomainError(
      'bad_request',
      'RoutesExhausted',
      `Unable to complete operation for ${routerId}. The number of routes exceeds the maximum ${MAX_ROUTES}.`,
    );
  }
  if (routes.length === 0) return;
  const { cidrs, ips } = await routerCidrsAndIps(q, routerId);
  for (const r of routes) {
    const hop = parseIp(r.nexthop)!;
    if (!cidrs.some((c) => cidrContains(c, hop))) throw invalidRoutes(routes, 'the nexthop is not connected with router');
    if (ips.some((ip) => parseIp(ip)!.value === hop.value && parseIp(ip)!.version === hop.version)) {
      throw invalidRoutes(routes, 'the nexthop is used by router');
    }
  }
}

async function currentRoutes(q: Q, routerId: string): Promise<Route[]> {
  return q.selectFrom('router_routes').select(['destination', 'nexthop']).where('router_id', '=', routerId).orderBy('position').execute();
}

async function writeRoutes(trx: Tx, routerId: string, routes: Route[]): Promise<void> {
  await trx.deleteFrom('router_routes').where('router_id', '=', routerId).execute();
  const seen = new Set<string>();
  let position = 0;
  for (const r of routes) {
    const key = `${r.destination} ${r.nexthop}`;
    if (seen.has(key)) continue;
    seen.add(key);
    await trx.insertInto('router_routes').values({ router_id: routerId, destination: r.destination, nexthop: r.nexthop, position: position++ }).execute();
  }
}

// ---------------------------------------------------------------- gateway

/**
 * Neutron's _update_router_gw_info (with ext-gw-mode's enable_snat). Returns how many times
 * Neutron revises the router for the change beyond the update's own revision: a gateway port
 * added is two (the port's binding and gw_port_id), one removed three (with the NDP proxy state),
 * new addresses or SNAT one; 0 when nothing changed.
 */
async function updateGateway(w: Work, ctx: RequestContext, router: RoutersTable, info: GatewayInfo | null): Promise<number> {
  const { trx } = w;
  const networkId = info?.network_id ?? null;
  const extIps = info?.external_fixed_ips ?? [];
  const enableSnat = info && 'enable_snat' in info ? (toBoolean(info.enable_snat) as boolean) : true;
  const gwPort = router.gw_port_id ? await portWithIps(trx, router.gw_port_id) : null;

  let extSubnets: SubnetsTable[] = [];
  // The external network as its gateway port's create needs it (with its QoS policy), and its
  // subnets: read once here and handed to the port create, which read them again.
  let extNetwork: PortNetwork | undefined;
  if (networkId) {
    extNetwork = await visibleNetworkForPort(trx, ctx, networkId);
    if (!extNetwork) throw resourceNotFound('Network', networkId);
    if (extNetwork.network.external !== 1) throw routerBadRequest(`Network ${networkId} is not an external network`);
    extSubnets = extNetwork.subnets;
    for (const ip of extIps) {
      if (ip.ip_address !== undefined && extSubnets.some((s) => s.gateway_ip && s.gateway_ip === ip.ip_address)) {
        throw routerBadRequest(`External IP ${ip.ip_address} is the same as the gateway IP`);
      }
    }
  }

  let revisions = 0;
  const ipChange = extIps.length > 0 && (!gwPort || externalIpsDiffer(gwPort.fixed_ips, extIps));
  if (gwPort && ipChange && gwPort.network_id === networkId) {
    await updatePortInternal(w, gwPort.id, { fixed_ips: extIps });
    revisions += 1;
  } else {
    if (gwPort && gwPort.network_id !== networkId) {
      await checkNoNdpProxies(trx, router.id);
      const fip = await trx.selectFrom('floating_ips').select('id').where('router_id', '=', router.id).executeTakeFirst();
      if (fip) {
        throw conflict(
          'RouterExternalGatewayInUseByFloatingIp',
          `Gateway cannot be updated for router ${router.id}, since a gateway to external network ${gwPort.network_id} is required by one or more floating IPs.`,
        );
      }
      await trx.updateTable('routers').set({ gw_port_id: null, enable_ndp_proxy: 0 }).where('id', '=', router.id).execute();
      await deletePort(w, gwPort.id);
      router.gw_port_id = null;
      router.enable_ndp_proxy = 0;
      revisions += 3;
    }
    if (networkId && (!gwPort || gwPort.network_id !== networkId)) {
      await checkDupRouterSubnets(trx, router.id, extSubnets);
      // The gateway port belongs to no project: it is hidden from the router's owner, as in Neutron.
      const portId = await createPortInternal(
        w,
        {
          project_id: '',
          network_id: networkId,
          ...(extIps.length ? { fixed_ips: extIps } : {}),
          device_id: router.id,
          device_owner: ROUTER_GW,
          admin_state_up: true,
          name: '',
        },
        extNetwork,
      );
      await trx.insertInto('router_ports').values({ port_id: portId, router_id: router.id, port_type: ROUTER_GW }).execute();
      await trx.updateTable('routers').set({ gw_port_id: portId }).where('id', '=', router.id).execute();
      router.gw_port_id = portId;
      revisions += 2;
    }
  }
  if ((router.enable_snat === 1) !== enableSnat) {
    await trx
      .updateTable('routers')
      .set({ enable_snat: enableSnat ? 1 : 0 })
      .where('id', '=', router.id)
      .execute();
    router.enable_snat = enableSnat ? 1 : 0;
    if (revisions === 0) revisions = 1;
  }
  // Routes must still reach their nexthops through the new gateway.
  const routes = await currentRoutes(trx, router.id);
  if (revisions && routes.length) await validateRoutes(trx, router.id, routes);
  return revisions;
}

async function bumpTimes(trx: Tx, id: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await bumpRevision(trx, 'routers', id);
}

function externalIpsDiffer(current: Array<{ subnet_id: string; ip_address: string }>, wanted: Array<{ subnet_id?: string; ip_address?: string }>): boolean {
  const curSubnets = new Set(current.map((i) => i.subnet_id));
  const newSubnets = new Set(wanted.filter((f) => f.subnet_id).map((f) => f.subnet_id));
  if (curSubnets.size !== newSubnets.size || [...newSubnets].some((s) => !curSubnets.has(s!))) return true;
  const curIps = new Set(current.map((i) => i.ip_address));
  const newIps = new Set(wanted.filter((f) => f.ip_address).map((f) => f.ip_address));
  return curIps.size !== newIps.size || [...newIps].some((ip) => !curIps.has(ip!));
}

/** Does the router's gateway support NDP proxying (an IPv6 address on a network that has it)? */
async function gatewayHasNdp(trx: Tx, gwPortId: string | null): Promise<boolean> {
  if (!gwPortId) return false;
  const port = await trx.selectFrom('ports').select('network_id').where('id', '=', gwPortId).executeTakeFirst();
  if (!port || !(await gatewaySupportsNdp(trx, port.network_id))) return false;
  const ips = await trx.selectFrom('ip_allocations').select('ip_address').where('port_id', '=', gwPortId).execute();
  return ips.some((i) => i.ip_address.includes(':'));
}

// ---------------------------------------------------------------- interfaces

interface InterfaceInfo {
  port_id?: string;
  subnet_id?: string;
}

function validateInterfaceInfo(body: unknown, forRemoval: boolean): InterfaceInfo {
  const info = isDict(body) ? body : {};
  const byPort = 'port_id' in info;
  const bySubnet = 'subnet_id' in info;
  if (!byPort && !bySubnet) throw routerBadRequest('Either subnet_id or port_id must be specified');
  for (const key of ['port_id', 'subnet_id']) {
    if (!(key in info)) continue;
    const err = uuid(info[key]);
    if (err) throw routerBadRequest(err);
  }
  if (!forRemoval && byPort && bySubnet) throw routerBadRequest('Cannot specify both subnet-id and port-id');
  return { port_id: info.port_id as string | undefined, subnet_id: info.subnet_id as string | undefined };
}

function interfaceResult(routerId: string, port: { id: string; project_id: string; network_id: string }, subnetIds: string[], last: 'first' | 'last') {
  return {
    id: routerId,
    tenant_id: port.project_id,
    port_id: port.id,
    network_id: port.network_id,
    subnet_id: last === 'last' ? subnetIds[subnetIds.length - 1] : subnetIds[0],
    subnet_ids: subnetIds,
  };
}

async function visibleSubnet(trx: Tx, ctx: RequestContext, id: string): Promise<SubnetsTable> {
  return getRow(trx, subnetDef, ctx, id);
}

async function visiblePort(trx: Tx, ctx: RequestContext, id: string): Promise<PortsTable> {
  const port = await trx.selectFrom('ports').selectAll().where('id', '=', id).executeTakeFirst();
  if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) throw resourceNotFound('Port', id);
  return port;
}

const hasV6 = (p: { fixed_ips: Array<{ ip_address: string }> }) => p.fixed_ips.some((ip) => ip.ip_address.includes(':'));

async function addInterfaceByPort(w: Work, ctx: RequestContext, router: RoutersTable, portId: string) {
  const { trx } = w;
  const port = await visiblePort(trx, ctx, portId);
  if (port.device_id !== '') {
    throw conflict(
      'PortInUse',
      `Unable to complete operation on port ${port.id} for network ${port.network_id}. Port already has an attached device ${port.device_id}.`,
    );
  }
  let full = await portWithIps(trx, port.id);
  if (full.fixed_ips.length === 0) throw routerBadRequest('Router port must have at least one fixed IP');
  const subnets: SubnetsTable[] = [];
  for (const ip of full.fixed_ips) {
    const s = await trx.selectFrom('subnets').selectAll().where('id', '=', ip.subnet_id).executeTakeFirstOrThrow();
    checkSubnetAddressMode(s);
    subnets.push(s);
  }
  await updatePortInternal(w, port.id, { device_id: router.id, device_owner: interfaceOwner(router) });
  full = await portWithIps(trx, port.id);
  if (hasV6(full)) {
    for (const existing of await routerPorts(trx, router.id)) {
      if (existing.network_id === full.network_id && hasV6(existing)) {
        throw routerBadRequest(
          `Cannot have multiple router ports with the same network id if both contain IPv6 subnets. Existing port ${existing.id} has IPv6 subnet(s) and network id ${existing.network_id}`,
        );
      }
    }
  }
  await checkDupRouterSubnets(trx, router.id, subnets);
  if (subnets.filter((s) => s.ip_version === 4).length > 1) throw routerBadRequest('Cannot have multiple IPv4 subnets on router port');
  if (!ctx.isAdmin) {
    for (const ip of full.fixed_ips) {
      const s = subnets.find((x) => x.id === ip.subnet_id)!;
      const addr = parseIp(ip.ip_address)!;
      const inPool = fromJson<Array<{ start: string; end: string }>>(s.allocation_pools, []).some(
        (p) => addr.value >= parseIp(p.start)!.value && addr.value <= parseIp(p.end)!.value,
      );
      if (!inPool && s.project_id !== ctx.projectId) {
        throw routerBadRequest(
          `Cannot add interface to router because specified port ${port.id} has an IP address out of the allocation pool of subnet ${s.id}, which is not owned by the project making the request`,
        );
      }
    }
  }
  await trx
    .insertInto('router_ports')
    .values({ port_id: port.id, router_id: router.id, port_type: interfaceOwner(router) })
    .execute();
  return interfaceResult(
    router.id,
    full,
    subnets.map((s) => s.id),
    'last',
  );
}

async function addInterfaceBySubnet(w: Work, ctx: RequestContext, router: RoutersTable, subnetId: string) {
  const { trx } = w;
  const subnet = await visibleSubnet(trx, ctx, subnetId);
  if (!subnet.gateway_ip) throw routerBadRequest('Subnet for router interface must have a gateway IP');
  if (subnet.project_id !== ctx.projectId && !ctx.isAdmin) {
    throw routerBadRequest(`Cannot add interface to router because subnet ${subnetId} is not owned by project making the request`);
  }
  checkSubnetAddressMode(subnet);
  await checkDupRouterSubnets(trx, router.id, [subnet]);
  const fixedIp = { ip_address: subnet.gateway_ip, subnet_id: subnet.id };
  if (subnet.ip_version === 6) {
    // A further IPv6 prefix on a network joins the router's existing IPv6 port there.
    const existing = (await routerPorts(trx, router.id, ROUTER_INTERFACE_OWNERS)).find((p) => p.network_id === subnet.network_id && hasV6(p));
    if (existing) {
      await updatePortInternal(w, existing.id, { fixed_ips: [...existing.fixed_ips, fixedIp] });
      return interfaceResult(router.id, existing, [subnet.id], 'last');
    }
  }
  const portId = await createPortInternal(w, {
    project_id: router.project_id,
    network_id: subnet.network_id,
    fixed_ips: [fixedIp],
    admin_state_up: true,
    device_id: router.id,
    device_owner: interfaceOwner(router),
    name: '',
  });
  await trx
    .insertInto('router_ports')
    .values({ port_id: portId, router_id: router.id, port_type: interfaceOwner(router) })
    .execute();
  // The L3 plugin writes the new port once more (its router binding): revision 2.
  await bumpRevision(trx, 'ports', portId);
  return interfaceResult(router.id, { id: portId, project_id: router.project_id, network_id: subnet.network_id }, [subnet.id], 'last');
}

/** An interface stays while floating IPs or extra routes depend on it. */
async function confirmInterfaceNotInUse(trx: Tx, routerId: string, subnet: SubnetsTable): Promise<void> {
  const cidr = parseCidr(subnet.cidr)!;
  const fips = await trx
    .selectFrom('floating_ips')
    .select(['fixed_ip_address', 'fixed_port_id'])
    .where('router_id', '=', routerId)
    .where('fixed_ip_address', 'is not', null)
    .execute();
  for (const f of fips) {
    const ip = parseIp(f.fixed_ip_address);
    if (!ip || !cidrContains(cidr, ip)) continue;
    const onSubnet = await trx
      .selectFrom('ip_allocations')
      .select('port_id')
      .where('subnet_id', '=', subnet.id)
      .where('port_id', '=', f.fixed_port_id!)
      .executeTakeFirst();
    if (onSubnet) {
      throw conflict(
        'RouterInterfaceInUseByFloatingIP',
        `Router interface for subnet ${subnet.id} on router ${routerId} cannot be deleted, as it is required by one or more floating IPs.`,
      );
    }
  }
  for (const r of await currentRoutes(trx, routerId)) {
    const hop = parseIp(r.nexthop);
    if (hop && cidrContains(cidr, hop)) {
      throw conflict(
        'RouterInterfaceInUseByRoute',
        `Router interface for subnet ${subnet.id} on router ${routerId} cannot be deleted, as it is required by one or more routes.`,
      );
    }
  }
}

async function removeInterface(w: Work, ctx: RequestContext, router: RoutersTable, body: unknown) {
  const { trx } = w;
  const info = validateInterfaceInfo(body, true);
  if (info.port_id !== undefined) {
    const port = (await routerPorts(trx, router.id, INTERFACE_TYPES)).find((p) => p.id === info.port_id);
    if (!port) throw notFound('RouterInterfaceNotFound', `Router ${router.id} does not have an interface with id ${info.port_id}`);
    const subnetIds = port.fixed_ips.map((ip) => ip.subnet_id);
    if (info.subnet_id !== undefined && !subnetIds.includes(info.subnet_id)) {
      throw new DomainError('bad_request', 'SubnetMismatchForPort', `Subnet on port ${port.id} does not match the requested subnet ${info.subnet_id}.`);
    }
    const subnets = subnetIds.length ? await trx.selectFrom('subnets').selectAll().where('id', 'in', subnetIds).execute() : [];
    for (const s of subnets) await confirmInterfaceNotInUse(trx, router.id, s);
    await deletePort(w, port.id);
    return interfaceResult(router.id, port, subnetIds, 'first');
  }
  const subnet = await visibleSubnet(trx, ctx, info.subnet_id!);
  const ports = (await routerPorts(trx, router.id, INTERFACE_TYPES)).filter((p) => p.network_id === subnet.network_id);
  if (ports.length) await confirmInterfaceNotInUse(trx, router.id, subnet);
  await checkSubnetNotProxied(trx, router.id, subnet.id);
  for (const p of ports) {
    const subnetIds = p.fixed_ips.map((ip) => ip.subnet_id);
    if (!subnetIds.includes(subnet.id)) continue;
    if (subnetIds.length > 1) {
      // A multi-prefix IPv6 port only loses this prefix.
      await updatePortInternal(w, p.id, { fixed_ips: p.fixed_ips.filter((ip) => ip.subnet_id !== subnet.id) });
    } else {
      await deletePort(w, p.id);
    }
    return interfaceResult(router.id, p, [subnet.id], 'first');
  }
  throw notFound('RouterInterfaceNotFoundForSubnet', `Router ${router.id} has no interface on subnet ${subnet.id}`);
}

// ---------------------------------------------------------------- extraroute-atomic

function routesFromBody(body: unknown): Route[] {
  const router = isDict(body) ? body.router : undefined;
  if (!isDict(router) || !('routes' in router)) throw routerBadRequest("Unable to find 'routes' in request body");
  const routes = noneToEmptyList(router.routes);
  const err = hostRoutes(routes);
  if (err) throw new DomainError('bad_request', 'HTTPBadRequest', `Invalid input for routes. Reason: ${err}.`);
  return routes as Route[];
}

function sameRoute(a: Route, b: Route): boolean {
  return a.destination === b.destination && a.nexthop === b.nexthop;
}

// ---------------------------------------------------------------- operations

/** What routers need of the rest of Neutron for `l3-ha`. */
export interface RouterHaHooks {
  options: L3HaOptions;
  /** Network operations in the router's unit of work (the HA network's create and delete). */
  networks(w: Work): HaNetworkOps;
  /** Schedule an HA router to its agents now, in this unit of work (Agents.scheduleHaRouter). */
  schedule(w: Work, routerId: string): Promise<void>;
}

/** HA as a request asks it (convert_to_boolean_if_not_none); null or absent: l3_ha's default (_is_ha). */
const requestedHa = (v: unknown, defaultHa: boolean): boolean => (v === true || v === false ? v : defaultHa);

/**
 * _after_router_create / _reconfigure_ha_resources: schedule the HA router now. Running out of
 * VRIDs leaves the router in ERROR on create (Neutron logs NoVRIDAvailable and answers the
 * router); an update answers as it would without agents.
 */
async function scheduleHa(w: Work, ha: RouterHaHooks, routerId: string, onCreate: boolean): Promise<void> {
  try {
    await ha.schedule(w, routerId);
  } catch (e) {
    if (!(e instanceof DomainError && e.type === 'NoVRIDAvailable')) throw e;
    if (onCreate) await w.trx.updateTable('routers').set({ status: 'ERROR' }).where('id', '=', routerId).execute();
  }
}

/**
 * _validate_migration and _reconfigure_ha_resources: `ha` changes only on a router that is (or
 * is being set) administratively down; its interfaces change owner, it leaves its agents (their
 * HA ports go), a router no longer HA gives its VRID back and maybe its project's HA network, and
 * it is scheduled again as what it now is.
 */
async function changeHa(w: Work, ha: RouterHaHooks, row: RoutersTable, toHa: boolean, adminStateUp: boolean): Promise<void> {
  const { trx } = w;
  if (adminStateUp) {
    throw routerBadRequest('Cannot change HA attribute of active routers. Please set router admin_state_up to False prior to upgrade');
  }
  if (toHa) await ensureHaNetwork(w, ha.networks(w), row.project_id, ha.options);
  else await releaseVrid(w, row);
  const [from, to] = toHa ? [ROUTER_INTF, HA_REPLICATED_INTF] : [HA_REPLICATED_INTF, ROUTER_INTF];
  for (const p of await routerPorts(trx, row.id, [from])) {
    await trx.updateTable('ports').set({ device_owner: to }).where('id', '=', p.id).execute();
    await trx.updateTable('router_ports').set({ port_type: to }).where('port_id', '=', p.id).execute();
    w.changed('port', p.id, p.project_id, 'update');
  }
  await trx
    .updateTable('routers')
    .set({ ha: toHa ? 1 : 0 })
    .where('id', '=', row.id)
    .execute();
  row.ha = toHa ? 1 : 0;
  // _unbind_ha_router: off every agent, to be scheduled again.
  await deleteHaPorts(w, row.id);
  await trx.deleteFrom('router_l3_agent_bindings').where('router_id', '=', row.id).execute();
  if (toHa) await scheduleHa(w, ha, row.id, false);
  else await cleanupHaNetwork(w, ha.networks(w), row.project_id);
}

export function routerOps(ha: RouterHaHooks): ResourceOps<'routers', RouterComputed> {
  const rendered = async (trx: Tx, ctx: RequestContext, id: string) => {
    const row = await trx.selectFrom('routers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const [out] = await renderRows(trx, routerDef, ctx, [row]);
    return out;
  };

  return {
    def: routerDef,
    quota: 'router',
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      checkGatewayPolicy(ctx, 'create_router', v.external_gateway_info);
      const id = newUuid();
      if (v.flavor_id) checkProviderSupportsHa(await routerFlavorDriver(trx, v.flavor_id as string), v.ha);
      await validateAvailabilityZones(trx, 'router', (v.availability_zone_hints as string[] | undefined) ?? []);
      const info = v.external_gateway_info as GatewayInfo | null;
      const ndp = await ndpStateForCreate(trx, id, v.enable_ndp_proxy as boolean | undefined, info?.network_id ?? null);
      const isHa = requestedHa(v.ha, ha.options.defaultHa);
      // _before_router_create: the project's HA network exists before its first HA router.
      if (isHa) await ensureHaNetwork(w, ha.networks(w), v.project_id as string, ha.options);
      await insertRow(trx, routerDef, id, {
        ...toColumns(routerDef, v),
        ha: isHa ? 1 : 0,
        ha_vr_id: null,
        status: 'ACTIVE',
        enable_snat: 1,
        gw_port_id: null,
        enable_ndp_proxy: ndp ? 1 : 0,
        flavor_id: (v.flavor_id as string | undefined) ?? null,
      });
      if (info?.network_id) {
        const row = await trx.selectFrom('routers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        await bumpTimes(trx, id, await updateGateway(w, ctx, row, info));
        // The gateway's policy binding revises the router (qos-gateway-ip).
        if (await setRouterGatewayQos(w, ctx, id, row.gw_port_id !== null, info)) await bumpRevision(trx, 'routers', id);
      }
      if (isHa) await scheduleHa(w, ha, id, true);
      return id;
    },

    async update(w, ctx, row, p) {
      const { trx } = w;
      const v = { ...p.values };
      if ('external_gateway_info' in v) checkGatewayPolicy(ctx, 'update_router', v.external_gateway_info);
      if ('routes' in v) {
        const routes = v.routes as Route[];
        await validateRoutes(trx, row.id, routes);
        await writeRoutes(trx, row.id, routes);
        delete v.routes;
      }
      if ('external_gateway_info' in v) {
        const info = v.external_gateway_info as GatewayInfo | null;
        await bumpTimes(trx, row.id, await updateGateway(w, ctx, row, info?.network_id ? info : null));
        if (await setRouterGatewayQos(w, ctx, row.id, row.gw_port_id !== null, info)) await bumpRevision(trx, 'routers', row.id);
        delete v.external_gateway_info;
        row.revision_number = (await trx.selectFrom('routers').select('revision_number').where('id', '=', row.id).executeTakeFirstOrThrow()).revision_number;
      }
      // NDPProxyPlugin._process_ndp_proxy_state_for_update_router: true needs an IPv6 gateway;
      // an update that does not say follows what the gateway supports.
      if (typeof v.ha === 'boolean' && v.ha !== (row.ha === 1)) {
        const adminStateUp = typeof v.admin_state_up === 'boolean' ? v.admin_state_up : row.admin_state_up === 1;
        await changeHa(w, ha, row, v.ha, adminStateUp);
      }
      const cols = toColumns(routerDef, v);
      if (v.enable_ndp_proxy === true) await checkNdpStateForUpdate(trx, row.id, row.gw_port_id);
      if (v.enable_ndp_proxy === true || v.enable_ndp_proxy === false) cols.enable_ndp_proxy = v.enable_ndp_proxy ? 1 : 0;
      else cols.enable_ndp_proxy = (await gatewayHasNdp(trx, row.gw_port_id)) ? 1 : 0;
      await updateRow(trx, routerDef, row, cols);
    },

    async delete(w, _ctx, row) {
      const { trx } = w;
      if (row.gw_port_id) await checkNoNdpProxies(trx, row.id);
      const attached = await routerPorts(trx, row.id, INTERFACE_TYPES);
      if (attached.length) {
        throw conflict('RouterInUse', `Router ${row.id} has ports still attached: ${attached.map((p) => p.id).join(', ')}`);
      }
      if (row.gw_port_id) {
        const fip = await trx.selectFrom('floating_ips').select('id').where('router_id', '=', row.id).executeTakeFirst();
        if (fip) {
          const gw = await trx.selectFrom('ports').select('network_id').where('id', '=', row.gw_port_id).executeTakeFirstOrThrow();
          throw conflict(
            'RouterExternalGatewayInUseByFloatingIp',
            `Gateway cannot be updated for router ${row.id}, since a gateway to external network ${gw.network_id} is required by one or more floating IPs.`,
          );
        }
      }
      await trx.updateTable('routers').set({ gw_port_id: null }).where('id', '=', row.id).execute();
      // An HA router's ports on its agents and its VRID go first (_release_router_vr_id).
      if (row.ha === 1) {
        await deleteHaPorts(w, row.id);
        await releaseVrid(w, row);
      }
      for (const p of await routerPorts(trx, row.id)) await deletePort(w, p.id);
      await trx.deleteFrom('router_routes').where('router_id', '=', row.id).execute();
      await trx.deleteFrom('conntrack_helpers').where('router_id', '=', row.id).execute();
      await trx.deleteFrom('routers').where('id', '=', row.id).execute();
      // _cleanup_ha_network: the project's last HA router takes its HA network along.
      if (row.ha === 1) await cleanupHaNetwork(w, ha.networks(w), row.project_id);
    },

    actions: actionMap({
      async add_router_interface(w, ctx, row, body) {
        const { trx } = w;
        const info = validateInterfaceInfo(body, false);
        const result =
          info.port_id !== undefined ? await addInterfaceByPort(w, ctx, row, info.port_id) : await addInterfaceBySubnet(w, ctx, row, info.subnet_id!);
        await bumpRevision(trx, 'routers', row.id);
        return result;
      },
      async remove_router_interface(w, ctx, row, body) {
        const { trx } = w;
        const result = await removeInterface(w, ctx, row, body);
        await bumpRevision(trx, 'routers', row.id);
        return result;
      },
      async add_extraroutes(w, ctx, row, body) {
        const { trx } = w;
        const add = routesFromBody(body);
        const old = await currentRoutes(trx, row.id);
        const routes = [...old, ...add.filter((r) => !old.some((o) => sameRoute(o, r)))];
        await validateRoutes(trx, row.id, routes);
        await writeRoutes(trx, row.id, routes);
        await bumpRevision(trx, 'routers', row.id);
        return { router: await rendered(trx, ctx, row.id) };
      },
      async remove_extraroutes(w, ctx, row, body) {
        const { trx } = w;
        const remove = routesFromBody(body);
        const routes = (await currentRoutes(trx, row.id)).filter((o) => !remove.some((r) => sameRoute(o, r)));
        await validateRoutes(trx, row.id, routes);
        await writeRoutes(trx, row.id, routes);
        await bumpRevision(trx, 'routers', row.id);
        return { router: await rendered(trx, ctx, row.id) };
      },
    }),
  };
}

/**
 * The router a floating IP on `externalNetworkId` reaches `subnet` through: one with a gateway on
 * that network and an interface on the subnet, preferring the one holding the subnet's gateway IP.
 */
export async function routerForFloatingIp(
  q: Q,
  internalPort: Pick<PortsTable, 'id' | 'network_id'>,
  subnet: Pick<SubnetsTable, 'id' | 'gateway_ip'>,
  externalNetworkId: string,
): Promise<string> {
  const rows = await q
    .selectFrom('router_ports as rp')
    .innerJoin('ports as p', 'p.id', 'rp.port_id')
    .innerJoin('ip_allocations as a', 'a.port_id', 'p.id')
    .innerJoin('routers as r', 'r.id', 'rp.router_id')
    .innerJoin('ports as gw', 'gw.id', 'r.gw_port_id')
    .select(['rp.router_id', 'a.ip_address'])
    .where('p.network_id', '=', internalPort.network_id)
    .where('rp.port_type', 'in', ROUTER_INTERFACE_OWNERS)
    .where('a.subnet_id', '=', subnet.id)
    .where('gw.network_id', '=', externalNetworkId)
    .orderBy('r.created_at')
    .orderBy('r.id')
    .execute();
  const viaGateway = rows.find((r) => r.ip_address === subnet.gateway_ip);
  if (viaGateway) return viaGateway.router_id;
  if (rows.length) return rows[0].router_id;
  throw notFound(
    'ExternalGatewayForFloatingIPNotFound',
    `External network ${externalNetworkId} is not reachable from subnet ${subnet.id}.  Therefore, cannot associate Port ${internalPort.id} with a Floating IP.`,
  );
}
