/**
 * Nova's side of Neutron (nova/network/neutron.py): which networks a server may use, the ports it
 * gets, and how they read back as `addresses` and `security_groups`. Reads go to the store with
 * Neutron's visibility rules; every write goes through NetworkService so IPAM, quotas and policy
 * stay Neutron's.
 */
import { createHash } from 'node:crypto';
import type { Q, Store } from '../../store/db.js';
import { parseIp } from '../../util/ip.js';
import type { RequestContext } from '../context.js';
import { DomainError, isDomainError } from '../errors.js';
import type { NetworkOps } from '../network/service.js';
import { VIF_TYPE_BINDING_FAILED } from '../network/binding.js';
import type { Work } from '../work.js';
import { quotaLimits } from '../network/quotas.js';
import { novaBadRequest, novaConflict, novaForbidden } from './errors.js';

export interface NetworkRequest {
  networkId?: string;
  portId?: string;
  fixedIp?: string;
  tag?: string;
}

/** `networks` of a create request: a list, 'auto', 'none', or absent (before 2.37). */
export type RequestedNetworks = { kind: 'auto' } | { kind: 'none' } | { kind: 'unspecified' } | { kind: 'list'; items: NetworkRequest[] };

export const DEVICE_OWNER = 'compute:nova';

interface NetRow {
  id: string;
  name: string;
  project_id: string;
  shared: number;
  external: number;
  admin_state_up: number;
  port_security_enabled: number;
}

/** Networks as the caller sees them in Neutron (own, shared, external; admins see all). */
async function visibleNetworks(q: Q, ctx: RequestContext, ids: string[]): Promise<NetRow[]> {
  if (ids.length === 0) return [];
  let qb = q
    .selectFrom('networks')
    .select(['id', 'name', 'project_id', 'shared', 'external', 'admin_state_up', 'port_security_enabled'])
    .where('id', 'in', ids);
  if (!ctx.isAdmin) qb = qb.where((eb) => eb.or([eb('project_id', '=', ctx.projectId ?? ''), eb('shared', '=', 1), eb('external', '=', 1)]));
  return qb.execute();
}

/** Nova's _get_available_networks without ids: the project's own non-shared networks, then shared ones. */
async function availableNetworks(q: Q, projectId: string, onlyUp: boolean): Promise<NetRow[]> {
  const cols = ['id', 'name', 'project_id', 'shared', 'external', 'admin_state_up', 'port_security_enabled'] as const;
  let own = q.selectFrom('networks').select(cols).where('project_id', '=', projectId).where('shared', '=', 0);
  if (onlyUp) own = own.where('admin_state_up', '=', 1);
  const mine = await own.orderBy('created_at').orderBy('id').execute();
  const shared = await q.selectFrom('networks').select(cols).where('shared', '=', 1).orderBy('created_at').orderBy('id').execute();
  return [...mine, ...shared];
}

async function subnetCounts(q: Q, networkIds: string[]): Promise<Map<string, number>> {
  if (!networkIds.length) return new Map();
  const rows = await q.selectFrom('subnets').select('network_id').where('network_id', 'in', networkIds).execute();
  const out = new Map<string, number>();
  for (const r of rows) out.set(r.network_id, (out.get(r.network_id) ?? 0) + 1);
  return out;
}

async function visiblePort(q: Q, ctx: RequestContext, id: string) {
  const port = await q.selectFrom('ports').selectAll().where('id', '=', id).executeTakeFirst();
  if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) return undefined;
  return port;
}

const ambiguous = () => novaConflict('Multiple possible networks found, use a Network ID to be more specific.');

/**
 * validate_networks at the API: the requested networks and ports exist and are usable, and how
 * many instances the port quota leaves room for (Nova shrinks max_count to it).
 */
