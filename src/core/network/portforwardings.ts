/**
 * Floating IP port forwardings (Neutron's `port_forwarding` service plugin:
 * `floating-ip-port-forwarding` with its `-description`, `-port-ranges` and `-detail` variants,
 * and `expose-port-forwarding-in-fip`): a floating IP's port, or range of ports, forwarded to an
 * address and port (or range) of an internal port, through the router that connects that port's
 * subnet to the floating IP's network. A floating IP with forwardings is not associated with a
 * port (it takes the router, not a fixed IP); the data plane DNATs each forwarded port.
 *
 * The checks and their messages are PortForwardingPlugin's, in its order; every change revises
 * the floating IP (a forwarding revises_on_change its floating IP).
 */
import type { Q } from '../../store/db.js';
import { isUniqueViolation } from '../../store/db.js';
import type { FloatingIpsTable, PortForwardingsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { parseIp } from '../../util/ip.js';
import { pyRepr, pyStrOf } from '../../util/pyrepr.js';
import { isoMicros } from '../../util/time.js';
import { type RequestContext, systemContext } from '../context.js';
import { DomainError, conflict, neutronBadRequest, notFound } from '../errors.js';
import type { UnitOfWork, Work } from '../work.js';
import { type Converter, NOT_SPECIFIED, type Validator, ipAddress, string, uuid } from './attributes.js';
import { type ResourceDef, listRows, parseListOptions, prepareCreate, prepareUpdate, unwrapBody } from './resource.js';
import { fipChanged } from './fipforwardings.js';
import { routerForFloatingIp } from './routers.js';

/** neutron-lib's IPTABLES_PROTOCOL_MAP names a forwarding may use. */
const PROTOCOLS = ['dccp', 'icmp', 'ipv6-icmp', 'sctp', 'tcp', 'udp'];

const pfBadRequest = (msg: string) => neutronBadRequest('port_forwarding', msg);
const pfNotFound = (id: string) => notFound('PortForwardingNotFound', `Port Forwarding ${id} could not be found.`);

/** validate_range_or_none as Python's int() reads it: numbers and digit strings. */
const portOrNone: Validator = (v) => {
  if (v === null) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v) ? Number.parseInt(v, 10) : Number.NaN;
  if (!Number.isInteger(n)) return `'${pyStrOf(v)}' is not an integer`;
  if (n < 1) return `'${n}' is too small - must be at least '1'`;
  if (n > 65535) return `'${n}' is too large - must be no larger than '65535'`;
  return undefined;
};
const toPortOrNone: Converter = (v) => (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v) ? Number.parseInt(v, 10) : v);

/** neutron-lib's validate_port_range_or_none with [1, 65535]. */
const portRangeOrNone: Validator = (v) => {
  if (v === null) return undefined;
  const parts = pyStrOf(v).split(':');
  if (parts.length > 2) return 'Port range must be two integers separated by a colon';
  for (const p of parts) {
    if (p.length === 0) return 'Port range must be two integers separated by a colon';
    if (!/^\d+$/.test(p) || Number(p) > 65535) return `Invalid port: ${p}`;
    if (Number(p) < 1) return `Invalid port: ${p}, the port must be in the range [1, 65535]`;
  }
  if (parts.length > 1 && Number(parts[0]) > Number(parts[1])) return 'First port in a port range must be lower than the second port';
  return undefined;
};

const protocolValues: Validator = (v) => (typeof v === 'string' && PROTOCOLS.includes(v) ? undefined : `${pyStrOf(v)} is not in valid_values`);

/** A range as (start, end): `"6000:6010"`, `"22"` or a single port. */
function rangeOf(v: unknown): [number, number] | null {
  if (v === null || v === undefined) return null;
  const parts = String(v).split(':').map(Number);
  return [parts[0], parts[parts.length - 1]];
}

