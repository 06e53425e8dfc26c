/**
 * HA routers (`l3-ha`), as neutron/db/l3_hamode_db.py (Zed) keeps them: every project with an HA
 * router has one HA network ("HA network tenant <project>", owned by no project, with the
 * `l3_ha_net_cidr` subnet and no DHCP), an HA router takes a VRRP id (VRID, 1..254) on it when
 * it is first scheduled, and each L3 agent hosting it has an HA port there
 * (`network:router_ha_interface`) whose binding carries the state that agent reports: `active`,
 * `standby` or `unknown`. The router's gateway and interface ports live on the active agent's
 * host. Nothing here knows HTTP; the scheduling itself is agents.ts's.
 */
import { randomInt } from 'node:crypto';
import type { Q } from '../../store/db.js';
import { parseCidr, parseIp } from '../../util/ip.js';
import { type RequestContext, systemContext } from '../context.js';
import { conflict } from '../errors.js';
import type { Work } from '../work.js';
import { createPortInternal, deletePort } from './ports.js';
import { bumpRevision } from './resource.js';

/** neutron_lib's DEVICE_OWNER_ROUTER_HA_INTF: an HA router's port on its HA network, one per agent. */
export const HA_INTF = 'network:router_ha_interface';
/** DEVICE_OWNER_HA_REPLICATED_INT: an HA router's interface ports (replicated on every agent). */
export const HA_REPLICATED_INTF = 'network:ha_router_replicated_interface';

export type HaState = 'active' | 'standby' | 'unknown';

/** The `l3_ha`, `max_l3_agents_per_router` and `l3_ha_net_cidr` options (neutron/conf/db/l3_hamode_db.py). */
export interface L3HaOptions {
  /** `l3_ha`: whether a router created without `ha` is one (Neutron: false). */
  defaultHa: boolean;
  /** `max_l3_agents_per_router`: agents an HA router is scheduled to (0: every agent). */
  maxAgentsPerRouter: number;
  /** `l3_ha_net_cidr`: the HA networks' subnet. */
  netCidr: string;
}

export const L3_HA_DEFAULTS: L3HaOptions = { defaultHa: false, maxAgentsPerRouter: 3, netCidr: '169.254.192.0/18' };

/**
 * L3_HA_NAT_db_mixin._verify_configuration: the server refuses to start on an HA network CIDR
 * that is not a network address with its prefix, or a negative max_l3_agents_per_router.
 */
export function checkL3HaOptions(opts: L3HaOptions): void {
  const cidr = opts.netCidr.includes('/') ? parseCidr(opts.netCidr) : undefined;
  if (!cidr || cidr.network !== parseIp(opts.netCidr.split('/')[0])?.value) {
    throw new Error(`The HA Network CIDR specified in the configuration file isn't valid; ${opts.netCidr}.`);
  }
  if (!Number.isInteger(opts.maxAgentsPerRouter) || opts.maxAgentsPerRouter < 0) {
    throw new Error(
      `max_l3_agents_per_router ${opts.maxAgentsPerRouter} config parameter is not valid as it cannot be negative. It must be 1 or greater. Alternatively, it can be 0 to mean unlimited.`,
    );
  }
}

/** l3_hamode_db's VR_ID_RANGE: set(range(1, 255)). */
const VRID_MAX = 254;

/** The network operations the HA network needs (NetworkService.within's create and delete). */
export interface HaNetworkOps {
  create(ctx: RequestContext, collection: string, body: unknown): Promise<string[]>;
  delete(ctx: RequestContext, collection: string, id: string): Promise<void>;
}

/** get_ha_network: the project's HA network, if it has one. */
export async function haNetworkOf(q: Q, projectId: string): Promise<string | undefined> {
  const row = await q.selectFrom('ha_router_networks').select('network_id').where('project_id', '=', projectId).executeTakeFirst();
  return row?.network_id;
}

/**
 * _create_ha_network and _create_ha_subnet: the project's HA network, made (admin, tenant_id '')
 * the first time one of its routers is HA, before the router itself (_before_router_create).
 */