export async function validateNetworks(store: Store, ctx: RequestContext, requested: RequestedNetworks, maxCount: number): Promise<number> {
  const q = store.db;
  const project = ctx.projectId ?? '';
  if (requested.kind === 'none') return maxCount;
  let perInstance = 0;
  if (requested.kind !== 'list' || requested.items.length === 0) {
    const nets = await availableNetworks(q, project, false);
    if (nets.length > 1) throw ambiguous();
    if (nets.length === 0 && requested.kind === 'auto') {
      // Neutron here has no auto-allocated-topology (get-me-a-network) to fall back on.
      throw novaBadRequest(`Unable to automatically allocate a network for project ${project}`);
    }
    perInstance = 1;
  } else {
    const netIds: string[] = [];
    for (const r of requested.items) {
      if (r.portId) {
        const port = await visiblePort(q, ctx, r.portId);
        if (!port) throw novaBadRequest(`Port id ${r.portId} could not be found.`);
        if (port.device_id) throw novaConflict(`Port ${r.portId} is still in use.`);
        const ips = await q.selectFrom('ip_allocations').select('ip_address').where('port_id', '=', port.id).executeTakeFirst();
        if (!ips) throw novaBadRequest(`Port ${r.portId} requires a FixedIP in order to be used.`);
        r.networkId = port.network_id;
        continue;
      }
      perInstance++;
      netIds.push(r.networkId!);
      if (r.fixedIp) {
        // Nova asks Neutron as the user, so only ports the user can see count here.
        let inUse = q
          .selectFrom('ip_allocations')
          .innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
          .select('ports.device_id')
          .where('ip_allocations.network_id', '=', r.networkId!)
          .where('ip_allocations.ip_address', '=', r.fixedIp);
        if (!ctx.isAdmin) inUse = inUse.where('ports.project_id', '=', project);
        const used = await inUse.executeTakeFirst();
        if (used) throw novaBadRequest(`Fixed IP address ${r.fixedIp} is already in use on instance ${used.device_id}.`);
      }
    }
    if (netIds.length) {
      const nets = await visibleNetworks(q, ctx, [...new Set(netIds)]);
      const subnets = await subnetCounts(
        q,
        nets.map((n) => n.id),
      );
      for (const n of nets) if (!subnets.get(n.id)) throw novaBadRequest(`Network ${n.id} requires a subnet in order to boot instances on.`);
      const lost = [...new Set(netIds)].filter((id) => !nets.some((n) => n.id === id));
      if (lost.length) throw novaBadRequest(`Network ${lost.join(', ')} could not be found.`);
    }
  }
  if (perInstance === 0) return maxCount;
  const limit = (await quotaLimits(q, project)).port;
  if (limit === undefined || limit < 0) return maxCount;
  const n = await q
    .selectFrom('ports')
    .select(({ fn }) => fn.countAll<number>().as('n'))
    .where('project_id', '=', project)
    .executeTakeFirst();
  const free = limit - Number(n?.n ?? 0);
  if (free < 0) throw novaForbidden(`The number of defined ports: ${Number(n?.n ?? 0)} is over the limit: ${limit}`);
  return free >= perInstance * maxCount ? maxCount : Math.floor(free / perInstance);
}

/**
 * Nova's security group names → ids of the project's groups (name first, then id);
 * `default` is left to Neutron, which puts every new port in the project's default group.
 */
export async function resolveSecurityGroups(store: Store, ctx: RequestContext, names: string[]): Promise<string[]> {
  const project = ctx.projectId ?? '';
  const out: string[] = [];
  if (names.length === 1 && names[0] === 'default') return out;
  for (const name of names) {
    const byName = await store.db.selectFrom('security_groups').select('id').where('project_id', '=', project).where('name', '=', name).execute();
    if (byName.length > 1) throw novaConflict(`Multiple security_group matches found for name '${name}', use an ID to be more specific.`);
    if (byName.length === 1) {
      out.push(byName[0].id);
      continue;
    }
    const byId = await store.db.selectFrom('security_groups').select(['id', 'project_id']).where('id', '=', name).executeTakeFirst();
    if (byId && (ctx.isAdmin || byId.project_id === project)) out.push(byId.id);
    else throw novaBadRequest(`Security group ${name} is not found for project ${project}`);
  }
  return out;
}

/** A build failure reason, in Nova's words for what Neutron said. */
export function allocationFailure(e: unknown, networkId?: string, fixedIp?: string): string {
  return e instanceof AllocationFailed || !isDomainError(e) ? (e instanceof Error ? e.message : String(e)) : asAllocationFailure(e, networkId, fixedIp).message;
}

/**
 * A network allocation for a server failed, as the Nova exception `type` names (NoMoreFixedIps,
 * PortInUse, ...): its message is that exception's. What the build does with it is
 * buildFailureOutcome's.
 */
export class AllocationFailed extends DomainError {
  constructor(novaException: string, message: string) {
    super('conflict', novaException, message);
  }
}