/** neutron-lib's port_forwardings (with the description and port-ranges extensions), in render order. */
export const portForwardingDef: ResourceDef<'port_forwardings'> = {
  name: 'port_forwarding',
  collection: 'port_forwardings',
  table: 'port_forwardings',
  label: 'Port Forwarding',
  notFound: pfNotFound,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    external_port: { post: true, put: true, default: null, filter: true, sort: true, convert: toPortOrNone, validate: portOrNone },
    external_port_range: { post: true, put: true, default: null, filter: true, sort: true, validate: portRangeOrNone },
    protocol: { post: true, put: true, filter: true, sort: true, column: 'protocol', validate: protocolValues },
    internal_port_id: { post: true, put: true, filter: true, sort: true, column: 'internal_port_id', validate: uuid },
    internal_ip_address: { post: true, put: true, column: 'internal_ip_address', validate: ipAddress },
    internal_port: { post: true, put: true, default: null, convert: toPortOrNone, validate: portOrNone },
    internal_port_range: { post: true, put: true, default: null, validate: portRangeOrNone },
    description: { post: true, put: true, default: '', filter: true, column: 'description', validate: string(1024) },
    project_id: { post: true, default: NOT_SPECIFIED, visible: false, validate: string(255) },
  },
  specialFilters: {
    external_port: (eb, values) =>
      eb.or(values.map((v) => eb.and([eb('port_forwardings.external_port_start', '=', Number(v)), eb('port_forwardings.external_port_end', '=', Number(v))]))),
    external_port_range: (eb, values) =>
      eb.or(
        values.map((v) => {
          const [start, end] = rangeOf(v) ?? [0, 0];
          return eb.and([eb('port_forwardings.external_port_start', '=', start), eb('port_forwardings.external_port_end', '=', end)]);
        }),
      ),
  },
};

/**
 * A forwarding as Neutron shows one read from its table: the single-port keys only when the
 * range is one port (PortForwarding.modify_fields_from_db).
 */
function view(row: PortForwardingsTable): Record<string, unknown> {
  const out: Record<string, unknown> = { id: row.id };
  if (row.external_port_start === row.external_port_end) out.external_port = row.external_port_start;
  out.external_port_range = `${row.external_port_start}:${row.external_port_end}`;
  out.protocol = row.protocol;
  out.internal_port_id = row.internal_port_id;
  out.internal_ip_address = row.internal_ip_address;
  if (row.internal_port_start === row.internal_port_end) out.internal_port = row.internal_port_start;
  out.internal_port_range = `${row.internal_port_start}:${row.internal_port_end}`;
  out.description = row.description;
  return out;
}

/** Keys of `fields` only, when asked (engine order kept). */
function pick(out: Record<string, unknown>, fields?: string[]): Record<string, unknown> {
  if (!fields) return out;
  return Object.fromEntries(Object.entries(out).filter(([k]) => fields.includes(k)));
}

/** What a request leaves a forwarding's ports as. */
interface Ports {
  external: [number, number] | null;
  internal: [number, number] | null;
}

function portsOf(v: Record<string, unknown>): Ports {
  return {
    external: rangeOf(v.external_port_range ?? v.external_port),
    internal: rangeOf(v.internal_port_range ?? v.internal_port),
  };
}

const rangeText = (r: [number, number]) => `${r[0]}:${r[1]}`;
const collides = (a: [number, number], b: [number, number]) => Math.max(a[0], b[0]) <= Math.min(a[1], b[1]);

/** _validate_ranges: internal ranges map N-N onto the external one (or one internal port 1-N). */
function validateRanges(ports: Ports): void {
  const span = (r: [number, number] | null) => (r ? r[1] - r[0] : 0);
  if (span(ports.internal) > 0 && span(ports.internal) !== span(ports.external)) {
    throw pfBadRequest('Invalid ranges of internal and/or external ports. The relation between internal and external ports must be N-N or 1-N');
  }
}

/** _check_port_collisions: no overlap with the ranges of the same socket or of the same floating IP. */
async function checkCollisions(
  q: Q,
  fipId: string,
  ports: Ports,
  target: { protocol: string; internalPortId: string; internalIp: string },
  selfId?: string,
): Promise<void> {
  validateRanges(ports);
  const check = (rows: PortForwardingsTable[], range: [number, number], key: 'internal_port_range' | 'external_port_range') => {
    for (const r of rows) {
      if (r.id === selfId) continue;
      const existing: [number, number] =
        key === 'internal_port_range' ? [r.internal_port_start, r.internal_port_end] : [r.external_port_start, r.external_port_end];
      if (collides(existing, range)) {
        throw pfBadRequest(`There is a port collision with the ${key}. The following ranges collides: ${rangeText(existing)} and ${rangeText(range)}`);
      }
    }
  };
  if (ports.internal) {
    const same = await q
      .selectFrom('port_forwardings')
      .selectAll()
      .where('internal_port_id', '=', target.internalPortId)
      .where('protocol', '=', target.protocol)
      .where('internal_ip_address', '=', target.internalIp)
      .execute();
    check(same, ports.internal, 'internal_port_range');
  }
  if (ports.external) {
    const same = await q.selectFrom('port_forwardings').selectAll().where('floatingip_id', '=', fipId).where('protocol', '=', target.protocol).execute();
    check(same, ports.external, 'external_port_range');
  }
}

