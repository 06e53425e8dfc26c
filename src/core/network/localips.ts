/**
 * Local IPs (Neutron's `local_ip`): an address on a network (a port Neutron makes for it, owned by
 * `network:local_ip`) or an existing port's, and the ports associated with it (a sub-resource,
 * keyed by the port's id).
 */
import { uuid as newUuid } from '../../util/ids.js';
import type { Work } from '../work.js';
import { DomainError, conflict, neutronBadRequest, notFound } from '../errors.js';
import { NOT_SPECIFIED, ipAddressOrNone, string, uuid, values as valuesV } from './attributes.js';
import { visibleNetwork } from './networks.js';
import { createPortInternal, deletePort } from './ports.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, insertRow, standardAttrs, toColumns, updateRow } from './resource.js';

export const LOCAL_IP_OWNER = 'network:local_ip';
const lipNotFound = (id: string) => notFound('LocalIPNotFound', `Local IP ${id} could not be found.`);
const invalid = (type: string, msg: string) => new DomainError('bad_request', type, msg);

export const localIpDef: ResourceDef<'local_ips'> = {
  name: 'local_ip',
  collection: 'local_ips',
  path: 'local_ips',
  table: 'local_ips',
  label: 'Local IP',
  notFound: lipNotFound,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    description: { post: true, put: true, default: '', filter: true, sort: true, column: 'description', validate: string(1024) },
    project_id: standardAttrs().project_id,
    local_port_id: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'local_port_id', validate: uuid },
    network_id: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'network_id', validate: uuid },
    local_ip_address: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'local_ip_address', validate: ipAddressOrNone },
    ip_mode: { post: true, default: 'translate', filter: true, sort: true, column: 'ip_mode', validate: valuesV(['translate', 'passthrough']) },
    revision_number: standardAttrs().revision_number,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    tenant_id: standardAttrs().tenant_id,
  },
};

/** The one address of a port a local IP (or an association) takes: the requested one, or its only one. */
async function portAddress(w: Work, portId: string, requested: string | null | undefined): Promise<string> {
  const ips = await w.trx.selectFrom('ip_allocations').select('ip_address').where('port_id', '=', portId).orderBy('position').execute();
  if (ips.length === 0) throw invalid('LocalIPNoIP', `Specified Port ${portId} has no fixed IPs configured.`);
  if (requested) {
    if (!ips.some((i) => i.ip_address === requested))
      throw invalid('LocalIPRequestedIPNotFound', `Specified Port ${portId} does not have requested IP address: ${requested}.`);
    return requested;
  }
  if (ips.length > 1) throw invalid('LocalIPNoRequestedIP', `Specified Port ${portId} has several IPs, should specify exact IP address to use for Local IP.`);
  return ips[0].ip_address;
}

export function localIpOps(): ResourceOps<'local_ips'> {
  return {
    def: localIpDef,
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const id = newUuid();
      let portId = v.local_port_id as string | undefined;
      let networkId: string;
      let address: string;
      if (portId !== undefined) {
        const port = await trx.selectFrom('ports').select(['id', 'network_id']).where('id', '=', portId).executeTakeFirst();
        if (!port) throw neutronBadRequest('local_ip', `Port ${portId} not found`);
        networkId = port.network_id;
        address = await portAddress(w, portId, v.local_ip_address as string | null | undefined);
      } else if (v.network_id !== undefined) {
        networkId = v.network_id as string;
        const network = await visibleNetwork(trx, ctx, networkId);
        if (!network) throw notFound('NetworkNotFound', `Network ${networkId} could not be found.`);
        const v4 = await trx.selectFrom('subnets').select('id').where('network_id', '=', networkId).where('ip_version', '=', 4).executeTakeFirst();
        if (!v4) throw neutronBadRequest('local_ip', `Network ${networkId} does not contain any IPv4 subnet`);
        // A port for the address, never shown to the project (Neutron sets its project only afterwards).
        portId = await createPortInternal(w, {
          project_id: v.project_id as string,
          network_id: networkId,
          admin_state_up: true,
          device_id: id,
          device_owner: LOCAL_IP_OWNER,
          name: '',
          ...(v.local_ip_address ? { fixed_ips: [{ ip_address: v.local_ip_address }] } : {}),
        });
        await trx.updateTable('ports').set({ status: 'N/A' }).where('id', '=', portId).execute();
        address = (await trx.selectFrom('ip_allocations').select('ip_address').where('port_id', '=', portId).orderBy('position').executeTakeFirstOrThrow())
          .ip_address;
      } else {
        throw invalid('LocalIPPortOrNetworkRequired', 'Either Port ID or Network ID must be specified for Local IP create.');
      }
      await insertRow(trx, localIpDef, id, {
        project_id: v.project_id as string,
        name: v.name as string,
        description: v.description as string,
        local_port_id: portId,
        network_id: networkId,
        local_ip_address: address,
        ip_mode: v.ip_mode as string,
      });
      return id;
    },
    async update(w, _ctx, row, p) {
      await updateRow(w.trx, localIpDef, row, toColumns(localIpDef, p.values));
    },
    async delete(w, _ctx, row) {
      const assoc = await w.trx.selectFrom('local_ip_associations').select('id').where('local_ip_id', '=', row.id).executeTakeFirst();
      if (assoc) throw conflict('LocalIPInUse', `Local IP ${row.id} is still associated with one or more ports.`);
      await w.trx.deleteFrom('local_ips').where('id', '=', row.id).execute();
      const port = await w.trx.selectFrom('ports').select('device_owner').where('id', '=', row.local_port_id).executeTakeFirst();
      if (port?.device_owner === LOCAL_IP_OWNER) await deletePort(w, row.local_port_id);
    },
  };
}