/** Neutron's refusal of a port create, as nova/network/neutron.py's _create_port_minimal raises it. */
function asAllocationFailure(e: DomainError, networkId?: string, fixedIp?: string): AllocationFailed {
  switch (e.type) {
    case 'OverQuota':
      return new AllocationFailed('PortLimitExceeded', 'Maximum number of ports exceeded');
    case 'IpAddressGenerationFailure':
      return new AllocationFailed('NoMoreFixedIps', `No fixed IP addresses available for network: ${networkId}`);
    case 'IpAddressAlreadyAllocated':
    case 'IpAddressInUse':
      return new AllocationFailed('FixedIpAlreadyInUse', `Fixed IP ${fixedIp} is already in use.`);
    case 'InvalidIpForNetwork':
    case 'InvalidIpForSubnet':
      return new AllocationFailed('InvalidInput', `Invalid input received: Fixed IP ${fixedIp} is not a valid ip address for network ${networkId}.`);
    default:
      return new AllocationFailed('NeutronClientException', e.message);
  }
}

/**
 * How a build ends on a failed network allocation, as nova/compute/manager.py's
 * _build_and_run_instance decides (the allocation is asynchronous, so its exception surfaces in
 * spawn, inside that method's except clauses): NoMoreFixedIps aborts with its message wrapped,
 * the listed allocation failures abort with the generic message, InvalidInput aborts with its
 * own; anything else (PortInUse, PortLimitExceeded, FixedIpAlreadyInUse, PortBindingFailed, a
 * network or port not found) is the catch-all RescheduledException with the exception's text.
 */
export function buildFailureOutcome(e: DomainError): { reschedule: boolean; reason: string } {
  switch (e.type) {
    case 'NoMoreFixedIps':
      return { reschedule: false, reason: `Failed to allocate the network(s) with error ${e.message}, not rescheduling.` };
    case 'ExternalNetworkAttachForbidden':
    case 'UnableToAutoAllocateNetwork':
      return { reschedule: false, reason: 'Failed to allocate the network(s), not rescheduling.' };
    case 'InvalidInput':
      return { reschedule: false, reason: e.message };
    default:
      return { reschedule: true, reason: e.message };
  }
}

export interface AllocationInput {
  serverId: string;
  projectId: string;
  host: string;
  requested: RequestedNetworks;
  securityGroupIds: string[];
  /** The user the server was created by, as Neutron sees it (ports are created on its behalf). */
  user: RequestContext;
  admin: RequestContext;
}

export interface AllocatedInterface {
  portId: string;
  preserve: boolean;
  tag: string | null;
}

/**
 * allocate_for_instance inside the caller's transaction: ports created for networks (device_id,
 * device_owner, security groups) or taken over from the request, then bound to the host with
 * admin rights as Nova does. Throws a DomainError with the build's failure reason.
 */
