/**
 * Neutron's agents: every host's Linux bridge (L2), DHCP, L3 and metadata agents, registered by
 * their first report and kept alive by their heartbeats (report_state), and what is scheduled to
 * them: networks to DHCP agents, routers to L3 agents (the `agent`, `dhcp_agent_scheduler`,
 * `l3_agent_scheduler` and availability-zone extensions; neutron/db/agents_db.py,
 * agentschedulers_db.py, l3_agentschedulers_db.py, Zed). A network is scheduled to a DHCP agent
 * when a subnet with DHCP or a port is created on it (DhcpAgentNotifyAPI; WeightScheduler: the
 * least loaded live agent in the network's hinted zones); a router to an L3 agent when it is
 * created with a gateway or updated, interfaces included (L3AgentNotifyAPI with
 * router_auto_schedule; LeastRoutersScheduler). Removing a network from its agent reserves its
 * DHCP port (device_id `reserved_dhcp_port`) for a later add, as Neutron does. Everything here
 * is admin-only (Neutron's default policy).
 */
import { createHash, randomUUID } from 'node:crypto';
import { type ExpressionBuilder, sql } from 'kysely';
import { fromJson, prepared } from '../../store/db.js';
import type { Q, Store } from '../../store/db.js';
import type { AgentsTable, DB } from '../../store/schema.js';
import { boolFromString, strictBoolFromString } from '../../util/bool.js';
import { isDict } from '../../util/json.js';
import { isoSeconds } from '../../util/time.js';
import type { RequestContext } from '../context.js';
import { DomainError, badRequest, conflict, notFound } from '../errors.js';
import type { Change, ChangeBus, UnitOfWork, Work } from '../work.js';
import {
  HA_INTF,
  type HaBinding,
  type HaState,
  L3_HA_DEFAULTS,
  type L3HaOptions,
  addHaPort,
  deleteHaPorts,
  electActive,
  ensureVrid,
  haNetworkOf,
  statesForDeadAgents,
} from './l3ha.js';
import { VIF_TYPE_BINDING_FAILED, bindPort, bindingColumns, portSubnetIds } from './binding.js';
import { AGENT_DOWN_TIME_S, agentAlive, deadSince } from './liveness.js';
import { type AvailabilityZoneView, DHCP_AGENT_TYPE, L2_AGENT_TYPE, L3_AGENT_TYPE, listAvailabilityZones } from './zones.js';

/** neutron_lib's DEVICE_ID_RESERVED_DHCP_PORT. */
export const RESERVED_DHCP_PORT = 'reserved_dhcp_port';
/** report_interval default (seconds): how often an agent reports its state. */
export const REPORT_INTERVAL_S = 30;
const DESCRIPTION_MAX = 255;

const DNS_NAMESPACE = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

/** RFC 4122 name-based UUID (version 5, SHA-1), as Python's uuid.uuid5. */
export function uuid5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The device_id of a host's DHCP port on a network (neutron.common.utils.get_dhcp_agent_device_id). */
export function dhcpDeviceId(networkId: string, host: string): string {
  return `dhcp${uuid5(DNS_NAMESPACE, host.split('.')[0])}-${networkId}`;
}

const agentNotFound = (id: string) => notFound('AgentNotFound', `Agent ${id} could not be found.`);
const adminOnly = (ctx: RequestContext, action: string) => {
  if (!ctx.isAdmin) throw new DomainError('forbidden', 'PolicyNotAuthorized', `rule:${action} is disallowed by policy`);
};

/** Agents' times as Neutron prints them (`2017-09-12 19:53:38`). */
const agentTime = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z?$|Z$/, '');

/** The agents a host runs, as neutron_lib.constants names them. */
export type AgentKind = 'l2' | 'dhcp' | 'l3' | 'metadata';
interface AgentKindDef {
  agent_type: string;
  binary: string;
  topic: string;
}
const AGENT_KINDS: ReadonlyMap<AgentKind, AgentKindDef> = new Map<AgentKind, AgentKindDef>([
  // The data plane's networks are Linux bridges: the Linux bridge agent's type (L2_AGENT_TOPIC 'N/A').
  ['l2', { agent_type: L2_AGENT_TYPE, binary: 'neutron-linuxbridge-agent', topic: 'N/A' }],
  ['dhcp', { agent_type: DHCP_AGENT_TYPE, binary: 'neutron-dhcp-agent', topic: 'dhcp_agent' }],
  ['l3', { agent_type: L3_AGENT_TYPE, binary: 'neutron-l3-agent', topic: 'l3_agent' }],
  ['metadata', { agent_type: 'Metadata agent', binary: 'neutron-metadata-agent', topic: 'N/A' }],
]);

/** One agent's report_state: what it says of itself (the DHCP and L3 agents name their zone). */
export interface AgentReport {
  kind: AgentKind;
  configurations: Record<string, unknown>;
  availabilityZone: string | null;
}

export interface AgentView {
  binary: string;
  description: string | null;
  heartbeat_timestamp: string;
  admin_state_up: boolean;
  alive: boolean;
  id: string;
  topic: string;
  host: string;
  agent_type: string;
  started_at: string;
  created_at: string;
  availability_zone: string | null;
  configurations: Record<string, unknown>;
}

export function renderAgent(a: AgentsTable, now = Date.now(), downTimeS = AGENT_DOWN_TIME_S): AgentView {
  return {
    binary: a.binary,
    description: a.description,
    heartbeat_timestamp: agentTime(a.heartbeat_timestamp),
    admin_state_up: a.admin_state_up === 1,
    alive: agentAlive(a.heartbeat_timestamp, now, downTimeS),
    id: a.id,
    topic: a.topic,
    host: a.host,
    agent_type: a.agent_type,
    started_at: agentTime(a.started_at),
    created_at: agentTime(a.created_at),
    availability_zone: a.availability_zone,
    configurations: fromJson<Record<string, unknown>>(a.configurations, {}),
  };
}

/** GET /v2.0/agents filters Neutron accepts (the agent attribute map's filterable ones). */
const FILTERS: Record<string, (a: AgentView, v: string) => boolean> = {
  id: (a, v) => a.id === v,
  agent_type: (a, v) => a.agent_type === v,
  binary: (a, v) => a.binary === v,
  topic: (a, v) => a.topic === v,
  host: (a, v) => a.host === v,
  admin_state_up: (a, v) => a.admin_state_up === boolFromString(v),
  alive: (a, v) => a.alive === boolFromString(v),
  description: (a, v) => (a.description ?? '') === v,
  availability_zone: (a, v) => a.availability_zone === v,
};

/**
 * A router as its L3 scheduling sees it, with the host of its first agent that is up (null: not
 * hosted), the one its L3 agent binds the router's ports to.
 */
