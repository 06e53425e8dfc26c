/**
 * Neutron's agents, as far as this host has them: one DHCP agent (the data plane's DHCP server
 * part: dnsmasq on the netns data plane, nothing on noop), registered at start and kept alive by
 * its heartbeats, and the networks scheduled to it (the `agent` and `dhcp_agent_scheduler`
 * extensions, neutron/db/agents_db.py and agentschedulers_db.py, Zed). A network is scheduled to
 * the agent when a subnet with DHCP or a port is created on it (DhcpAgentNotifyAPI), or by an
 * admin; removing it from the agent reserves its DHCP port (device_id `reserved_dhcp_port`) for a
 * later add, as Neutron does. Everything here is admin-only (Neutron's default policy).
 */
import { createHash, randomUUID } from 'node:crypto';
import { fromJson } from '../../store/db.js';
import type { Q, Store } from '../../store/db.js';
import type { AgentsTable } from '../../store/schema.js';
import { boolFromString, strictBoolFromString } from '../../util/bool.js';
import { isDict } from '../../util/json.js';
import type { RequestContext } from '../context.js';
import { DomainError, badRequest, conflict, notFound } from '../errors.js';
import type { Change, ChangeBus, UnitOfWork } from '../work.js';

export const DHCP_AGENT_TYPE = 'DHCP agent';
/** neutron_lib's DEVICE_ID_RESERVED_DHCP_PORT. */
export const RESERVED_DHCP_PORT = 'reserved_dhcp_port';
/** agent_down_time default (seconds): an agent not heard from for longer is not alive. */
export const AGENT_DOWN_TIME_S = 75;
/** How often this server reports its agent alive (Neutron's report_interval, 30 s). */
export const REPORT_INTERVAL_MS = 30_000;
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
  configurations: Record<string, unknown>;
}

