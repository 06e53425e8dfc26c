/**
 * Neutron's availability zones, which are nothing but what agents report: the DHCP agents'
 * zones are the zones of networks, the L3 agents' the zones of routers (neutron/db/agents_db.py
 * AgentAvailabilityZoneMixin, Zed). A network's or router's `availability_zones` are the zones of
 * the agents hosting it; the hints it is created with must name zones some agent of its kind has
 * (validate_availability_zones, AvailabilityZoneNotFound).
 */
import { IN_CHUNK, chunks } from '../../store/db.js';
import type { Q } from '../../store/db.js';
import { DomainError } from '../errors.js';
import type { InlineAttr } from './resource.js';

export const DHCP_AGENT_TYPE = 'DHCP agent';
export const L3_AGENT_TYPE = 'L3 agent';
/** The data plane's networks are Linux bridges: the Linux bridge agent's type. */
export const L2_AGENT_TYPE = 'Linux bridge agent';

/** The resource an agent type's zones are zones of (agents_db.RESOURCE_AGENT_TYPE_MAP). */
const RESOURCE_OF_TYPE: ReadonlyMap<string, 'network' | 'router'> = new Map([
  [DHCP_AGENT_TYPE, 'network'],
  [L3_AGENT_TYPE, 'router'],
]);
const TYPE_OF_RESOURCE: ReadonlyMap<string, string> = new Map([...RESOURCE_OF_TYPE].map(([t, r]) => [r, t]));

export interface AvailabilityZoneView {
  name: string;
  resource: 'network' | 'router';
  state: 'available' | 'unavailable';
}

/**
 * GET /v2.0/availability_zones (any caller; availability_zone_filter): one per (zone, resource);
 * `available` when any of its agents is administratively up — liveness does not count.
 */
export async function listAvailabilityZones(q: Q, filters: Map<string, string[]>): Promise<AvailabilityZoneView[]> {
  const names = filters.get('name');
  // _adjust_az_filters: `resource` filters by agent type (network -> DHCP agent …), other values pass as they are.
  const types = filters.get('resource')?.map((r) => TYPE_OF_RESOURCE.get(r) ?? r);
  const states = filters.get('state');
  const agents = await q.selectFrom('agents').select(['agent_type', 'availability_zone', 'admin_state_up']).orderBy('created_at').orderBy('id').execute();
  const result = new Map<string, AvailabilityZoneView>();
  for (const a of agents) {
    const resource = RESOURCE_OF_TYPE.get(a.agent_type);
    if (!a.availability_zone || !resource) continue;
    if (names && !names.includes(a.availability_zone)) continue;
    if (types && !types.includes(a.agent_type)) continue;
    const key = JSON.stringify([a.availability_zone, resource]);
    const up = a.admin_state_up === 1 || result.get(key)?.state === 'available';
    result.set(key, { name: a.availability_zone, resource, state: up ? 'available' : 'unavailable' });
  }
  return [...result.values()].filter((z) => !states || states.includes(z.state));
}

/** validate_availability_zones: every hint must be the zone of an agent of the resource's kind. */
export async function validateAvailabilityZones(q: Q, resource: 'network' | 'router', hints: readonly string[]): Promise<void> {
  if (!hints.length) return;
  const type = resource === 'network' ? DHCP_AGENT_TYPE : L3_AGENT_TYPE;
  const rows = await q
    .selectFrom('agents')
    .select('availability_zone')
    .where('agent_type', '=', type)
    .where('availability_zone', 'in', [...hints])
    .execute();
  const known = new Set(rows.map((r) => r.availability_zone));
  const missing = hints.find((h) => !known.has(h));
  if (missing !== undefined) throw new DomainError('not_found', 'AvailabilityZoneNotFound', `AvailabilityZone ${missing} could not be found.`);
}

/** The zones of the DHCP agents hosting each network (get_network_availability_zones). */
export async function networkZones(q: Q, networkIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const chunk of chunks([...networkIds], IN_CHUNK)) {
    const rows = await q
      .selectFrom('network_dhcp_agent_bindings')
      .innerJoin('agents', 'agents.id', 'network_dhcp_agent_bindings.dhcp_agent_id')
      .select(['network_dhcp_agent_bindings.network_id as owner', 'agents.availability_zone'])
      .where('network_dhcp_agent_bindings.network_id', 'in', chunk)
      .execute();
    collect(out, rows);
  }
  return sorted(out);
}

/** A network's zones read with it by a show (`ResourceDef.inline`), as networkZones gives them. */
export const networkZonesInline: InlineAttr<'networks'> = {
  rows: (eb) =>
    eb
      .selectFrom('network_dhcp_agent_bindings')
      .innerJoin('agents', 'agents.id', 'network_dhcp_agent_bindings.dhcp_agent_id')
      .select('agents.availability_zone')
      .whereRef('network_dhcp_agent_bindings.network_id', '=', 'networks.id'),
  columns: ['availability_zone'],
  value: (rows) => zoneSet(rows),
};

/** A router's zones read with it by a show (`ResourceDef.inline`), as routerZones gives them. */
export const routerZonesInline: InlineAttr<'routers'> = {
  rows: (eb) =>
    eb
      .selectFrom('router_l3_agent_bindings')
      .innerJoin('agents', 'agents.id', 'router_l3_agent_bindings.l3_agent_id')
      .select('agents.availability_zone')
      .whereRef('router_l3_agent_bindings.router_id', '=', 'routers.id'),
  columns: ['availability_zone'],
  value: (rows) => zoneSet(rows),
};

/** One owner's zones from its agents' rows: a set of them, sorted (as collect and sorted make them). */
const zoneSet = (rows: unknown[][]) => [...new Set(rows.map((r) => r[0] as string | null).filter((z): z is string => z !== null))].sort();

/** The zones of the L3 agents hosting each router (get_router_availability_zones). */
export async function routerZones(q: Q, routerIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const chunk of chunks([...routerIds], IN_CHUNK)) {
    const rows = await q
      .selectFrom('router_l3_agent_bindings')
      .innerJoin('agents', 'agents.id', 'router_l3_agent_bindings.l3_agent_id')
      .select(['router_l3_agent_bindings.router_id as owner', 'agents.availability_zone'])
      .where('router_l3_agent_bindings.router_id', 'in', chunk)
      .execute();
    collect(out, rows);
  }
  return sorted(out);
}

function collect(out: Map<string, string[]>, rows: Array<{ owner: string; availability_zone: string | null }>): void {
  for (const r of rows) {
    // Neutron makes a set of them. Every DHCP and L3 agent here reports a zone (Neutron would add
    // None for one that did not).
    if (r.availability_zone === null) continue;
    const list = out.get(r.owner) ?? [];
    if (!list.includes(r.availability_zone)) list.push(r.availability_zone);
    out.set(r.owner, list);
  }
}

/** Each owner's zones in order: sorted here, not in SQL (a handful per owner, and no temporary B-tree). */
function sorted(out: Map<string, string[]>): Map<string, string[]> {
  for (const list of out.values()) list.sort();
  return out;
}