export async function allocatePorts(w: Work, neutron: NetworkOps, a: AllocationInput): Promise<AllocatedInterface[]> {
  const q = w.trx;
  const fail = (novaException: string, msg: string) => new AllocationFailed(novaException, msg);
  if (a.requested.kind === 'none') return [];
  let requests: NetworkRequest[];
  if (a.requested.kind === 'list' && a.requested.items.length) {
    requests = a.requested.items.map((r) => ({ ...r }));
  } else {
    const nets = await availableNetworks(q, a.projectId, a.requested.kind === 'auto');
    if (nets.length > 1) throw fail('NetworkAmbiguous', 'Multiple possible networks found, use a Network ID to be more specific.');
    if (nets.length === 0) {
      if (a.requested.kind === 'auto') throw fail('UnableToAutoAllocateNetwork', `Unable to automatically allocate a network for project ${a.projectId}`);
      return [];
    }
    requests = [{ networkId: nets[0].id }];
  }
  const netIds = [...new Set(requests.filter((r) => !r.portId).map((r) => r.networkId!))];
  const nets = new Map((await visibleNetworks(q, a.user, netIds)).map((n) => [n.id, n]));
  const subnets = await subnetCounts(q, netIds);
  const out: AllocatedInterface[] = [];
  for (const r of requests) {
    if (r.portId) {
      const port = await q.selectFrom('ports').selectAll().where('id', '=', r.portId).executeTakeFirst();
      if (!port) throw fail('PortNotFound', `Port id ${r.portId} could not be found.`);
      if (port.project_id !== a.projectId) throw fail('PortNotUsable', `Port ${r.portId} not usable for instance ${a.serverId}.`);
      if (port.device_id && port.device_id !== a.serverId) throw fail('PortInUse', `Port ${r.portId} is still in use.`);
      // _validate_requested_port_ids: a port whose binding already failed is not usable as it is.
      if (port.binding_vif_type === VIF_TYPE_BINDING_FAILED) throw bindingFailed(port.id);
      await neutron.update(a.admin, 'ports', port.id, { port: { device_id: a.serverId, device_owner: DEVICE_OWNER, 'binding:host_id': a.host } });
      await ensureNoPortBindingFailure(q, port.id);
      out.push({ portId: port.id, preserve: true, tag: r.tag ?? null });
      continue;
    }
    const net = nets.get(r.networkId!);
    if (!net) throw fail('NetworkNotFound', `Network ${r.networkId} could not be found.`);
    if (net.external === 1 && net.shared === 0 && !a.user.isAdmin)
      throw fail('ExternalNetworkAttachForbidden', `It is not allowed to create an interface on external network ${net.id}`);
    if ((net.port_security_enabled === 1 && !subnets.get(net.id)) || (net.port_security_enabled === 0 && a.securityGroupIds.length)) {
      throw fail('SecurityGroupCannotBeApplied', 'Network requires port_security_enabled and subnet associated in order to apply security groups.');
    }
    const port: Record<string, unknown> = {
      network_id: net.id,
      device_id: a.serverId,
      device_owner: DEVICE_OWNER,
      admin_state_up: true,
      tenant_id: a.projectId,
    };
    if (r.fixedIp) port.fixed_ips = [{ ip_address: r.fixedIp }];
    if (a.securityGroupIds.length) port.security_groups = a.securityGroupIds;
    let id: string;
    try {
      [id] = await neutron.create(a.user, 'ports', { port });
    } catch (e) {
      // Neutron's refusals end the build; anything else (an IPAM range another transaction moved,
      // a serialization failure) belongs to the unit of work, which runs the whole build again.
      if (!isDomainError(e)) throw e;
      throw asAllocationFailure(e, net.id, r.fixedIp);
    }
    await neutron.update(a.admin, 'ports', id, { port: { 'binding:host_id': a.host } });
    await ensureNoPortBindingFailure(q, id);
    out.push({ portId: id, preserve: false, tag: r.tag ?? null });
  }
  return out;
}

/** nova.exception.PortBindingFailed's name (a build reschedules on it: lifecycle.ts). */
export const PORT_BINDING_FAILED = 'PortBindingFailed';

/**
 * Nova's _ensure_no_port_binding_failure: a port Neutron could not bind on the host (no live L2
 * agent there, none of its network's segments reachable, a vnic_type the driver does not bind)
 * fails the attempt with PortBindingFailed's message.
 */
async function ensureNoPortBindingFailure(q: Q, portId: string): Promise<void> {
  const row = await q.selectFrom('ports').select('binding_vif_type').where('id', '=', portId).executeTakeFirst();
  if (row?.binding_vif_type === VIF_TYPE_BINDING_FAILED) throw bindingFailed(portId);
}

const bindingFailed = (portId: string) =>
  new AllocationFailed(PORT_BINDING_FAILED, `Binding failed for port ${portId}, please check neutron logs for more information.`);

/**
 * What deallocate_for_instance does to the ports a failed build's request named
 * (_unbind_ports: host binding, device and owner cleared), so a port that came with a failed
 * binding can bind on the next host. A port another server holds is left alone (Nova's request
 * validation refused it before the build).
 */
export async function unbindRequestedPorts(w: Work, neutron: NetworkOps, serverId: string, requested: RequestedNetworks, admin: RequestContext): Promise<void> {
  if (requested.kind !== 'list') return;
  const ids = requested.items.flatMap((r) => (r.portId ? [r.portId] : []));
  if (!ids.length) return;
  const ports = await w.trx.selectFrom('ports').select(['id', 'device_id']).where('id', 'in', ids).execute();
  for (const p of ports) {
    if (p.device_id && p.device_id !== serverId) continue;
    await neutron.update(admin, 'ports', p.id, { port: { device_id: '', device_owner: '', 'binding:host_id': null } });
  }
}

/**
 * deallocate_for_instance: ports Nova created are deleted (Neutron then disassociates their
 * floating IPs); ports the client passed in are released (device and binding cleared) and kept.
 */