/** _check_port_has_binding_floating_ip: a port with a floating IP of its own takes no forwarding. */
async function checkPortHasNoFloatingIp(q: Q, portId: string, fixedIp: unknown): Promise<void> {
  const fip = await q.selectFrom('floating_ips').select(['id', 'floating_ip_address']).where('fixed_port_id', '=', portId).executeTakeFirst();
  if (fip) {
    throw conflict(
      'PortHasBindingFloatingIP',
      `Cannot create port forwarding to floating IP ${fip.floating_ip_address} (${fip.id}) with port ${portId} using fixed IP ${pyStrOf(fixedIp)}, as that port already has a binding floating IP.`,
    );
  }
}

/**
 * _find_a_router_for_fip_port_forwarding: the internal address on the internal port (its first
 * IPv4 address when not given) and the router that reaches it from the floating IP's network.
 */
async function routerFor(q: Q, ctx: RequestContext, fip: FloatingIpsTable, values: Record<string, unknown>): Promise<string> {
  const portId = values.internal_port_id as string;
  const port = await q.selectFrom('ports').selectAll().where('id', '=', portId).executeTakeFirst();
  if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) throw notFound('PortNotFound', `Port ${portId} could not be found.`);
  const ips = await q.selectFrom('ip_allocations').select(['subnet_id', 'ip_address']).where('port_id', '=', portId).orderBy('position').execute();
  const v4 = ips.filter((ip) => parseIp(ip.ip_address)?.version === 4);
  if (!v4.length) throw pfBadRequest(`Requested internal port ${portId} must allocate an IPv4 address at least.`);
  let subnetId: string;
  if (!values.internal_ip_address) {
    values.internal_ip_address = v4[0].ip_address;
    subnetId = v4[0].subnet_id;
  } else {
    const want = parseIp(String(values.internal_ip_address));
    const match = v4.find((ip) => want !== null && parseIp(ip.ip_address)?.value === want.value);
    if (!match) {
      throw pfBadRequest(
        `Requested internal IP address ${pyStrOf(values.internal_ip_address)} is not suitable for internal neutron port ${portId}, as its fixed_ips are ${pyRepr(v4.map((ip) => ({ subnet_id: ip.subnet_id, ip_address: ip.ip_address })))}`,
      );
    }
    subnetId = match.subnet_id;
  }
  const subnet = await q.selectFrom('subnets').select(['id', 'gateway_ip']).where('id', '=', subnetId).executeTakeFirstOrThrow();
  try {
    return await routerForFloatingIp(q, port, subnet, fip.floating_network_id);
  } catch (e) {
    if (!(e instanceof DomainError) || e.type !== 'ExternalGatewayForFloatingIPNotFound') throw e;
    throw pfBadRequest(
      `External network ${fip.floating_network_id} is not reachable from subnet ${subnetId}. Cannot set Port forwarding for port ${portId} with Floating IP ${fip.id}`,
    );
  }
}

/** _check_router_match: a floating IP forwards through one router. */
async function checkRouterMatch(q: Q, fip: FloatingIpsTable, routerId: string, values: Record<string, unknown>): Promise<void> {
  if (!fip.router_id || fip.router_id === routerId) return;
  const internalPort = rangeOf(values.internal_port)?.[0] ?? null;
  const same = await q
    .selectFrom('port_forwardings')
    .select('id')
    .where('floatingip_id', '=', fip.id)
    .where('internal_ip_address', '=', String(values.internal_ip_address))
    .where('internal_port_start', '=', internalPort ?? -1)
    .executeTakeFirst();
  throw pfBadRequest(
    same
      ? `Floating IP ${fip.id} with params: internal_ip_address: ${pyStrOf(values.internal_ip_address)}, internal_port: ${pyStrOf(values.internal_port)} already exists`
      : `The Floating IP ${fip.id} had been set on router ${fip.router_id}, the internal Neutron port ${pyStrOf(values.internal_port_id)} can not reach it`,
  );
}

const fipNotFound = (id: string) => notFound('FloatingIPNotFound', `Floating IP ${id} could not be found`);