const routerSchedule = prepared(['id'], (q, a) =>
  q
    .selectFrom('routers')
    .select((eb) => [
      'routers.id',
      'routers.project_id',
      'routers.gw_port_id',
      'routers.ha',
      eb
        .selectFrom('router_l3_agent_bindings as lb')
        .innerJoin('agents as la', 'la.id', 'lb.l3_agent_id')
        .select('la.host')
        .whereRef('lb.router_id', '=', 'routers.id')
        .where('la.admin_state_up', '=', 1)
        .orderBy('lb.binding_index')
        .limit(1)
        .as('host'),
    ])
    .where('routers.id', '=', a.id),
);

/** The HA routers a host's L3 agent holds a binding of, with that agent. */
const haRoutersOn = prepared(['host'], (q, a) =>
  q
    .selectFrom('ha_router_agent_port_bindings as b')
    .innerJoin('agents', 'agents.id', 'b.l3_agent_id')
    .select(['b.router_id', 'agents.id as agent_id'])
    .where('agents.host', '=', a.host)
    .where('agents.agent_type', '=', L3_AGENT_TYPE),
);

/**
 * What DHCP scheduling needs to know of a network before it opens a transaction: whether an agent
 * hosts it already, and whether it has a subnet with DHCP at all (most ports are created on
 * hosted networks; a floating IP's port on an external network without DHCP needs nothing). One
 * statement, compiled once, for a network, a port's or a subnet's.
 */
const dhcpNeeds = (eb: ExpressionBuilder<DB, 'networks' | 'ports' | 'subnets'>, network: 'networks.id' | 'ports.network_id' | 'subnets.network_id') =>
  [
    eb.selectFrom('network_dhcp_agent_bindings as nb').select('nb.dhcp_agent_id').whereRef('nb.network_id', '=', network).limit(1).as('hosted'),
    eb.selectFrom('subnets as ds').select('ds.id').whereRef('ds.network_id', '=', network).where('ds.enable_dhcp', '=', 1).limit(1).as('dhcp'),
  ] as const;
const networkDhcp = prepared(['id'], (q, a) =>
  q
    .selectFrom('networks')
    .select((eb) => ['networks.id as network_id', ...dhcpNeeds(eb as ExpressionBuilder<DB, 'networks' | 'ports' | 'subnets'>, 'networks.id')])
    .where('networks.id', '=', a.id),
);
const portDhcp = prepared(['id'], (q, a) =>
  q
    .selectFrom('ports')
    .select((eb) => ['ports.network_id', 'ports.device_id', ...dhcpNeeds(eb as ExpressionBuilder<DB, 'networks' | 'ports' | 'subnets'>, 'ports.network_id')])
    .where('ports.id', '=', a.id),
);
const subnetDhcp = prepared(['id'], (q, a) =>
  q
    .selectFrom('subnets')
    .select((eb) => ['subnets.network_id', ...dhcpNeeds(eb as ExpressionBuilder<DB, 'networks' | 'ports' | 'subnets'>, 'subnets.network_id')])
    .where('subnets.id', '=', a.id),
);

export class Agents {
  private unsubscribe: (() => void) | null = null;

  /** `downTimeS`: Neutron's agent_down_time (seconds); `ha`: the l3_ha options. */
  constructor(
    private readonly uow: UnitOfWork,
    readonly downTimeS: number = AGENT_DOWN_TIME_S,
    readonly ha: L3HaOptions = L3_HA_DEFAULTS,
  ) {}

  private render(a: AgentsTable, now = Date.now()): AgentView {
    return renderAgent(a, now, this.downTimeS);
  }

  private get store(): Store {
    return this.uow.store;
  }

  // ------------------------------------------------------------ reports

  /**
   * report_state for a host's agents, in one transaction (agents_db.create_or_update_agent): an
   * agent not known yet is registered; a known one is heartbeating, and restarted when `start`
   * (the agent's start_flag) — a deleted agent simply registers again at its next report.
   */
  async report(host: string, reports: readonly AgentReport[], start: boolean): Promise<void> {
    const at = Date.now();
    const now = new Date(at).toISOString();
    await this.uow.run(async (w) => {
      /** L3 agents that sync all their routers now: (re)started or revived. */
      const syncing: string[] = [];
      for (const r of reports) {
        const kind = AGENT_KINDS.get(r.kind)!;
        const configurations = JSON.stringify(r.configurations);
        const existing = await w.trx
          .selectFrom('agents')
          .select(['id', 'heartbeat_timestamp'])
          .where('agent_type', '=', kind.agent_type)
          .where('host', '=', host)
          .executeTakeFirst();
        if (existing) {
          await w.trx
            .updateTable('agents')
            .set({ heartbeat_timestamp: now, configurations, availability_zone: r.availabilityZone, ...(start ? { started_at: now } : {}) })
            .where('id', '=', existing.id)
            .execute();
          // AGENT_REVIVED (agents_db.create_or_update_agent: it was down until this report).
          const revived = !agentAlive(existing.heartbeat_timestamp, at, this.downTimeS);
          if (kind.agent_type === L3_AGENT_TYPE && (start || revived)) syncing.push(existing.id);
          continue;
        }
        await w.trx
          .insertInto('agents')
          .values({
            id: randomUUID(),
            ...kind,
            host,
            admin_state_up: 1,
            description: null,
            configurations,
            availability_zone: r.availabilityZone,
            created_at: now,
            started_at: now,
            heartbeat_timestamp: now,
          })
          .execute();
      }
      // The L3 agent's full sync at start and on revival (l3/agent.py: fullsync on AGENT_REVIVED)
      // syncs every router it hosts, whose ports sync_routers binds to its host where they are
      // not bound there or their binding failed (_ensure_host_set_on_ports) — how a router's port
      // that failed while its host's agents were dead is bound again; ML2 itself retries only
      // for Open vSwitch agents (_retry_binding_revived_agents), and this one is Linux bridge.
      for (const agentId of syncing) {
        const routers = await w.trx.selectFrom('router_l3_agent_bindings').select('router_id').where('l3_agent_id', '=', agentId).execute();
        for (const r of routers) await bindRouterPorts(w, r.router_id);
      }
    });
  }

  /**
   * auto_schedule_routers as an L3 agent (re)starts and syncs: HA routers on fewer agents than
   * they should be (under-scheduled: an agent was missing when they were made) gain this one.
   */
  async autoScheduleHaRouters(host: string): Promise<void> {
    const agent = await this.store.db.selectFrom('agents').select('id').where('host', '=', host).where('agent_type', '=', L3_AGENT_TYPE).executeTakeFirst();
    if (!agent) return;
    const routers = await this.store.db.selectFrom('routers').select('id').where('ha', '=', 1).orderBy('created_at').orderBy('id').execute();
    for (const r of routers) await this.uow.run((w) => this.scheduleHaRouter(w, r.id, agent.id));
  }

