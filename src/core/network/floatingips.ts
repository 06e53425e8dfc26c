/**
 * Floating IPs (Neutron's `router` floatingips with `fip-port-details`), and the read-only
 * `floatingip-pools`. The address is held by a port on the external network
 * (`network:floatingip`, no project), so IPAM hands it out exactly once even under concurrent
 * creates, and the external network counts it as in use.
 */
import { chunks, isUniqueViolation, jsonRowObject } from '../../store/db.js';
import type { Q, Tx } from '../../store/db.js';
import type { FloatingIpsTable, PortsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { isoSeconds } from '../../util/time.js';
import type { RequestContext } from '../context.js';
import { DomainError, conflict, neutronBadRequest, notFound, resourceNotFound } from '../errors.js';
import { ipAddressOrNone, ipToCanonical, uuid, uuidOrNone } from './attributes.js';
import { dnsDomain, fipDnsHostName, lowerCase } from './dns.js';
import { assertNotForwarding, fipPortForwardingsInline, hasPortForwardings, loadFipPortForwardings } from './fipforwardings.js';
import { visibleNetworkForPort } from './networks.js';
import { fipQosInline, loadFloatingIpQos, qosPolicyIdAttr, setFloatingIpQos } from './qos.js';
import { createPortInternal, deletePort } from './ports.js';
import type { ResourceOps } from './registry.js';
import { type Loaded, type ResourceDef, bumpRevision, standardAttrs, updateRow } from './resource.js';
import { routerForFloatingIp } from './routers.js';

export const FIP_OWNER = 'network:floatingip';

/** fip-port-details: what a floating IP shows of the port it is associated with. */
interface PortDetails {
  name: string;
  network_id: string;
  mac_address: string;
  admin_state_up: boolean;
  status: string;
  device_id: string;
  device_owner: string;
}

/** What fip-port-details shows of the port a floating IP is on, from these of its columns. */
const PORT_DETAIL_COLUMNS = ['name', 'network_id', 'mac_address', 'admin_state_up', 'status', 'device_id', 'device_owner'] as const satisfies ReadonlyArray<
  keyof PortsTable
>;
type PortDetailRow = Pick<PortsTable, (typeof PORT_DETAIL_COLUMNS)[number]>;

function portDetails(p: PortDetailRow): PortDetails {
  return {
    name: p.name,
    network_id: p.network_id,
    mac_address: p.mac_address,
    admin_state_up: p.admin_state_up === 1,
    status: p.status,
    device_id: p.device_id,
    device_owner: p.device_owner,
  };
}

/** Attributes computed for rendering. */
interface FloatingIpComputed {
  port_details: PortDetails | null;
  dns_name: string;
  dns_domain: string;
  qos_policy_id: string | null;
  port_forwardings: unknown[];
}

/** GET's order, and a create's (the L3 plugin's dict before the extensions' keys). */
const SHOW_ORDER = [
  'id',
  'tenant_id',
  'floating_ip_address',
  'floating_network_id',
  'router_id',
  'port_id',
  'fixed_ip_address',
  'status',
  'description',
  'qos_policy_id',
  'port_details',
  'dns_domain',
  'dns_name',
  'port_forwardings',
  'tags',
  'revision_number',
  'created_at',
  'updated_at',
  'project_id',
];
const CREATE_ORDER = SHOW_ORDER.slice(0, 8).concat(['project_id'], SHOW_ORDER.slice(8, -1));

export const floatingIpDef: ResourceDef<'floating_ips', FloatingIpComputed> = {
  name: 'floatingip',
  collection: 'floatingips',
  table: 'floating_ips',
  label: 'Floating IP',
  notFound: (id) => notFound('FloatingIPNotFound', `Floating IP ${id} could not be found`),
  bulk: true,
  taggable: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    tenant_id: standardAttrs().tenant_id,
    floating_ip_address: {
      post: true,
      default: null,
      filter: true,
      sort: true,
      adminOnly: true,
      column: 'floating_ip_address',
      convert: ipToCanonical,
      validate: ipAddressOrNone,
    },
    floating_network_id: { post: true, filter: true, sort: true, column: 'floating_network_id', validate: uuid },
    router_id: { filter: true, sort: true, column: 'router_id' },
    port_id: { post: true, put: true, default: null, filter: true, column: 'fixed_port_id', validate: uuidOrNone },
    fixed_ip_address: {
      post: true,
      put: true,
      default: null,
      filter: true,
      sort: true,
      column: 'fixed_ip_address',
      convert: ipToCanonical,
      validate: ipAddressOrNone,
    },
    status: { filter: true, sort: true, column: 'status' },
    project_id: standardAttrs().project_id,
    description: standardAttrs().description,
    qos_policy_id: qosPolicyIdAttr,
    subnet_id: { post: true, default: null, visible: false, validate: uuidOrNone },
    port_details: {},
    // dns-integration: accepted, and kept only by an external DNS driver (none here, as in DevStack).
    dns_domain: { post: true, default: '', convert: lowerCase, validate: dnsDomain },
    dns_name: { post: true, default: '', convert: lowerCase, validate: fipDnsHostName },
    port_forwardings: {},
    tags: standardAttrs().tags,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    revision_number: standardAttrs().revision_number,
  },
  order: { show: SHOW_ORDER, create: CREATE_ORDER, bulk: CREATE_ORDER },
  // A show reads the port it is on, its QoS policy and its forwardings with it, in one statement
  // (showRow); a list reads them in load.
  inline: {
    port_details: {
      rows: (eb) =>
        eb
          .selectFrom('ports')
          .select(PORT_DETAIL_COLUMNS.map((c) => `ports.${c}` as const))
          .whereRef('ports.id', '=', 'floating_ips.fixed_port_id'),
      columns: PORT_DETAIL_COLUMNS,
      value: (rows) => (rows[0] ? portDetails(jsonRowObject(PORT_DETAIL_COLUMNS, rows[0]) as PortDetailRow) : null),
    },
    qos_policy_id: fipQosInline,
    port_forwardings: fipPortForwardingsInline,
  },
  async load(q, rows) {
    for (const r of rows) {
      r.__dns_name = '';
      r.__dns_domain = '';
    }
    // Read with the row by a show (inline attributes come together).
    if (rows.every((r) => r.__port_details !== undefined && r.__qos_policy_id !== undefined && r.__port_forwardings !== undefined)) return;
    const byPort = new Map<string, Array<Loaded<'floating_ips', FloatingIpComputed>>>();
    for (const r of rows) {
      r.__port_details = null;
      if (r.fixed_port_id) byPort.set(r.fixed_port_id, [...(byPort.get(r.fixed_port_id) ?? []), r]);
    }
    for (const chunk of chunks([...byPort.keys()], 500)) {
      const ports = await q
        .selectFrom('ports')
        .select(['id', ...PORT_DETAIL_COLUMNS])
        .where('id', 'in', chunk)
        .execute();
      for (const p of ports) for (const r of byPort.get(p.id) ?? []) r.__port_details = portDetails(p);
    }
    // What a create knew of its answer (Prepared.known) is not read again.
    const qosMissing = rows.filter((r) => r.__qos_policy_id === undefined);
    if (qosMissing.length) await loadFloatingIpQos(q, qosMissing);
    const forwardingsMissing = rows.filter((r) => r.__port_forwardings === undefined);
    if (forwardingsMissing.length) await loadFipPortForwardings(q, forwardingsMissing);
  },
};