export async function ensureHaNetwork(w: Work, ops: HaNetworkOps, projectId: string, opts: L3HaOptions): Promise<string> {
  const existing = await haNetworkOf(w.trx, projectId);
  if (existing) return existing;
  const ctx = systemContext();
  const [networkId] = await ops.create(ctx, 'networks', {
    network: { name: `HA network tenant ${projectId}`, tenant_id: '', shared: false, admin_state_up: true },
  });
  await ops.create(ctx, 'subnets', {
    subnet: {
      network_id: networkId,
      tenant_id: '',
      name: `HA subnet tenant ${projectId}`,
      ip_version: 4,
      cidr: opts.netCidr,
      enable_dhcp: false,
      gateway_ip: null,
    },
  });
  await w.trx.insertInto('ha_router_networks').values({ project_id: projectId, network_id: networkId }).execute();
  return networkId;
}

/** l3ha_exc.NoVRIDAvailable (a Conflict). */
export const noVridAvailable = (routerId: string) =>
  conflict(
    'NoVRIDAvailable',
    `No more Virtual Router Identifier (VRID) available when creating router ${routerId}. The limit of number of HA Routers per tenant is 254.`,
  );

/** _ensure_vr_id: a free VRID on the HA network, chosen at random as Neutron does, kept on the router. */
export async function ensureVrid(w: Work, routerId: string, networkId: string): Promise<number> {
  const router = await w.trx.selectFrom('routers').select('ha_vr_id').where('id', '=', routerId).executeTakeFirstOrThrow();
  if (router.ha_vr_id) return router.ha_vr_id;
  const used = new Set(
    (await w.trx.selectFrom('ha_router_vrid_allocations').select('vr_id').where('network_id', '=', networkId).execute()).map((r) => r.vr_id),
  );
  const free: number[] = [];
  for (let id = 1; id <= VRID_MAX; id++) if (!used.has(id)) free.push(id);
  if (!free.length) throw noVridAvailable(routerId);
  const vrId = free[randomInt(free.length)];
  await w.trx.insertInto('ha_router_vrid_allocations').values({ network_id: networkId, vr_id: vrId }).execute();
  await w.trx.updateTable('routers').set({ ha_vr_id: vrId }).where('id', '=', routerId).execute();
  // Its extra attributes changed: the router's revision moves (as each HA port's does it).
  await bumpRevision(w.trx, 'routers', routerId);
  return vrId;
}

/** _delete_vr_id_allocation: the router's VRID goes back to its HA network. */
export async function releaseVrid(w: Work, router: { id: string; project_id: string; ha_vr_id: number | null }): Promise<void> {
  if (!router.ha_vr_id) return;
  const networkId = await haNetworkOf(w.trx, router.project_id);
  if (networkId) await w.trx.deleteFrom('ha_router_vrid_allocations').where('network_id', '=', networkId).where('vr_id', '=', router.ha_vr_id).execute();
  await w.trx.updateTable('routers').set({ ha_vr_id: null }).where('id', '=', router.id).execute();
}

/**
 * add_ha_port and _create_ha_port_binding: the router's port for one agent on the HA network
 * (no project, named for the router's), a router port of type router_ha_interface, and its
 * binding to the agent in state standby.
 */
export async function addHaPort(w: Work, router: { id: string; project_id: string }, networkId: string, agentId: string): Promise<string> {
  const portId = await createPortInternal(w, {
    tenant_id: '',
    network_id: networkId,
    admin_state_up: true,
    device_id: router.id,
    device_owner: HA_INTF,
    name: `HA port tenant ${router.project_id}`,
  });
  await w.trx.insertInto('router_ports').values({ port_id: portId, router_id: router.id, port_type: HA_INTF }).execute();
  await w.trx.insertInto('ha_router_agent_port_bindings').values({ port_id: portId, router_id: router.id, l3_agent_id: agentId, state: 'standby' }).execute();
  await bumpRevision(w.trx, 'routers', router.id);
  return portId;
}

/**
 * _delete_ha_interfaces (every agent's) or delete_ha_interfaces_on_host (one agent's, as the
 * router leaves it): the HA ports go, their bindings with them.
 */