export async function releasePorts(w: Work, neutron: NetworkOps, serverId: string, admin: RequestContext): Promise<void> {
  const q = w.trx;
  const ports = await q.selectFrom('ports').select(['id']).where('device_id', '=', serverId).execute();
  const preserved = new Set(
    (await q.selectFrom('server_interfaces').select('port_id').where('server_id', '=', serverId).where('preserve', '=', 1).execute()).map((r) => r.port_id),
  );
  for (const p of ports) {
    if (preserved.has(p.id)) {
      await neutron.update(admin, 'ports', p.id, { port: { device_id: '', device_owner: '', 'binding:host_id': null } });
    } else {
      await neutron.delete(admin, 'ports', p.id);
    }
  }
}

/**
 * Bind (or, with null, unbind) every port of a server to a host, as Nova's
 * _update_port_binding_for_instance does when shelve-offload releases a server, unshelve puts it
 * on a host again and a migration finishes on its destination: a `migrating_to` a live migration
 * left in binding:profile goes in the same update.
 */
export async function bindPorts(w: Work, neutron: NetworkOps, serverId: string, host: string | null, admin: RequestContext): Promise<void> {
  const ports = await w.trx.selectFrom('ports').select(['id', 'binding_host_id', 'binding_profile']).where('device_id', '=', serverId).execute();
  for (const p of ports) {
    const profile = profileOf(p.binding_profile);
    const migrating = profile.has('migrating_to');
    if (!migrating && (p.binding_host_id || null) === host) continue;
    profile.delete('migrating_to');
    const update: Record<string, unknown> = { 'binding:host_id': host };
    if (migrating) update['binding:profile'] = Object.fromEntries(profile);
    await neutron.update(admin, 'ports', p.id, { port: update });
  }
}

/**
 * A live migration's start (Nova's setup_networks_on_host for the destination, without Neutron's
 * binding-extended): every port's binding:profile says `migrating_to` the destination, while the
 * port stays bound to the source.
 */
export async function markPortsMigrating(w: Work, neutron: NetworkOps, serverId: string, dest: string, admin: RequestContext): Promise<void> {
  const ports = await w.trx.selectFrom('ports').select(['id', 'binding_profile']).where('device_id', '=', serverId).execute();
  for (const p of ports) {
    const profile = profileOf(p.binding_profile);
    if (profile.get('migrating_to') === dest) continue;
    profile.set('migrating_to', dest);
    await neutron.update(admin, 'ports', p.id, { port: { 'binding:profile': Object.fromEntries(profile) } });
  }
}