const fipBadRequest = (msg: string) => neutronBadRequest('floatingip', msg);

/**
 * Neutron's utils.is_fip_serviced: only a DHCP port cannot take a floating IP. Any other owner may,
 * a router's own interface port included (Gophercloud's TestLayer3FloatingIPsExternalCreateDelete
 * puts one there); the association then needs a router on its subnet as for any port.
 */
function isFipServiced(owner: string): boolean {
  return owner !== 'network:dhcp';
}

interface Association {
  portId: string | null;
  fixedIp: string | null;
  routerId: string | null;
}

/** Neutron's _internal_fip_assoc_data + get_router_for_floatingip. */
async function associationFor(trx: Tx, ctx: RequestContext, fip: FloatingIpsTable, portId: string, fixedIp: string | null): Promise<Association> {
  const port = await trx.selectFrom('ports').selectAll().where('id', '=', portId).executeTakeFirst();
  // The port as the caller may read it: its own, or on a network it owns (_port_filter_hook).
  const networkOwner = async (networkId: string) =>
    (await trx.selectFrom('networks').select('project_id').where('id', '=', networkId).executeTakeFirst())?.project_id === ctx.projectId;
  if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId && !(await networkOwner(port.network_id)))) throw resourceNotFound('Port', portId);
  if (port.project_id !== fip.project_id && !ctx.isAdmin) {
    throw fipBadRequest(`Cannot process floating IP association with Port ${portId}, since that port is owned by a different tenant`);
  }
  if (!isFipServiced(port.device_owner)) throw fipBadRequest(`Port ${portId} is unable to be assigned a floating IP`);
  const ips = await trx.selectFrom('ip_allocations').select(['subnet_id', 'ip_address']).where('port_id', '=', portId).orderBy('position').execute();
  let subnetId: string;
  let address: string;
  if (fixedIp) {
    if (fixedIp.includes(':')) throw fipBadRequest(`Cannot process floating IP association with ${fixedIp}, since that is not an IPv4 address`);
    const match = ips.find((ip) => ip.ip_address === fixedIp);
    if (!match) throw fipBadRequest(`Port ${portId} does not have fixed ip ${fixedIp}`);
    subnetId = match.subnet_id;
    address = fixedIp;
  } else {
    const v4 = ips.filter((ip) => !ip.ip_address.includes(':'));
    if (v4.length === 0) throw fipBadRequest(`Cannot add floating IP to port ${portId} that has no fixed IPv4 addresses`);
    if (v4.length > 1) {
      throw fipBadRequest(`Port ${portId} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP`);
    }
    subnetId = v4[0].subnet_id;
    address = v4[0].ip_address;
  }
  const subnet = await trx.selectFrom('subnets').selectAll().where('id', '=', subnetId).executeTakeFirstOrThrow();
  const routerId = await routerForFloatingIp(trx, port, subnet, fip.floating_network_id);
  return { portId, fixedIp: address, routerId };
}