/** The floating IP as the caller may see it (FloatingIPNotFound otherwise), locked when in a unit of work. */
async function visibleFip(q: Q, ctx: RequestContext, id: string, w?: Work): Promise<FloatingIpsTable> {
  const qb = q.selectFrom('floating_ips').selectAll().where('id', '=', id);
  const fip = await (w ? w.forUpdate(qb) : qb).executeTakeFirst();
  if (!fip || (!ctx.isAdmin && fip.project_id !== ctx.projectId)) throw fipNotFound(id);
  return fip;
}

/** Floating IP port forwardings as PortForwardingPlugin serves them. */
export class PortForwardings {
  constructor(private readonly uow: UnitOfWork) {}

  private get db() {
    return this.uow.store.db;
  }

  async list(ctx: RequestContext, fipId: string, query: Map<string, string[]>): Promise<Record<string, unknown>[]> {
    const opts = parseListOptions(portForwardingDef, query);
    await visibleFip(this.db, ctx, fipId);
    const rows = await listRows(this.db, portForwardingDef, systemContext(ctx.requestId), opts, (eb) => eb('port_forwardings.floatingip_id', '=', fipId));
    return rows.map((r) => pick(view(r), opts.fields));
  }

  async show(ctx: RequestContext, fipId: string, id: string, fields?: string[]): Promise<Record<string, unknown>> {
    await visibleFip(this.db, ctx, fipId);
    const row = await this.db.selectFrom('port_forwardings').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.floatingip_id !== fipId) throw pfNotFound(id);
    return pick(view(row), fields);
  }

  async create(ctx: RequestContext, fipId: string, body: unknown): Promise<Record<string, unknown>> {
    const [item] = unwrapBody(portForwardingDef, body, false);
    const v = prepareCreate(portForwardingDef, ctx, item).values;
    const ports = portsOf(v);
    const protocol = v.protocol as string;
    await checkCollisions(this.db, fipId, ports, { protocol, internalPortId: v.internal_port_id as string, internalIp: String(v.internal_ip_address) });
    await checkPortHasNoFloatingIp(this.db, v.internal_port_id as string, v.internal_ip_address);
    if (!ports.external || !ports.internal) throw pfBadRequest('An external port (or range) and an internal port (or range) are required');
    const id = await this.uow.run(async (w) => {
      const fip = await visibleFip(w.trx, ctx, fipId, w);
      if (fip.fixed_port_id) {
        throw conflict(
          'FloatingIPPortAlreadyAssociated',
          `Cannot associate floating IP ${fip.floating_ip_address} (${fip.id}) with port ${pyStrOf(v.internal_port_id)} using fixed IP ${pyStrOf(v.internal_ip_address)}, as that fixed IP already has a floating IP on external network ${fip.floating_network_id}.`,
        );
      }
      const routerId = await routerFor(w.trx, ctx, fip, v);
      await checkRouterMatch(w.trx, fip, routerId, v);
      const row: PortForwardingsTable = {
        id: newUuid(),
        floatingip_id: fip.id,
        project_id: fip.project_id,
        protocol,
        internal_port_id: v.internal_port_id as string,
        internal_ip_address: String(v.internal_ip_address),
        internal_port_start: ports.internal![0],
        internal_port_end: ports.internal![1],
        external_port_start: ports.external![0],
        external_port_end: ports.external![1],
        description: v.description as string,
        created_at: isoMicros(),
      };
      try {
        await w.trx.insertInto('port_forwardings').values(row).execute();
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        throw pfBadRequest(
          `A duplicate port forwarding entry with same attributes already exists, conflicting values are ${pyRepr({ floatingip_id: fip.id, external_port: v.external_port, protocol })}`,
        );
      }
      await fipChanged(w, fip, routerId);
      w.changed('port_forwarding', row.id, fip.project_id, 'create');
      return row.id;
    }, ctx);
    // A new forwarding answers with the single-port keys as asked (null when a range was).
    const out = view(await this.rowOf(id));
    out.external_port = v.external_port ?? null;
    out.internal_port = v.internal_port ?? null;
    return reorder(out);
  }

  async update(ctx: RequestContext, fipId: string, id: string, body: unknown): Promise<Record<string, unknown>> {
    const [item] = unwrapBody(portForwardingDef, body, false);
    const v = prepareUpdate(portForwardingDef, ctx, item).values;
    if (v.internal_port_id) await checkPortHasNoFloatingIp(this.db, v.internal_port_id as string, v.internal_ip_address);
    await this.uow.run(async (w) => {
      const fip = await visibleFip(w.trx, ctx, fipId, w);
      const row = await w.trx.selectFrom('port_forwardings').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || row.floatingip_id !== fip.id) throw pfNotFound(id);
      if (v.internal_port_id && v.internal_port_id !== row.internal_port_id) {
        const routerId = await routerFor(w.trx, ctx, fip, v);
        await checkRouterMatch(w.trx, fip, routerId, v);
      }
      const next: PortForwardingsTable = { ...row };
      if (v.protocol !== undefined) next.protocol = v.protocol as string;
      if (v.internal_port_id !== undefined) next.internal_port_id = v.internal_port_id as string;
      if (v.internal_ip_address !== undefined) next.internal_ip_address = String(v.internal_ip_address);
      if (v.description !== undefined) next.description = v.description as string;
      const ports = portsOf(v);
      if (ports.external) [next.external_port_start, next.external_port_end] = ports.external;
      if (ports.internal) [next.internal_port_start, next.internal_port_end] = ports.internal;
      await checkUpdate(w.trx, next);
      if (['internal_port', 'internal_port_range', 'external_port', 'external_port_range'].some((k) => k in v)) {
        await checkCollisions(
          w.trx,
          fip.id,
          { external: ports.external, internal: ports.internal },
          { protocol: next.protocol, internalPortId: next.internal_port_id, internalIp: next.internal_ip_address },
          id,
        );
      }
      const { id: _id, ...changes } = next;
      await w.trx.updateTable('port_forwardings').set(changes).where('id', '=', id).execute();
      await fipChanged(w, fip);
      w.changed('port_forwarding', id, fip.project_id, 'update');
    }, ctx);
    const out = view(await this.rowOf(id));
    for (const k of ['external_port', 'internal_port'] as const) if (k in v && !(k in out)) out[k] = v[k];
    return reorder(out);
  }

  async delete(ctx: RequestContext, fipId: string, id: string): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await w.trx.selectFrom('port_forwardings').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || row.floatingip_id !== fipId) throw pfNotFound(id);
      const fip = await visibleFip(w.trx, ctx, fipId, w);
      await w.trx.deleteFrom('port_forwardings').where('id', '=', id).execute();
      const left = await w.trx.selectFrom('port_forwardings').select('id').where('floatingip_id', '=', fip.id).executeTakeFirst();
      await fipChanged(w, fip, left ? undefined : null);
      w.changed('port_forwarding', id, fip.project_id, 'delete');
    }, ctx);
  }

  private async rowOf(id: string): Promise<PortForwardingsTable> {
    return this.db.selectFrom('port_forwardings').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }
}