/** A stored binding:profile as a Map (its keys are the client's). */
function profileOf(json: string): Map<string, unknown> {
  try {
    const v: unknown = JSON.parse(json || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? new Map(Object.entries(v)) : new Map();
  } catch {
    return new Map();
  }
}

// ---------------------------------------------------------------- reading back

export interface Address {
  version: number;
  addr: string;
  type: 'fixed' | 'floating';
  mac: string;
}

export interface ServerPort {
  id: string;
  serverId: string;
  networkId: string;
  networkName: string;
  mac: string;
  status: string;
  position: number;
  tag: string | null;
  fixedIps: Array<{ subnet_id: string; ip_address: string }>;
}

/** Ports of servers (device_id), in interface order. */
export async function serverPorts(q: Q, serverIds: string[]): Promise<ServerPort[]> {
  if (!serverIds.length) return [];
  const ports = await q
    .selectFrom('ports')
    .innerJoin('networks', 'networks.id', 'ports.network_id')
    .leftJoin('server_interfaces', 'server_interfaces.port_id', 'ports.id')
    .select([
      'ports.id',
      'ports.device_id',
      'ports.network_id',
      'networks.name as network_name',
      'ports.mac_address',
      'ports.status',
      'server_interfaces.position',
      'server_interfaces.tag',
      'ports.created_at',
    ])
    .where('ports.device_id', 'in', serverIds)
    .execute();
  const ips = ports.length
    ? await q
        .selectFrom('ip_allocations')
        .select(['port_id', 'subnet_id', 'ip_address'])
        .where(
          'port_id',
          'in',
          ports.map((p) => p.id),
        )
        .orderBy('position')
        .execute()
    : [];
  return ports
    .map((p) => ({
      id: p.id,
      serverId: p.device_id,
      networkId: p.network_id,
      networkName: p.network_name,
      mac: p.mac_address,
      status: p.status,
      position: p.position ?? Number.MAX_SAFE_INTEGER,
      tag: p.tag ?? null,
      created: p.created_at,
      fixedIps: ips.filter((i) => i.port_id === p.id).map((i) => ({ subnet_id: i.subnet_id, ip_address: i.ip_address })),
    }))
    .sort((a, b) => a.position - b.position || a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
}

/**
 * How the L3 part stores floating IPs (Neutron's `floating_ips` table: `fixed_port_id`,
 * `floating_ip_address`, `fixed_ip_address`), looked up once per store: compute works with or
 * without L3 in the build.
 */
const floatingLayout = new WeakMap<Store, Promise<{ table: string; port: string } | null>>();

async function floatingIpColumns(store: Store): Promise<{ table: string; port: string } | null> {
  let p = floatingLayout.get(store);
  if (!p) {
    p = (async () => {
      const tables = await store.db.introspection.getTables();
      const t = tables.find((x) => x.name === 'floating_ips') ?? tables.find((x) => x.name === 'floatingips');
      if (!t) return null;
      const cols = t.columns.map((c) => c.name);
      const port = cols.includes('fixed_port_id') ? 'fixed_port_id' : cols.includes('port_id') ? 'port_id' : null;
      if (!port || !cols.includes('floating_ip_address') || !cols.includes('fixed_ip_address')) return null;
      return { table: t.name, port };
    })();
    floatingLayout.set(store, p);
  }
  return p;
}

/** Floating IPs on these ports: port id → [{floating, fixed}]. */
async function floatingIps(store: Store, portIds: string[]): Promise<Map<string, Array<{ floating: string; fixed: string }>>> {
  const out = new Map<string, Array<{ floating: string; fixed: string }>>();
  const layout = await floatingIpColumns(store);
  if (!layout || !portIds.length) return out;
  const db = store.db as unknown as import('kysely').Kysely<Record<string, Record<string, string>>>;
  const rows = await db
    .selectFrom(layout.table)
    .select([`${layout.port} as port`, 'floating_ip_address', 'fixed_ip_address'])
    .where(layout.port, 'in', portIds)
    .execute();
  for (const r of rows) {
    const list = out.get(r.port) ?? [];
    list.push({ floating: r.floating_ip_address, fixed: r.fixed_ip_address });
    out.set(r.port, list);
  }
  return out;
}

/** Nova's network info for `addresses`: per network label, fixed IPs then floating IPs. */
export async function serverAddresses(store: Store, ports: ServerPort[]): Promise<Map<string, Record<string, Address[]>>> {
  const fips = await floatingIps(
    store,
    ports.map((p) => p.id),
  );
  const out = new Map<string, Map<string, { ips: Address[]; floating: Address[] }>>();
  for (const p of ports) {
    const byNet = out.get(p.serverId) ?? new Map();
    out.set(p.serverId, byNet);
    const entry = byNet.get(p.networkName) ?? { ips: [], floating: [] };
    byNet.set(p.networkName, entry);
    for (const ip of p.fixedIps) entry.ips.push({ version: parseIp(ip.ip_address)?.version ?? 4, addr: ip.ip_address, type: 'fixed', mac: p.mac });
    for (const f of fips.get(p.id) ?? []) entry.floating.push({ version: parseIp(f.floating)?.version ?? 4, addr: f.floating, type: 'floating', mac: p.mac });
  }
  const result = new Map<string, Record<string, Address[]>>();
  for (const [server, byNet] of out) {
    const rec: Record<string, Address[]> = {};
    for (const [label, e] of byNet) rec[label] = [...e.ips, ...e.floating];
    result.set(server, rec);
  }
  return result;
}

/** Security group names of servers' ports, one entry per port and group, as Nova lists them. */
export async function serverSecurityGroups(q: Q, ports: ServerPort[]): Promise<Map<string, Array<{ name: string }>>> {
  const out = new Map<string, Array<{ name: string }>>();
  if (!ports.length) return out;
  const rows = await q
    .selectFrom('port_security_groups')
    .innerJoin('security_groups', 'security_groups.id', 'port_security_groups.security_group_id')
    .select(['port_security_groups.port_id', 'security_groups.name', 'security_groups.id'])
    .where(
      'port_security_groups.port_id',
      'in',
      ports.map((p) => p.id),
    )
    .orderBy('security_groups.name')
    .orderBy('security_groups.id')
    .execute();
  for (const p of ports) {
    for (const r of rows.filter((x) => x.port_id === p.id)) {
      const list = out.get(p.serverId) ?? [];
      list.push({ name: r.name || r.id });
      out.set(p.serverId, list);
    }
  }
  return out;
}

/** Nova's hostId: an opaque per-project hash of the host a server runs on. */
export function hostIdOf(host: string | null, projectId: string): string {
  if (!host) return '';
  return createHash('sha224')
    .update(projectId + host)
    .digest('hex');
}