export function renderAgent(a: AgentsTable, now = Date.now()): AgentView {
  return {
    binary: a.binary,
    description: a.description,
    heartbeat_timestamp: agentTime(a.heartbeat_timestamp),
    admin_state_up: a.admin_state_up === 1,
    alive: now - Date.parse(a.heartbeat_timestamp) <= AGENT_DOWN_TIME_S * 1000,
    id: a.id,
    topic: a.topic,
    host: a.host,
    agent_type: a.agent_type,
    started_at: agentTime(a.started_at),
    created_at: agentTime(a.created_at),
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
};

export class Agents {
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly uow: UnitOfWork) {}

  private get store(): Store {
    return this.uow.store;
  }

  // ------------------------------------------------------------ this host's agent

  /**
   * Register (or restart) this host's DHCP agent: its configurations say what serves DHCP here
   * (Neutron's reports networks, subnets and ports counts; this one names its driver).
   */
  async registerDhcpAgent(host: string, configurations: Record<string, unknown>): Promise<string> {
    const now = new Date().toISOString();
    return this.uow.run(async (w) => {
      const existing = await w.trx.selectFrom('agents').select('id').where('agent_type', '=', DHCP_AGENT_TYPE).where('host', '=', host).executeTakeFirst();
      if (existing) {
        await w.trx
          .updateTable('agents')
          .set({ started_at: now, heartbeat_timestamp: now, configurations: JSON.stringify(configurations) })
          .where('id', '=', existing.id)
          .execute();
        return existing.id;
      }
      const id = randomUUID();
      await w.trx
        .insertInto('agents')
        .values({
          id,
          agent_type: DHCP_AGENT_TYPE,
          binary: 'neutron-dhcp-agent',
          topic: 'dhcp_agent',
          host,
          admin_state_up: 1,
          description: null,
          configurations: JSON.stringify(configurations),
          created_at: now,
          started_at: now,
          heartbeat_timestamp: now,
        })
        .execute();
      return id;
    });
  }

  /** The agent reports in (re-registering it if an admin deleted it meanwhile). */
  async heartbeat(host: string, configurations: Record<string, unknown>): Promise<void> {
    const now = new Date().toISOString();
    const updated = await this.uow.run(async (w) => {
      const r = await w.trx
        .updateTable('agents')
        .set({ heartbeat_timestamp: now, configurations: JSON.stringify(configurations) })
        .where('agent_type', '=', DHCP_AGENT_TYPE)
        .where('host', '=', host)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    });
    if (!updated) await this.registerDhcpAgent(host, configurations);
  }

  /** Networks this host's DHCP agent serves (scheduled to it, and the agent administratively up). */
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

  // ------------------------------------------------------------ scheduling

  /** Schedule networks when subnets or ports appear on them (Neutron's subnet/port create_end). */
  attach(changes: ChangeBus): void {
    this.unsubscribe = changes.subscribe({ kinds: ['subnet', 'port'] }, (c: Change) => {
      if (c.op !== 'create' && !(c.kind === 'subnet' && c.op === 'update')) return;
      void this.scheduleFor(c).catch(() => undefined);
    });
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private async scheduleFor(c: Change): Promise<void> {
    const db = this.store.db;
    const row =
      c.kind === 'subnet'
        ? await db.selectFrom('subnets').select('network_id').where('id', '=', c.id).executeTakeFirst()
        : await db.selectFrom('ports').select(['network_id', 'device_id']).where('id', '=', c.id).executeTakeFirst();
    if (!row || ('device_id' in row && row.device_id === RESERVED_DHCP_PORT)) return;
    await this.schedule(row.network_id);
  }

  /**
   * Bind a network with a DHCP subnet to the live DHCP agents that are up, when none hosts it
   * yet (Neutron's ChanceScheduler with dhcp_agents_per_network = 1: there is one here).
   */
  async schedule(networkId: string): Promise<void> {
    // Every port create asks; nearly always the network is hosted already, which one read tells
    // without a transaction (the transaction below checks again before binding).
    const hosted = await this.store.db.selectFrom('network_dhcp_agent_bindings').select('dhcp_agent_id').where('network_id', '=', networkId).executeTakeFirst();
    if (hosted) return;
    await this.uow.run(async (w) => {
      const dhcp = await w.trx.selectFrom('subnets').select('id').where('network_id', '=', networkId).where('enable_dhcp', '=', 1).executeTakeFirst();
      if (!dhcp) return;
      const bound = await w.trx.selectFrom('network_dhcp_agent_bindings').select('dhcp_agent_id').where('network_id', '=', networkId).executeTakeFirst();
      if (bound) return;
      const agents = (await w.trx.selectFrom('agents').selectAll().where('agent_type', '=', DHCP_AGENT_TYPE).where('admin_state_up', '=', 1).execute()).filter(
        (a) => renderAgent(a).alive,
      );
      const agent = agents.sort((a, b) => a.host.localeCompare(b.host))[0];
      if (!agent) return;
      await w.trx.insertInto('network_dhcp_agent_bindings').values({ network_id: networkId, dhcp_agent_id: agent.id }).execute();
      const net = await w.trx.selectFrom('networks').select('project_id').where('id', '=', networkId).executeTakeFirst();
      w.changed('network', networkId, net?.project_id ?? null, 'update');
    });
  }

  // ------------------------------------------------------------ the agent API

  async list(ctx: RequestContext, query: Map<string, string[]>): Promise<AgentView[]> {
    // Neutron filters out what the caller may not see: everything, for a non-admin.
    if (!ctx.isAdmin) return [];
    const rows = await this.store.db.selectFrom('agents').selectAll().orderBy('created_at').orderBy('id').execute();
    let out = rows.map((r) => renderAgent(r));
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
    return renderAgent(await this.row(this.store.db, ctx, id));
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
    return rows.map((r) => renderAgent(r));
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
      const r = await w.trx
        .deleteFrom('network_dhcp_agent_bindings')
        .where('network_id', '=', networkId)
        .where('dhcp_agent_id', '=', agentId)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) {
        throw conflict('NetworkNotHostedByDhcpAgent', `The network ${networkId} is not hosted by the DHCP agent ${agentId}.`);
      }
      const ports = await w.trx
        .updateTable('ports')
        .set({ device_id: RESERVED_DHCP_PORT })
        .where('device_id', '=', dhcpDeviceId(networkId, agent.host))
        .returning(['id', 'project_id'])
        .execute();
      for (const p of ports) w.changed('port', p.id, p.project_id, 'update');
      const net = await w.trx.selectFrom('networks').select('project_id').where('id', '=', networkId).executeTakeFirst();
      w.changed('network', networkId, net?.project_id ?? null, 'update');
    }, ctx);
  }
}