/** Keys in the forwarding's render order (the overlay of asked-for keys must not move them). */
function reorder(out: Record<string, unknown>): Record<string, unknown> {
  const order = [
    'id',
    'external_port',
    'external_port_range',
    'protocol',
    'internal_port_id',
    'internal_ip_address',
    'internal_port',
    'internal_port_range',
    'description',
  ];
  const sorted: Record<string, unknown> = {};
  for (const k of order) if (k in out) sorted[k] = out[k];
  return sorted;
}

/** _check_port_forwarding_update: the internal address is the port's, and no other forwarding has the same socket. */
async function checkUpdate(q: Q, pf: PortForwardingsTable): Promise<void> {
  const ips = await q.selectFrom('ip_allocations').select(['subnet_id', 'ip_address']).where('port_id', '=', pf.internal_port_id).orderBy('position').execute();
  if (!ips.some((ip) => ip.ip_address === pf.internal_ip_address)) {
    throw pfBadRequest(`The internal IP does not correspond to an address on the internal port, which has fixed_ips ${pyRepr(ips)}`);
  }
  const others = await q.selectFrom('port_forwardings').selectAll().where('floatingip_id', '=', pf.floatingip_id).where('protocol', '=', pf.protocol).execute();
  const fail = (values: Record<string, unknown>) =>
    pfBadRequest(`Another port forwarding entry with the same attributes already exists, conflicting values are ${pyRepr(values)}`);
  for (const o of others) {
    if (o.id === pf.id) continue;
    if (o.external_port_start === pf.external_port_start && o.external_port_end === pf.external_port_end) {
      throw fail({ floating_ip_address: '', external_port: pf.external_port_start });
    }
    if (o.internal_port_id === pf.internal_port_id && o.internal_ip_address === pf.internal_ip_address && o.internal_port_start === pf.internal_port_start) {
      throw fail({ internal_port_id: o.internal_port_id, internal_ip_address: o.internal_ip_address, internal_port: o.internal_port_start });
    }
  }
}