interface AssociationComputed {
  local_ip_address: string;
  host: string;
}

export const localIpAssociationDef: ResourceDef<'local_ip_associations', AssociationComputed> = {
  name: 'port_association',
  collection: 'port_associations',
  table: 'local_ip_associations',
  label: 'Local IP association',
  notFound: (id) => notFound('LocalIPAssociationNotFound', `Local IP association with port ${id} could not be found.`),
  parent: { path: 'local_ips', column: 'local_ip_id' },
  attrs: {
    local_ip_id: { column: 'local_ip_id' },
    fixed_port_id: { post: true, filter: true, sort: true, column: 'id', validate: uuid },
    fixed_ip: { post: true, default: null, filter: true, sort: true, column: 'fixed_ip', validate: ipAddressOrNone },
    local_ip_address: { filter: true },
    host: { filter: true },
    project_id: { ...standardAttrs().project_id, visible: false, filter: false },
    tenant_id: { ...standardAttrs().tenant_id, visible: false, filter: false },
  },
  async load(q, rows) {
    const lips = new Map<string, string>();
    for (const r of rows) {
      if (!lips.has(r.local_ip_id)) {
        const lip = await q.selectFrom('local_ips').select('local_ip_address').where('id', '=', r.local_ip_id).executeTakeFirst();
        lips.set(r.local_ip_id, lip?.local_ip_address ?? '');
      }
      r.__local_ip_address = lips.get(r.local_ip_id);
      const port = await q.selectFrom('ports').select('binding_host_id').where('id', '=', r.id).executeTakeFirst();
      r.__host = port?.binding_host_id ?? '';
    }
  },
};

export function localIpAssociationOps(): ResourceOps<'local_ip_associations', AssociationComputed> {
  return {
    def: localIpAssociationDef,
    async create(w, ctx, p) {
      const v = p.values;
      const portId = v.fixed_port_id as string;
      const port = await w.trx.selectFrom('ports').select(['id', 'project_id']).where('id', '=', portId).executeTakeFirst();
      if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) throw notFound('PortNotFound', `Port ${portId} could not be found.`);
      const fixedIp = await portAddress(w, portId, v.fixed_ip as string | null);
      const lip = await w.trx.selectFrom('local_ips').select(['id', 'project_id']).where('id', '=', p.parent!).executeTakeFirstOrThrow();
      const existing = await w.trx.selectFrom('local_ip_associations').select('id').where('id', '=', portId).executeTakeFirst();
      if (existing) throw conflict('LocalIPAssociationExists', `Local IP ${lip.id} association with port ${portId} already exists.`);
      await w.trx.insertInto('local_ip_associations').values({ id: portId, project_id: lip.project_id, local_ip_id: lip.id, fixed_ip: fixedIp }).execute();
      return portId;
    },
    async delete(w, _ctx, row) {
      await w.trx.deleteFrom('local_ip_associations').where('id', '=', row.id).where('local_ip_id', '=', row.local_ip_id).execute();
    },
  };
}