export async function deleteHaPorts(w: Work, routerId: string, agentId?: string): Promise<void> {
  let q = w.trx.selectFrom('ha_router_agent_port_bindings').select('port_id').where('router_id', '=', routerId);
  if (agentId !== undefined) q = q.where('l3_agent_id', '=', agentId);
  const ports = (await q.execute()).map((r) => r.port_id);
  if (agentId === undefined) {
    // Ports left without a binding (an agent deleted) are the router's HA ports all the same.
    const unbound = await w.trx.selectFrom('ports').select('id').where('device_id', '=', routerId).where('device_owner', '=', HA_INTF).execute();
    for (const p of unbound) if (!ports.includes(p.id)) ports.push(p.id);
  }
  for (const id of ports) {
    await w.trx.deleteFrom('ha_router_agent_port_bindings').where('port_id', '=', id).execute();
    await w.trx.deleteFrom('router_ports').where('port_id', '=', id).execute();
    await deletePort(w, id);
  }
}

/**
 * safe_delete_ha_network after a router stops being HA or is deleted: the project's HA network
 * goes once no HA router of the project is left (Neutron's delete_network refuses while HA ports
 * remain, which is the same thing).
 */
export async function cleanupHaNetwork(w: Work, ops: HaNetworkOps, projectId: string): Promise<void> {
  const networkId = await haNetworkOf(w.trx, projectId);
  if (!networkId) return;
  const left = await w.trx.selectFrom('routers').select('id').where('project_id', '=', projectId).where('ha', '=', 1).executeTakeFirst();
  if (left) return;
  const ports = await w.trx.selectFrom('ports').select('id').where('network_id', '=', networkId).where('device_owner', '!=', HA_INTF).executeTakeFirst();
  if (ports) return;
  for (const p of await w.trx.selectFrom('ports').select('id').where('network_id', '=', networkId).execute()) {
    await w.trx.deleteFrom('ha_router_agent_port_bindings').where('port_id', '=', p.id).execute();
    await w.trx.deleteFrom('router_ports').where('port_id', '=', p.id).execute();
    await deletePort(w, p.id);
  }
  await w.trx.deleteFrom('ha_router_vrid_allocations').where('network_id', '=', networkId).execute();
  await w.trx.deleteFrom('ha_router_networks').where('network_id', '=', networkId).execute();
  await ops.delete(systemContext(), 'networks', networkId);
}

/** One HA binding as the election and the l3-agents listing read it. */
export interface HaBinding {
  portId: string;
  agentId: string;
  host: string;
  state: HaState;
  /** The agent heartbeats and is administratively up (is_active and admin_state_up). */
  eligible: boolean;
  /** The HA port's address: VRRP's tie-break between equal priorities (the higher wins). */
  address: string;
}

/**
 * _get_bindings_and_update_router_state_for_dead_agents: an agent that is dead or disabled cannot
 * say its router stopped being active there, so the server decides — `unknown` when every agent
 * of the router is in that case (it may still be active), else `standby` (a live one takes over).
 * Returns the bindings whose state changes.
 */
export function statesForDeadAgents(bindings: readonly HaBinding[]): Map<string, HaState> {
  const out = new Map<string, HaState>();
  const deadActive = bindings.filter((b) => !b.eligible && b.state === 'active');
  if (!deadActive.length) return out;
  const deadCounted = bindings.filter((b) => !b.eligible && (b.state === 'active' || b.state === 'standby')).length;
  const state: HaState = deadCounted === bindings.length ? 'unknown' : 'standby';
  for (const b of deadActive) out.set(b.portId, state);
  return out;
}

/**
 * The VRRP election as keepalived makes it with Neutron's configuration (every instance BACKUP
 * at one priority, `nopreempt`): a live master stays master; without one, the instance with
 * the highest primary address wins. Of two masters, the higher address stays. Returns the agent
 * that is active, or undefined when no agent is eligible.
 */
export function electActive(bindings: readonly HaBinding[]): string | undefined {
  const eligible = bindings.filter((b) => b.eligible);
  const masters = eligible.filter((b) => b.state === 'active');
  const pool = masters.length ? masters : eligible;
  const byAddress = [...pool].sort((a, b) => compareIpv4(b.address, a.address));
  return byAddress[0]?.agentId;
}

function compareIpv4(a: string, b: string): number {
  const n = (s: string) => s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(a) - n(b);
}