/** Neutron's _check_and_get_fip_assoc for a create or update body. */
async function resolveAssociation(trx: Tx, ctx: RequestContext, fip: FloatingIpsTable, body: Record<string, unknown>): Promise<Association> {
  const fixedIp = (body.fixed_ip_address as string | null | undefined) ?? null;
  const portId = body.port_id as string | null | undefined;
  if (fixedIp && !portId) throw fipBadRequest('fixed_ip_address cannot be specified without a port_id');
  if (portId) {
    const assoc = await associationFor(trx, ctx, fip, portId, fixedIp);
    if (portId === fip.fixed_port_id) return assoc;
    const taken = await trx
      .selectFrom('floating_ips')
      .select('id')
      .where('fixed_port_id', '=', portId)
      .where('floating_network_id', '=', fip.floating_network_id)
      .where('fixed_ip_address', '=', assoc.fixedIp)
      .executeTakeFirst();
    if (taken) throw alreadyAssociated(fip, portId, assoc.fixedIp!);
    return assoc;
  }
  // Neutron's _check_and_get_fip_assoc reads the body only: a blank update leaves the floating
  // IP unassociated.
  return { portId: null, fixedIp: null, routerId: null };
}

function alreadyAssociated(fip: FloatingIpsTable, portId: string, fixedIp: string) {
  return conflict(
    'FloatingIPPortAlreadyAssociated',
    `Cannot associate floating IP ${fip.floating_ip_address} (${fip.id}) with port ${portId} using fixed IP ${fixedIp}, as that fixed IP already has a floating IP on external network ${fip.floating_network_id}.`,
  );
}

/** Write an association; the unique (network, port, fixed IP) key settles concurrent attempts. */
async function writeAssociation(trx: Tx, fip: FloatingIpsTable, assoc: Association, extra: Partial<FloatingIpsTable> = {}): Promise<void> {
  try {
    await updateRow(trx, floatingIpDef, fip, { fixed_port_id: assoc.portId, fixed_ip_address: assoc.fixedIp, router_id: assoc.routerId, ...extra });
  } catch (e) {
    if (isUniqueViolation(e)) throw alreadyAssociated(fip, assoc.portId!, assoc.fixedIp!);
    throw e;
  }
}