  /** Networks a host's DHCP agent serves (scheduled to it, and the agent administratively up). */
  async servedNetworks(host: string): Promise<Set<string>> {
    const rows = await this.store.db
      .selectFrom('network_dhcp_agent_bindings')
      .innerJoin('agents', 'agents.id', 'network_dhcp_agent_bindings.dhcp_agent_id')
      .select('network_dhcp_agent_bindings.network_id')
      .where('agents.host', '=', host)
      .where('agents.agent_type', '=', DHCP_AGENT_TYPE)
      .where('agents.admin_state_up', '=', 1)
      .execute();
    return new Set(rows.map((r) => r.network_id));
  }

  /** Routers scheduled to a host's L3 agent while it is administratively up. */
  async hostedRouters(host: string): Promise<Set<string>> {
    const rows = await this.store.db
      .selectFrom('router_l3_agent_bindings')
      .innerJoin('agents', 'agents.id', 'router_l3_agent_bindings.l3_agent_id')
      .select('router_l3_agent_bindings.router_id')
      .where('agents.host', '=', host)
      .where('agents.agent_type', '=', L3_AGENT_TYPE)
      .where('agents.admin_state_up', '=', 1)
      .execute();
    return new Set(rows.map((r) => r.router_id));
  }

  // ------------------------------------------------------------ scheduling