export function floatingIpOps(): ResourceOps<'floating_ips', FloatingIpComputed> {
  return {
    def: floatingIpDef,
    quota: 'floatingip',
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const networkId = v.floating_network_id as string;
      // The network (with what its holder port's create needs of it) and its subnets, read once
      // here and handed to the port create, which read them again.
      const found = await visibleNetworkForPort(trx, ctx, networkId);
      if (!found) throw resourceNotFound('Network', networkId);
      if (found.network.external !== 1) throw fipBadRequest(`Network ${networkId} is not a valid external network`);
      const { subnets } = found;
      if (!subnets.some((s) => s.ip_version === 4)) throw fipBadRequest(`Network ${networkId} does not contain any IPv4 subnet`);

      const id = newUuid();
      const fixed: Record<string, unknown> = {};
      if (v.subnet_id) fixed.subnet_id = v.subnet_id;
      if (v.floating_ip_address) fixed.ip_address = v.floating_ip_address;
      // The holder port: never shown to the project, owned by the floating IP.
      const portId = await createPortInternal(
        w,
        {
          project_id: '',
          network_id: networkId,
          admin_state_up: true,
          device_id: id,
          device_owner: FIP_OWNER,
          name: '',
          ...(Object.keys(fixed).length ? { fixed_ips: [fixed] } : {}),
        },
        found,
      );
      await trx.updateTable('ports').set({ status: 'N/A' }).where('id', '=', portId).execute();
      const ips = await trx.selectFrom('ip_allocations').select('ip_address').where('port_id', '=', portId).orderBy('position').execute();
      const address = ips.find((ip) => !ip.ip_address.includes(':'))?.ip_address;
      if (!address) {
        throw new DomainError('bad_request', 'ExternalIpAddressExhausted', `Unable to find any IP address on external network ${networkId}.`);
      }
      const now = isoSeconds();
      const row: FloatingIpsTable = {
        id,
        project_id: v.project_id as string,
        description: v.description as string,
        floating_network_id: networkId,
        floating_ip_address: address,
        floating_port_id: portId,
        fixed_port_id: null,
        fixed_ip_address: null,
        router_id: null,
        status: 'DOWN',
        created_at: now,
        updated_at: now,
        revision_number: 0,
      };
      const assoc = await resolveAssociation(trx, ctx, row, v);
      try {
        await trx
          .insertInto('floating_ips')
          .values({ ...row, fixed_port_id: assoc.portId, fixed_ip_address: assoc.fixedIp, router_id: assoc.routerId })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw alreadyAssociated(row, assoc.portId!, assoc.fixedIp!);
        throw e;
      }
      // A policy's binding revises its floating IP (qos-fip). A new floating IP has no binding to read.
      if (await setFloatingIpQos(w, ctx, id, v.qos_policy_id, true)) await bumpRevision(trx, 'floating_ips', id);
      // The answer's policy and port forwardings are what was just written: not read back.
      p.known = { __qos_policy_id: typeof v.qos_policy_id === 'string' ? v.qos_policy_id : null, __port_forwardings: [] };
      return id;
    },

    async update(w, ctx, row, p) {
      const { trx } = w;
      const v = p.values;
      // What the real Neutron (Zed) answers: a blank update (`{"floatingip": {}}`) clears the
      // association, an update of other attributes without port_id (a description) keeps it.
      const keeps = !('port_id' in v) && !('fixed_ip_address' in v) && Object.keys(v).length > 0;
      const assoc = keeps ? { portId: row.fixed_port_id, fixedIp: row.fixed_ip_address, routerId: row.router_id } : await resolveAssociation(trx, ctx, row, v);
      // A floating IP that forwards ports takes no port, and keeps the router it forwards through.
      if (v.port_id) await assertNotForwarding(trx, row.id);
      else if (!assoc.portId && (await hasPortForwardings(trx, row.id))) assoc.routerId = row.router_id;
      if ('qos_policy_id' in v) await setFloatingIpQos(w, ctx, row.id, v.qos_policy_id);
      const extra: Partial<FloatingIpsTable> = {};
      if ('description' in v) extra.description = v.description as string;
      await writeAssociation(trx, row, assoc, extra);
    },

    async delete(w, _ctx, row) {
      const { trx } = w;
      await assertNotForwarding(trx, row.id);
      await trx.deleteFrom('floating_ips').where('id', '=', row.id).execute();
      await deletePort(w, row.floating_port_id);
    },
  };
}

/** floatingip-pools: the IPv4 subnets of the external networks. */
export async function floatingIpPools(q: Q, ctx: RequestContext): Promise<Array<Record<string, unknown>>> {
  const subnets = await q
    .selectFrom('subnets as s')
    .innerJoin('networks as n', 'n.id', 's.network_id')
    .select(['s.id', 's.name', 's.network_id', 's.cidr'])
    .where('n.external', '=', 1)
    .where('s.ip_version', '=', 4)
    .orderBy('s.created_at')
    .orderBy('s.id')
    .execute();
  return subnets.map((s) => ({
    subnet_id: s.id,
    subnet_name: s.name,
    tenant_id: ctx.projectId,
    network_id: s.network_id,
    cidr: s.cidr,
    project_id: ctx.projectId,
  }));
}