  /**
   * Schedule networks when subnets or ports appear on them (Neutron's subnet/port create_end), and
   * routers when they are created with a gateway or updated (routers_updated).
   */
  attach(changes: ChangeBus): void {
    // A router is scheduled before the request that changed it answers, as Neutron's
    // routers_updated schedules it in the API call: a GET right after a create with a gateway
    // shows the router's availability zone (the create's own answer, made before, does not).
    const routers = changes.subscribe({ kinds: ['router'], awaited: true }, (c: Change) =>
      c.op === 'create' || c.op === 'update' ? this.scheduleRouter(c.id, c.op === 'create').catch(() => undefined) : undefined,
    );
    const networks = changes.subscribe({ kinds: ['subnet', 'port'] }, (c: Change) => {
      if (c.op !== 'create' && !(c.kind === 'subnet' && c.op === 'update')) return;
      void this.scheduleFor(c).catch(() => undefined);
    });
    this.unsubscribe = () => {
      routers();
      networks();
    };
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private async scheduleFor(c: Change): Promise<void> {
    const db = this.store.db;
    const row = c.kind === 'subnet' ? (await subnetDhcp.execute(db, { id: c.id }))[0] : (await portDhcp.execute(db, { id: c.id }))[0];
    if (!row || ('device_id' in row && row.device_id === RESERVED_DHCP_PORT)) return;
    if (row.hosted !== null || row.dhcp === null) return;
    await this.bindNetwork(row.network_id);
  }

  /** Live agents of a type that are administratively up (get_l3_agents(active=True), _get_active_agents). */
  private async activeAgents(q: Q, agentType: string, now = Date.now()): Promise<AgentsTable[]> {
    const rows = await q.selectFrom('agents').selectAll().where('agent_type', '=', agentType).where('admin_state_up', '=', 1).execute();
    return rows.filter((a) => this.render(a, now).alive);
  }

  /**
   * Bind a network with a DHCP subnet to a live DHCP agent that is up, when none hosts it yet
   * (WeightScheduler with dhcp_agents_per_network = 1 and dhcp_load_type = networks: the agent
   * hosting fewest networks, among those in the network's availability_zone_hints if any).
   */
  async schedule(networkId: string): Promise<void> {
    const [row] = await networkDhcp.execute(this.store.db, { id: networkId });
    if (!row || row.hosted !== null || row.dhcp === null) return;
    await this.bindNetwork(networkId);
  }

  /**
   * The binding itself, once a read without a transaction said the network needs one (every port
   * create asks, and nearly always the network is hosted already or has no DHCP subnet): the
   * transaction checks again before binding.
   */
  private async bindNetwork(networkId: string): Promise<void> {
    await this.uow.run(async (w) => {
      const dhcp = await w.trx.selectFrom('subnets').select('id').where('network_id', '=', networkId).where('enable_dhcp', '=', 1).executeTakeFirst();
      if (!dhcp) return;
      const bound = await w.trx.selectFrom('network_dhcp_agent_bindings').select('dhcp_agent_id').where('network_id', '=', networkId).executeTakeFirst();
      if (bound) return;
      const net = await w.trx.selectFrom('networks').select(['project_id', 'availability_zone_hints']).where('id', '=', networkId).executeTakeFirst();
      if (!net) return;
      const hints = fromJson<string[]>(net.availability_zone_hints, []);
      const candidates = (await this.activeAgents(w.trx, DHCP_AGENT_TYPE)).filter((a) => !hints.length || hints.includes(a.availability_zone ?? ''));
      const agent = await this.leastLoaded(w.trx, candidates, 'networks');
      if (!agent) return;
      await w.trx.insertInto('network_dhcp_agent_bindings').values({ network_id: networkId, dhcp_agent_id: agent.id }).execute();
      w.changed('network', networkId, net.project_id, 'update');
    });
  }

  /**
   * Bind a router to the live L3 agent hosting fewest routers, unless an agent that is up hosts
   * it already (LeastRoutersScheduler for a legacy router; binding_index 1). A router created
   * without a gateway waits for its first update (L3_NAT_db_mixin.create_router).
   */
  async scheduleRouter(routerId: string, created: boolean): Promise<void> {
    // Every router change asks (an interface added or removed, a rename): a read without a
    // transaction tells when there is nothing to do — a legacy router created without a gateway,
    // or hosted already with every port bound to its agent's host (an interface removed, a rename).
    // The transaction below checks everything again.
    const [pre] = await routerSchedule.execute(this.store.db, { id: routerId });
    if (!pre) return;
    if (pre.ha !== 1) {
      if (created && !pre.gw_port_id) return;
      if (pre.host !== null && (await routerPortsToBind(true).execute(this.store.db, { router: routerId, host: pre.host })).length === 0) return;
    }
    await this.uow.run(async (w) => {
      const [router] = await routerSchedule.execute(w.trx, { id: routerId });
      if (router?.ha === 1) {
        await this.scheduleHaRouter(w, routerId);
        return;
      }
      if (!router || (created && !router.gw_port_id)) return;
      if (router.host !== null) {
        // An update of a hosted router (an interface added) reaches its agent, which binds the new port.
        await bindRouterPorts(w, routerId, undefined, { host: router.host, legacy: true });
        return;
      }
      // A binding left on a disabled agent keeps binding_index 1: Neutron schedules no second one.
      const any = await w.trx.selectFrom('router_l3_agent_bindings').select('l3_agent_id').where('router_id', '=', routerId).executeTakeFirst();
      if (any) return;
      const agent = await this.leastLoaded(w.trx, await this.activeAgents(w.trx, L3_AGENT_TYPE), 'routers');
      if (!agent) return;
      await w.trx.insertInto('router_l3_agent_bindings').values({ router_id: routerId, l3_agent_id: agent.id, binding_index: 1 }).execute();
      w.changed('router', routerId, router.project_id, 'status');
      await bindRouterPorts(w, routerId, undefined, { host: agent.host, legacy: true });
    });
  }

  /**
   * get_number_of_agents_for_scheduling: the live L3 agents that are up, at most
   * max_l3_agents_per_router of them (0: all).
   */
  private agentsForHa(active: number): number {
    return this.ha.maxAgentsPerRouter ? Math.min(this.ha.maxAgentsPerRouter, active) : active;
  }

  /**
   * Schedule an HA router (L3Scheduler._bind_ha_router with LeastRoutersScheduler): to as many
   * live L3 agents as it lacks, up to max_l3_agents_per_router, the least loaded first; each
   * binding takes the lowest vacant binding_index and an HA port on the project's HA network,
   * the router its VRID (NoVRIDAvailable when the network has none left). Runs in the caller's
   * unit of work: a router is scheduled as it is created or made HA (_after_router_create).
   */
  async scheduleHaRouter(w: Work, routerId: string, onlyAgent?: string): Promise<void> {
    const router = await w.trx.selectFrom('routers').select(['id', 'project_id', 'ha']).where('id', '=', routerId).executeTakeFirst();
    if (router?.ha !== 1) return;
    const active = await this.activeAgents(w.trx, L3_AGENT_TYPE);
    const bindings = await w.trx.selectFrom('router_l3_agent_bindings').select(['l3_agent_id', 'binding_index']).where('router_id', '=', routerId).execute();
    const wanted = this.agentsForHa(active.length) - bindings.length;
    if (wanted <= 0) return;
    const bound = new Set(bindings.map((b) => b.l3_agent_id));
    const candidates = active.filter((a) => !bound.has(a.id) && (onlyAgent === undefined || a.id === onlyAgent));
    const chosen = (await this.byLoad(w.trx, candidates, 'routers')).slice(0, wanted);
    if (!chosen.length) return;
    const networkId = await haNetworkOf(w.trx, router.project_id);
    if (!networkId) return;
    await ensureVrid(w, routerId, networkId);
    for (const agent of chosen) await this.bindHa(w, router, networkId, agent.id);
    w.changed('router', routerId, router.project_id, 'status');
    await bindRouterPorts(w, routerId);
  }

  /** One HA binding: the lowest binding_index free, and the agent's HA port. */
  private async bindHa(w: Work, router: { id: string; project_id: string }, networkId: string, agentId: string): Promise<void> {
    const used = new Set(
      (await w.trx.selectFrom('router_l3_agent_bindings').select('binding_index').where('router_id', '=', router.id).execute()).map((b) => b.binding_index),
    );
    let index = 1;
    while (used.has(index)) index++;
    await w.trx.insertInto('router_l3_agent_bindings').values({ router_id: router.id, l3_agent_id: agentId, binding_index: index }).execute();
    await addHaPort(w, router, networkId, agentId);
  }

  /**
   * The HA states this host's L3 agent reports for the HA routers it hosts (update_routers_states,
   * which keepalived's transitions drive in Neutron's agent). On the noop data plane there is no
   * keepalived: each agent makes the election VRRP would (electActive) from what the store says
   * of its peers — an agent dead or disabled stops advertising — and reports its own result. A
   * router that becomes active here gets its gateway and interface ports bound to this host
   * (_update_router_port_bindings). Returns the routers whose state here changed.
   */
  async reportHaStates(host: string, now = Date.now()): Promise<string[]> {
    // Every router change asks (routers_updated); a host whose L3 agent holds no HA router (every
    // legacy router's case) has nothing to elect, which one read tells without a transaction.
    if ((await haRoutersOn.execute(this.store.db, { host })).length === 0) return [];
    return this.uow.run(async (w) => {
      const mine = await haRoutersOn.execute(w.trx, { host });
      const changed: string[] = [];
      for (const { router_id: routerId, agent_id: agentId } of mine) {
        const bindings = await this.haBindings(w, routerId, now);
        const self = bindings.find((b) => b.agentId === agentId);
        if (!self) continue;
        const state: HaState = self.eligible && electActive(bindings) === agentId ? 'active' : 'standby';
        if (!self.eligible || state === self.state) continue;
        await w.trx.updateTable('ha_router_agent_port_bindings').set({ state }).where('port_id', '=', self.portId).execute();
        const router = await w.trx.selectFrom('routers').select('project_id').where('id', '=', routerId).executeTakeFirst();
        w.changed('router', routerId, router?.project_id ?? null, 'status');
        if (state === 'active') await bindRouterPorts(w, routerId);
        changed.push(routerId);
      }
      return changed;
    });
  }

  /**
   * update_ha_routers_states from an agent whose keepalived decides (the netns data plane of a
   * `pocketstack agent`: keepalived_state_change's transitions, read from the router's `ha-`
   * device): each router's binding of this host's L3 agent takes the state reported, and a router
   * that becomes active here has its gateway and interface ports bound to this host
   * (_update_router_port_bindings), so l2population points their MACs here. Routers this host no
   * longer hosts are ignored. Returns the routers whose state changed.
   */
  async updateHaStates(host: string, states: ReadonlyMap<string, 'active' | 'standby'>): Promise<string[]> {
    if (!states.size) return [];
    return this.uow.run(async (w) => {
      const rows = await w.trx
        .selectFrom('ha_router_agent_port_bindings as b')
        .innerJoin('agents', 'agents.id', 'b.l3_agent_id')
        .innerJoin('routers', 'routers.id', 'b.router_id')
        .select(['b.router_id', 'b.port_id', 'b.state', 'routers.project_id'])
        .where('agents.host', '=', host)
        .where('agents.agent_type', '=', L3_AGENT_TYPE)
        .where('b.router_id', 'in', [...states.keys()])
        .execute();
      const changed: string[] = [];
      for (const r of rows) {
        const state = states.get(r.router_id);
        if (!state || state === r.state) continue;
        await w.trx.updateTable('ha_router_agent_port_bindings').set({ state }).where('port_id', '=', r.port_id).execute();
        w.changed('router', r.router_id, r.project_id, 'status');
        if (state === 'active') await bindRouterPorts(w, r.router_id, host);
        else await this.handBack(w, r.router_id, host);
        changed.push(r.router_id);
      }
      return changed;
    });
  }

  /**
   * A router that turns standby on `host` while its ports are bound there goes to the agent that
   * holds it active, if a live one does. Agents report a new master at once (Neutron's agent
   * waits ha_vrrp_advert_int first, in case keepalived takes it back: enqueue_state_change), so a
   * short-lived MASTER — keepalived makes every backup master when the master leaves with a
   * priority-0 advertisement, until they settle — must not leave the ports on the host that lost.
   */
  private async handBack(w: Work, routerId: string, host: string): Promise<void> {
    const bindings = await this.haBindings(w, routerId);
    const holder = bindings.find((b) => b.state === 'active' && b.eligible && b.host !== host);
    if (!holder) return;
    const ports = await w.trx
      .selectFrom('router_ports')
      .innerJoin('ports', 'ports.id', 'router_ports.port_id')
      .select('ports.id')
      .where('router_ports.router_id', '=', routerId)
      .where('router_ports.port_type', '!=', HA_INTF)
      .where('ports.binding_host_id', '=', host)
      .executeTakeFirst();
    if (ports) await bindRouterPorts(w, routerId, holder.host);
  }

  /**
   * A router's HA bindings with their agents, after the dead-agent rule has been applied and
   * written (_get_bindings_and_update_router_state_for_dead_agents).
   */
  private async haBindings(w: Work, routerId: string, now = Date.now()): Promise<HaBinding[]> {
    const rows = await w.trx
      .selectFrom('ha_router_agent_port_bindings as b')
      .innerJoin('agents', 'agents.id', 'b.l3_agent_id')
      .innerJoin('ip_allocations as ip', 'ip.port_id', 'b.port_id')
      .selectAll('agents')
      .select(['b.port_id', 'b.state', 'ip.ip_address'])
      .where('b.router_id', '=', routerId)
      .execute();
    const bindings: HaBinding[] = rows.map((r) => ({
      portId: r.port_id,
      agentId: r.id,
      host: r.host,
      state: r.state as HaState,
      eligible: r.admin_state_up === 1 && this.render(r, now).alive,
      address: r.ip_address,
    }));
    for (const [portId, state] of statesForDeadAgents(bindings)) {
      await w.trx.updateTable('ha_router_agent_port_bindings').set({ state }).where('port_id', '=', portId).execute();
      const b = bindings.find((x) => x.portId === portId);
      if (b) b.state = state;
    }
    return bindings;
  }

  /** The candidate with the fewest bindings (ties: by host, so the choice is repeatable). */
  private async leastLoaded(q: Q, candidates: AgentsTable[], of: 'networks' | 'routers'): Promise<AgentsTable | undefined> {
    return (await this.byLoad(q, candidates, of))[0];
  }

  /** Candidates by the number of their bindings, fewest first (get_l3_agents_ordered_by_num_routers). */
  private async byLoad(q: Q, candidates: AgentsTable[], of: 'networks' | 'routers'): Promise<AgentsTable[]> {
    if (!candidates.length) return [];
    const ids = candidates.map((a) => a.id);
    const rows =
      of === 'networks'
        ? await q.selectFrom('network_dhcp_agent_bindings').select('dhcp_agent_id as agent').where('dhcp_agent_id', 'in', ids).execute()
        : await q.selectFrom('router_l3_agent_bindings').select('l3_agent_id as agent').where('l3_agent_id', 'in', ids).execute();
    const load = new Map<string, number>();
    for (const r of rows) load.set(r.agent, (load.get(r.agent) ?? 0) + 1);
    return [...candidates].sort((a, b) => (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0) || a.host.localeCompare(b.host));
  }

  // ------------------------------------------------------------ the agent API

  async list(ctx: RequestContext, query: Map<string, string[]>): Promise<AgentView[]> {
    // Neutron filters out what the caller may not see: everything, for a non-admin.
    if (!ctx.isAdmin) return [];
    const rows = await this.store.db.selectFrom('agents').selectAll().orderBy('created_at').orderBy('id').execute();
    let out = rows.map((r) => this.render(r));
    for (const [k, values] of query) {
      const f = Object.hasOwn(FILTERS, k) ? FILTERS[k] : undefined;
      if (f) out = out.filter((a) => values.some((v) => f(a, v)));
    }
    return out;
  }

  private async row(q: Q, ctx: RequestContext, id: string): Promise<AgentsTable> {
    const row = ctx.isAdmin ? await q.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
    if (!row) throw agentNotFound(id);
    return row;
  }

  async show(ctx: RequestContext, id: string): Promise<AgentView> {
    return this.render(await this.row(this.store.db, ctx, id));
  }

  /** PUT /v2.0/agents/{id}: admin_state_up and description only. */
  async update(ctx: RequestContext, id: string, body: unknown): Promise<AgentView> {
    const agent = isDict(body) ? body.agent : undefined;
    if (!isDict(agent)) throw badRequest('BadRequest', 'Bad agent request: Resource body required.');
    const set: Partial<AgentsTable> = {};
    for (const [k, v] of Object.entries(agent)) {
      if (k === 'admin_state_up') {
        const b = typeof v === 'boolean' ? v : typeof v === 'string' ? strictBoolFromString(v) : undefined;
        if (b === undefined) throw badRequest('InvalidInput', `Invalid input for admin_state_up. Reason: '${String(v)}' cannot be converted to boolean.`);
        set.admin_state_up = b ? 1 : 0;
      } else if (k === 'description') {
        if (v !== null && typeof v !== 'string')
          throw badRequest('InvalidInput', `Invalid input for description. Reason: '${String(v)}' is not a valid string.`);
        if (typeof v === 'string' && v.length > DESCRIPTION_MAX) {
          throw badRequest('InvalidInput', `Invalid input for description. Reason: '${v}' exceeds maximum length of ${DESCRIPTION_MAX}.`);
        }
        set.description = v;
      } else throw badRequest('HTTPBadRequest', `Attribute '${k}' not allowed in PUT`);
    }
    await this.uow.run(async (w) => {
      await this.row(w.trx, ctx, id);
      if (Object.keys(set).length) await w.trx.updateTable('agents').set(set).where('id', '=', id).execute();
    }, ctx);
    return this.show(ctx, id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    await this.uow.run(async (w) => {
      await this.row(w.trx, ctx, id);
      await w.trx.deleteFrom('network_dhcp_agent_bindings').where('dhcp_agent_id', '=', id).execute();
      await w.trx.deleteFrom('router_l3_agent_bindings').where('l3_agent_id', '=', id).execute();
      await w.trx.deleteFrom('agents').where('id', '=', id).execute();
    }, ctx);
  }

  /** GET /v2.0/networks/{id}/dhcp-agents. */
  async agentsHosting(ctx: RequestContext, networkId: string): Promise<AgentView[]> {
    adminOnly(ctx, 'get_dhcp-agents');
    const net = await this.store.db.selectFrom('networks').select('id').where('id', '=', networkId).executeTakeFirst();
    if (!net) throw notFound('NetworkNotFound', `Network ${networkId} could not be found.`);
    const rows = await this.store.db
      .selectFrom('agents')
      .innerJoin('network_dhcp_agent_bindings', 'network_dhcp_agent_bindings.dhcp_agent_id', 'agents.id')
      .selectAll('agents')
      .where('network_dhcp_agent_bindings.network_id', '=', networkId)
      .execute();
    return rows.map((r) => this.render(r));
  }

  /** GET /v2.0/agents/{id}/dhcp-networks: the ids of the networks (the edge renders them). */
  async networksOn(ctx: RequestContext, agentId: string): Promise<string[]> {
    adminOnly(ctx, 'get_dhcp-networks');
    await this.row(this.store.db, ctx, agentId);
    const rows = await this.store.db.selectFrom('network_dhcp_agent_bindings').select('network_id').where('dhcp_agent_id', '=', agentId).execute();
    return rows.map((r) => r.network_id);
  }

  /** POST /v2.0/agents/{id}/dhcp-networks {network_id}. */
  async addNetwork(ctx: RequestContext, agentId: string, body: unknown): Promise<void> {
    adminOnly(ctx, 'create_dhcp-network');
    const networkId = isDict(body) ? body.network_id : undefined;
    if (typeof networkId !== 'string' || !/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(networkId)) {
      throw badRequest('InvalidInput', `Invalid input for network_id. Reason: '${String(networkId)}' is not a valid UUID.`);
    }
    await this.uow.run(async (w) => {
      const net = await w.trx.selectFrom('networks').select(['id', 'project_id']).where('id', '=', networkId).executeTakeFirst();
      if (!net) throw notFound('NetworkNotFound', `Network ${networkId} could not be found.`);
      const agent = await this.row(w.trx, ctx, agentId);
      if (agent.agent_type !== DHCP_AGENT_TYPE || agent.admin_state_up !== 1) {
        throw new DomainError('not_found', 'InvalidDHCPAgent', `Agent ${agentId} is not a valid DHCP Agent or has been disabled.`);
      }
      const bound = await w.trx
        .selectFrom('network_dhcp_agent_bindings')
        .select('network_id')
        .where('network_id', '=', networkId)
        .where('dhcp_agent_id', '=', agentId)
        .executeTakeFirst();
      if (bound) throw conflict('NetworkHostedByDHCPAgent', `The network ${networkId} has been already hosted by the DHCP Agent ${agentId}.`);
      await w.trx.insertInto('network_dhcp_agent_bindings').values({ network_id: networkId, dhcp_agent_id: agentId }).execute();
      w.changed('network', networkId, net.project_id, 'update');
    }, ctx);
  }

  /** DELETE /v2.0/agents/{id}/dhcp-networks/{network}: the DHCP port is kept, reserved for a later add. */
  async removeNetwork(ctx: RequestContext, agentId: string, networkId: string): Promise<void> {
    adminOnly(ctx, 'delete_dhcp-network');
    await this.uow.run(async (w) => {
      const agent = await this.row(w.trx, ctx, agentId);
      if (!(await unbindNetwork(w, agent, networkId))) {
        throw conflict('NetworkNotHostedByDhcpAgent', `The network ${networkId} is not hosted by the DHCP agent ${agentId}.`);
      }
    }, ctx);
  }

  /**
   * remove_networks_from_down_agents (allow_automatic_dhcp_failover, on by default): networks
   * held by DHCP agents not heard from for twice agent_down_time move to live ones — unless the
   * agent is still starting up (started within that limit plus 2 s per network it holds), and
   * not at all while no DHCP agent is eligible. Returns the networks moved off their agents.
   */
  async rescheduleFromDeadDhcpAgents(now = Date.now()): Promise<string[]> {
    const cutoff = deadSince(now, this.downTimeS);
    const db = this.store.db;
    const agents = await db.selectFrom('agents').selectAll().where('agent_type', '=', DHCP_AGENT_TYPE).execute();
    const bindings = await db.selectFrom('network_dhcp_agent_bindings').selectAll().execute();
    const held = new Map<string, number>();
    for (const b of bindings) held.set(b.dhcp_agent_id, (held.get(b.dhcp_agent_id) ?? 0) + 1);
    const startingUp = (a: AgentsTable) => Date.parse(a.started_at) + 2000 * (held.get(a.id) ?? 0) > cutoff;
    const eligible = agents.filter((a) => this.render(a, now).alive || startingUp(a));
    if (!eligible.length) return [];
    const dead = new Map(agents.filter((a) => Date.parse(a.heartbeat_timestamp) < cutoff && !startingUp(a)).map((a) => [a.id, a]));
    const moved: string[] = [];
    for (const b of bindings) {
      const agent = dead.get(b.dhcp_agent_id);
      if (!agent) continue;
      // Each network in its own unit of work, as Neutron removes them one by one.
      if (await this.uow.run((w) => unbindNetwork(w, agent, b.network_id))) moved.push(b.network_id);
      await this.schedule(b.network_id);
    }
    return moved;
  }

  /**
   * reschedule_routers_from_down_agents (allow_automatic_l3agent_failover, off by default as in
   * Neutron; the server runs it only when asked): a legacy router bound to an L3 agent that is up
   * and has not been heard from for twice agent_down_time (RouterL3AgentBinding
   * .get_down_router_bindings: HA routers are keepalived's business, not this check's) leaves
   * every agent hosting it and is scheduled again (reschedule_router), its ports bound to the new
   * host. An agent found alive again on a second look keeps its routers; a router with no live
   * agent to go to stays where it is (RouterReschedulingFailed rolls the unbinding back).
   * Returns the routers moved.
   */
  async rescheduleFromDeadL3Agents(now = Date.now()): Promise<string[]> {
    const cutoff = new Date(deadSince(now, this.downTimeS)).toISOString();
    const down = await this.store.db
      .selectFrom('router_l3_agent_bindings as b')
      .innerJoin('agents', 'agents.id', 'b.l3_agent_id')
      .innerJoin('routers', 'routers.id', 'b.router_id')
      .select(['b.router_id', 'b.l3_agent_id'])
      .where('agents.heartbeat_timestamp', '<', cutoff)
      .where('agents.admin_state_up', '=', 1)
      .where('routers.ha', '=', 0)
      .execute();
    const backOnline = new Set<string>();
    const moved: string[] = [];
    for (const b of down) {
      if (backOnline.has(b.l3_agent_id)) continue;
      // A fresh read: the agent may have reported since the bindings were listed.
      const agent = await this.store.db.selectFrom('agents').selectAll().where('id', '=', b.l3_agent_id).executeTakeFirst();
      if (!agent) continue;
      if (this.render(agent, now).alive) {
        backOnline.add(agent.id);
        continue;
      }
      // Each router in its own unit of work, as Neutron reschedules them one by one.
      const ok = await this.uow
        .run(async (w) => {
          const router = await w.trx.selectFrom('routers').select(['id', 'project_id']).where('id', '=', b.router_id).executeTakeFirst();
          if (!router) return false;
          await w.trx.deleteFrom('router_l3_agent_bindings').where('router_id', '=', router.id).execute();
          const target = await this.leastLoaded(w.trx, await this.activeAgents(w.trx, L3_AGENT_TYPE, now), 'routers');
          if (!target) throw new RouterReschedulingFailed(router.id);
          await w.trx.insertInto('router_l3_agent_bindings').values({ router_id: router.id, l3_agent_id: target.id, binding_index: 1 }).execute();
          w.changed('router', router.id, router.project_id, 'status');
          await bindRouterPorts(w, router.id);
          return true;
        })
        .catch((e: unknown) => {
          if (e instanceof RouterReschedulingFailed) return false;
          throw e;
        });
      if (ok) moved.push(b.router_id);
    }
    return moved;
  }

  /** GET /v2.0/availability_zones: any caller may list them (get_availability_zone: regular user). */
  async availabilityZones(query: Map<string, string[]>): Promise<AvailabilityZoneView[]> {
    return listAvailabilityZones(this.store.db, query);
  }

  // ------------------------------------------------------------ l3_agent_scheduler

  /**
   * GET /v2.0/routers/{id}/l3-agents (the router must exist: RouterNotFound). With l3-ha every
   * agent carries `ha_state` (L3_HA_scheduler_db_mixin.list_l3_agents_hosting_router): null for
   * a legacy router; for an HA router the state its agent reported, after the dead-agent rule
   * (an active agent that died shows standby, or unknown when every agent is dead; written back).
   */
  async agentsHostingRouter(ctx: RequestContext, routerId: string): Promise<Array<AgentView & { ha_state: HaState | null }>> {
    adminOnly(ctx, 'get_l3-agents');
    const router = await routerRow(this.store.db, routerId);
    if (router.ha === 1) {
      return this.uow.run(async (w) => {
        await this.haBindings(w, routerId);
        const rows = await w.trx
          .selectFrom('ha_router_agent_port_bindings as b')
          .innerJoin('agents', 'agents.id', 'b.l3_agent_id')
          .selectAll('agents')
          .select('b.state')
          .where('b.router_id', '=', routerId)
          .orderBy('agents.host')
          .execute();
        return rows.map((r) => ({ ...this.render(r), ha_state: r.state as HaState }));
      }, ctx);
    }
    const rows = await this.store.db
      .selectFrom('agents')
      .innerJoin('router_l3_agent_bindings', 'router_l3_agent_bindings.l3_agent_id', 'agents.id')
      .selectAll('agents')
      .where('router_l3_agent_bindings.router_id', '=', routerId)
      .orderBy('router_l3_agent_bindings.binding_index')
      .execute();
    return rows.map((r) => ({ ...this.render(r), ha_state: null }));
  }

  /** GET /v2.0/agents/{id}/l3-routers: the ids of the routers (the edge renders them). */
  async routersOn(ctx: RequestContext, agentId: string): Promise<string[]> {
    adminOnly(ctx, 'get_l3-routers');
    await this.row(this.store.db, ctx, agentId);
    const rows = await this.store.db.selectFrom('router_l3_agent_bindings').select('router_id').where('l3_agent_id', '=', agentId).execute();
    return rows.map((r) => r.router_id);
  }

  /**
   * POST /v2.0/agents/{id}/l3-routers {router_id} (add_router_to_l3_agent): the router first,
   * then the agent; an agent that is not an L3 agent or is disabled is InvalidL3Agent (a 404, as
   * AgentNotFound's subclass); a router already on this agent is left as it is, one on another
   * agent is RouterHostedByL3Agent. Liveness does not matter to a manual schedule.
   */
  async addRouter(ctx: RequestContext, agentId: string, body: unknown): Promise<void> {
    adminOnly(ctx, 'create_l3-router');
    // Neutron reads body['router_id'] unchecked (a KeyError, its 500); this answers a 400 instead.
    const routerId = isDict(body) ? body.router_id : undefined;
    if (routerId === undefined) throw badRequest('HTTPBadRequest', "Failed to parse request. Required attribute 'router_id' not specified");
    await this.uow.run(async (w) => {
      const router = await routerRow(w.trx, String(routerId));
      const agent = await this.row(w.trx, ctx, agentId);
      if (agent.agent_type !== L3_AGENT_TYPE || agent.admin_state_up !== 1) {
        throw new DomainError('not_found', 'InvalidL3Agent', `Agent ${agentId} is not a L3 Agent or has been disabled`);
      }
      const bindings = await w.trx.selectFrom('router_l3_agent_bindings').select('l3_agent_id').where('router_id', '=', router.id).execute();
      if (bindings.some((b) => b.l3_agent_id === agentId)) return;
      if (router.ha === 1) {
        // An HA router takes one more agent by hand, beyond max_l3_agents_per_router if need be
        // (create_ha_port_and_bind with is_manual_scheduling).
        const networkId = await haNetworkOf(w.trx, router.project_id);
        if (!networkId) return;
        await ensureVrid(w, router.id, networkId);
        await this.bindHa(w, router, networkId, agentId);
        w.changed('router', router.id, router.project_id, 'status');
        await bindRouterPorts(w, router.id);
        return;
      }
      if (bindings.length) {
        throw conflict('RouterHostedByL3Agent', `The router ${router.id} has been already hosted by the L3 Agent ${bindings[0].l3_agent_id}.`);
      }
      await w.trx.insertInto('router_l3_agent_bindings').values({ router_id: router.id, l3_agent_id: agentId, binding_index: 1 }).execute();
      w.changed('router', router.id, router.project_id, 'status');
      await bindRouterPorts(w, router.id);
    }, ctx);
  }

  /**
   * DELETE /v2.0/agents/{id}/l3-routers/{router} (remove_router_from_l3_agent): the agent must
   * exist, then the binding goes if there is one (no error if not), then the router must exist.
   * The router stays unhosted until an update schedules it again.
   */
  async removeRouter(ctx: RequestContext, agentId: string, routerId: string): Promise<void> {
    adminOnly(ctx, 'delete_l3-router');
    await this.uow.run(async (w) => {
      await this.row(w.trx, ctx, agentId);
      await w.trx.deleteFrom('router_l3_agent_bindings').where('router_id', '=', routerId).where('l3_agent_id', '=', agentId).execute();
      const router = await routerRow(w.trx, routerId);
      // An HA router's port on that agent goes with it (delete_ha_interfaces_on_host).
      if (router.ha === 1) await deleteHaPorts(w, router.id, agentId);
      w.changed('router', router.id, router.project_id, 'status');
    }, ctx);
  }
}

/**
 * The L3 agent hosting a router binds the router's ports (gateway, interfaces) to its host as it
 * syncs the router (l3_rpc.L3RpcCallback._ensure_host_set_on_ports); bound, they plug in like any
 * port and the L2 agent reports them up. Ports already bound to that host are left alone.
 */
async function bindRouterPorts(w: Work, routerId: string, activeHost?: string, known?: { host: string; legacy: boolean }): Promise<void> {
  // The host of the router's first agent that is up; the caller may know it (and that the router
  // is a legacy one, which has no HA ports: a router leaving HA loses them, _unbind_ha_router).
  const first = known?.host ?? (await routerSchedule.execute(w.trx, { id: routerId }))[0]?.host;
  if (first === undefined || first === null) return;
  // An HA router: each agent's HA port on its own host, the other ports on the active agent's
  // (get_active_host_for_ha_router), or the first agent's until one is active — the host whose
  // agent syncs first, corrected when the states come in.
  const ha = known?.legacy
    ? []
    : await w.trx
        .selectFrom('ha_router_agent_port_bindings as b')
        .innerJoin('agents', 'agents.id', 'b.l3_agent_id')
        .select(['b.port_id', 'b.state', 'agents.host'])
        .where('b.router_id', '=', routerId)
        .execute();
  // The host that just reported the router active wins over one whose agent has not yet been
  // found dead (its binding still says active until agent_down_time).
  const host = activeHost ?? ha.find((b) => b.state === 'active')?.host ?? first;
  for (const b of ha) await bindPorts(w, [b.port_id], b.host, false);
  // An HA router's ports move only with its active host (ha_router_port: bound once, then by
  // the states reported); a legacy router's failed bindings are retried.
  await bindPortRows(w, await routerPortsToBind(ha.length === 0).execute(w.trx, { router: routerId, host }), host);
}

/**
 * A router's ports (not its HA ports) that its agent on `host` would bind: those not bound there,
 * and with `retryFailed` those whose binding there failed. One statement, compiled once per case.
 */
const routerPortsQuery = (retryFailed: boolean) =>
  prepared(['router', 'host'], (q, a) =>
    q
      .selectFrom('router_ports')
      .innerJoin('ports', 'ports.id', 'router_ports.port_id')
      .select(['ports.id', 'ports.project_id', 'ports.network_id', 'ports.binding_vnic_type'])
      .where('router_ports.router_id', '=', a.router)
      .where('router_ports.port_type', '!=', HA_INTF)
      .where((eb) =>
        retryFailed
          ? eb.or([eb('ports.binding_host_id', '!=', a.host), eb('ports.binding_vif_type', '=', VIF_TYPE_BINDING_FAILED)])
          : eb('ports.binding_host_id', '!=', a.host),
      ),
  );
const legacyRouterPorts = routerPortsQuery(true);
const haRouterPorts = routerPortsQuery(false);
const routerPortsToBind = (retryFailed: boolean) => (retryFailed ? legacyRouterPorts : haRouterPorts);

/**
 * Ports bound to `host` (binding:host_id and its VIF); those bound there already are left alone,
 * unless `retryFailed` and their binding failed (_ensure_host_set_on_port updates a legacy
 * router's port that is not bound: vif_type binding_failed or unbound).
 */
async function bindPorts(w: Work, portIds: string[], host: string, retryFailed: boolean): Promise<void> {
  if (!portIds.length) return;
  const ports = await w.trx
    .selectFrom('ports')
    .select(['id', 'project_id', 'network_id', 'binding_vnic_type'])
    .where('id', 'in', portIds)
    .where((eb) =>
      retryFailed ? eb.or([eb('binding_host_id', '!=', host), eb('binding_vif_type', '=', VIF_TYPE_BINDING_FAILED)]) : eb('binding_host_id', '!=', host),
    )
    .execute();
  await bindPortRows(w, ports, host);
}

/** Bind each of `ports` to `host`: to the segment of its network the host's agent reaches (binding.ts). */
async function bindPortRows(
  w: Work,
  ports: ReadonlyArray<{ id: string; project_id: string; network_id: string; binding_vnic_type: string }>,
  host: string,
): Promise<void> {
  for (const p of ports) {
    const b = await bindPort(w.trx, p.network_id, host, await portSubnetIds(w.trx, p.id), p.binding_vnic_type);
    await w.trx
      .updateTable('ports')
      .set({
        ...bindingColumns(host, b),
        ...(b.vif_type === VIF_TYPE_BINDING_FAILED ? { status: 'DOWN' } : {}),
        revision_number: sql`revision_number + 1`,
        updated_at: isoSeconds(),
      })
      .where('id', '=', p.id)
      .execute();
    w.changed('port', p.id, p.project_id, 'update');
  }
}

/** l3agentscheduler.RouterReschedulingFailed: no live L3 agent to take a router; its binding stays. */
class RouterReschedulingFailed extends Error {
  constructor(readonly routerId: string) {
    super(`Failed rescheduling router ${routerId}: no eligible l3 agent found.`);
  }
}

async function routerRow(q: Q, routerId: string): Promise<{ id: string; project_id: string; ha: number }> {
  const router = await q.selectFrom('routers').select(['id', 'project_id', 'ha']).where('id', '=', routerId).executeTakeFirst();
  if (!router) throw notFound('RouterNotFound', `Router ${routerId} could not be found`);
  return router;
}

/**
 * remove_network_from_dhcp_agent: the binding goes and the agent's DHCP port on the network is
 * kept, reserved (device_id `reserved_dhcp_port`) for the next agent. False if it was not bound.
 */
async function unbindNetwork(w: Work, agent: AgentsTable, networkId: string): Promise<boolean> {
  const r = await w.trx.deleteFrom('network_dhcp_agent_bindings').where('network_id', '=', networkId).where('dhcp_agent_id', '=', agent.id).executeTakeFirst();
  if (Number(r.numDeletedRows) === 0) return false;
  const ports = await w.trx
    .updateTable('ports')
    .set({ device_id: RESERVED_DHCP_PORT })
    .where('device_id', '=', dhcpDeviceId(networkId, agent.host))
    .returning(['id', 'project_id'])
    .execute();
  for (const p of ports) w.changed('port', p.id, p.project_id, 'update');
  const net = await w.trx.selectFrom('networks').select('project_id').where('id', '=', networkId).executeTakeFirst();
  w.changed('network', networkId, net?.project_id ?? null, 'update');
  return true;
}
