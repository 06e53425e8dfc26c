import { sql } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import type { NetworksTable } from '../../store/schema.js';
import { isUniqueViolation, IN_CHUNK, chunks } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { DomainError, conflict, invalidInput } from '../errors.js';
import { NOT_SPECIFIED, availabilityZoneHints, nonNegative, string, toBoolean, toInt, uuid } from './attributes.js';
import { createNetworkQos, loadNetworkQos, qosPolicyIdAttr, updateNetworkQos } from './qos.js';
import type { ResourceOps } from './registry.js';
import { ensureDefaultSecurityGroup } from './securitygroups.js';
import { type ResourceDef, insertRow, standardAttrs, toColumns, updateRow } from './resource.js';

export const TUNNEL_MTU = 1450;
export const PHYSICAL_MTU = 1500;
const MAX_VXLAN_VNI = 2 ** 24 - 1;

/** Attributes computed for rendering. */
interface NetworkComputed {
  subnets: string[];
  availability_zones: string[];
  ipv4_address_scope: null;
  ipv6_address_scope: null;
  qos_policy_id: string | null;
}

export const networkDef: ResourceDef<'networks', NetworkComputed> = {
  name: 'network',
  collection: 'networks',
  table: 'networks',
  label: 'Network',
  bulk: true,
  taggable: true,
  initialRevision: 1,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    tenant_id: standardAttrs().tenant_id,
    admin_state_up: { post: true, put: true, default: true, filter: true, sort: true, column: 'admin_state_up', codec: 'bool', convert: toBoolean },
    mtu: { post: true, put: true, default: 0, filter: true, sort: true, column: 'mtu', codec: 'int', convert: toInt, validate: nonNegative },
    status: { filter: true, sort: true, column: 'status' },
    subnets: {},
    shared: { post: true, put: true, default: false, filter: true, adminOnly: true, column: 'shared', codec: 'bool', convert: toBoolean },
    project_id: standardAttrs().project_id,
    port_security_enabled: { post: true, put: true, default: true, column: 'port_security_enabled', codec: 'bool', convert: toBoolean },
    qos_policy_id: qosPolicyIdAttr,
    'router:external': { post: true, put: true, default: false, filter: true, adminOnly: true, column: 'external', codec: 'bool', convert: toBoolean },
    'provider:network_type': {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      filter: true,
      adminOnly: true,
      adminOnlyRead: true,
      column: 'network_type',
      validate: string(32),
    },
    'provider:physical_network': {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      filter: true,
      adminOnly: true,
      adminOnlyRead: true,
      column: 'physical_network',
      validate: string(64),
    },
    'provider:segmentation_id': {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      filter: true,
      adminOnly: true,
      adminOnlyRead: true,
      column: 'segmentation_id',
      codec: 'int',
      convert: toInt,
    },
    availability_zone_hints: { post: true, default: [], sort: true, column: 'availability_zone_hints', codec: 'json', validate: availabilityZoneHints },
    availability_zones: {},
    ipv4_address_scope: {},
    ipv6_address_scope: {},
    ...(({ tenant_id: _t, project_id: _p, ...rest }) => rest)(standardAttrs()),
  },
  // Members also read shared and external networks.
  sharedWhere: (eb) => eb.or([eb('networks.shared', '=', 1), eb('networks.external', '=', 1)]),
  async load(q, rows) {
    const subnets = new Map<string, string[]>();
    for (const r of rows) {
      const ids: string[] = [];
      r.__subnets = ids;
      r.__availability_zones = [];
      r.__ipv4_address_scope = null;
      r.__ipv6_address_scope = null;
      subnets.set(r.id, ids);
    }
    for (const chunk of chunks([...subnets.keys()], IN_CHUNK)) {
      const subs = await q.selectFrom('subnets').select(['id', 'network_id']).where('network_id', 'in', chunk).orderBy('created_at').orderBy('id').execute();
      for (const s of subs) subnets.get(s.network_id)?.push(s.id);
    }
    await loadNetworkQos(q, rows);
  },
};

export interface SegmentRequest {
  networkType: string;
  physicalNetwork: string | null;
  segmentationId: number | null;
}

/** ML2's type drivers in miniature: validate a provider request or pick a tenant VXLAN segment. */
export function planSegment(values: Record<string, unknown>): SegmentRequest {
  const type = values['provider:network_type'] as string | undefined;
  const physnet = values['provider:physical_network'] as string | undefined;
  const segId = values['provider:segmentation_id'] as number | undefined;
  if (type === undefined) {
    if (physnet !== undefined || segId !== undefined) throw invalidInput('network_type required');
    return { networkType: 'vxlan', physicalNetwork: null, segmentationId: null };
  }
  switch (type) {
    case 'flat':
      if (!physnet) throw invalidInput('physical_network required for flat provider network');
      if (segId !== undefined) throw invalidInput('segmentation_id prohibited for flat provider network');
      return { networkType: 'flat', physicalNetwork: physnet, segmentationId: null };
    case 'vlan':
      if (segId === undefined) {
        throw new DomainError('unavailable', 'NoNetworkAvailable', 'Unable to create the network. No tenant network is available for allocation.');
      }
      if (!physnet) throw invalidInput('segmentation_id requires physical_network for VLAN provider network');
      if (segId < 1 || segId > 4094) throw invalidInput('segmentation_id out of range (1 through 4094)');
      return { networkType: 'vlan', physicalNetwork: physnet, segmentationId: segId };
    case 'vxlan':
      if (physnet) throw invalidInput('provider:physical_network specified for VXLAN network');
      if (segId !== undefined && (segId < 1 || segId > MAX_VXLAN_VNI)) {
        throw invalidInput(`segmentation_id out of range (1 through ${MAX_VXLAN_VNI})`);
      }
      return { networkType: 'vxlan', physicalNetwork: null, segmentationId: segId ?? null };
    default:
      throw invalidInput(`network_type value '${type}' not supported`);
  }
}

/**
 * Reserve the segment. Explicit ids must be free; tenant VXLAN networks get a random free VNI of
 * the configured range (tries a few random picks, then the lowest gap), as ML2 allocates.
 */
export async function allocateSegment(trx: Tx, networkId: string, seg: SegmentRequest, vxlanRange: [number, number]): Promise<number | null> {
  const physnet = seg.physicalNetwork ?? '';
  const taken = async (id: number) =>
    !!(await trx
      .selectFrom('segment_allocations')
      .select('network_id')
      .where('network_type', '=', seg.networkType)
      .where('physical_network', '=', physnet)
      .where('segmentation_id', '=', id)
      .executeTakeFirst());
  const reserve = (id: number) =>
    trx
      .insertInto('segment_allocations')
      .values({ network_type: seg.networkType, physical_network: physnet, segmentation_id: id, network_id: networkId })
      .execute();

  if (seg.networkType === 'flat') {
    if (await taken(0)) {
      throw conflict('FlatNetworkInUse', `Unable to create the flat network. Physical network ${physnet} is in use.`);
    }
    await reserve(0);
    return null;
  }
  if (seg.segmentationId !== null) {
    if (await taken(seg.segmentationId)) {
      throw seg.networkType === 'vlan'
        ? conflict('VlanIdInUse', `Unable to create the network. The VLAN ${seg.segmentationId} on physical network ${physnet} is in use.`)
        : conflict('TunnelIdInUse', `Unable to create the network. The tunnel ID ${seg.segmentationId} is in use.`);
    }
    await reserve(seg.segmentationId);
    return seg.segmentationId;
  }
  const [lo, hi] = vxlanRange;
  for (let i = 0; i < 8; i++) {
    const id = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (!(await taken(id))) {
      await reserve(id);
      return id;
    }
  }
  // The range is crowded: take the lowest free id (the first id, or one after a taken id).
  const first = await taken(lo);
  let id: number | null = first ? null : lo;
  if (id === null) {
    const gap = await trx
      .selectFrom('segment_allocations as a')
      .select(sql<number>`a.segmentation_id + 1`.as('free'))
      .where('a.network_type', '=', 'vxlan')
      .where('a.physical_network', '=', '')
      .where('a.segmentation_id', '>=', lo)
      .where('a.segmentation_id', '<', hi)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('segment_allocations as b')
              .select('b.network_id')
              .where('b.network_type', '=', 'vxlan')
              .where('b.physical_network', '=', '')
              .whereRef('b.segmentation_id', '=', sql`a.segmentation_id + 1`),
          ),
        ),
      )
      .orderBy('a.segmentation_id')
      .limit(1)
      .executeTakeFirst();
    id = gap ? Number(gap.free) : null;
  }
  if (id === null) {
    throw new DomainError('unavailable', 'NoNetworkAvailable', 'Unable to create the network. No tenant network is available for allocation.');
  }
  await reserve(id);
  return id;
}

export function networkOps(opts: { vxlanRange: () => [number, number] }): ResourceOps<'networks', NetworkComputed> {
  return {
    def: networkDef,
    quota: 'network',
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const seg = planSegment(v);
      const id = newUuid();
      const maxMtu = seg.networkType === 'vxlan' ? TUNNEL_MTU : PHYSICAL_MTU;
      let mtu = (v.mtu as number) || maxMtu;
      if (mtu > maxMtu) throw invalidInput(`Requested MTU is too big, maximum is ${maxMtu}`);
      if (mtu < 68) mtu = 68;
      // A project's first network brings its default security group (Neutron's BEFORE_CREATE hook).
      const project = v.project_id as string;
      if (project && (ctx.isAdmin || project === ctx.projectId)) await ensureDefaultSecurityGroup(w, project);
      const cols = toColumns(networkDef, v);
      await insertRow(trx, networkDef, id, {
        ...cols,
        status: 'ACTIVE',
        mtu,
        network_type: seg.networkType,
        physical_network: seg.physicalNetwork,
        segmentation_id: null,
      });
      try {
        const segId = await allocateSegment(trx, id, seg, opts.vxlanRange());
        await trx.updateTable('networks').set({ segmentation_id: segId }).where('id', '=', id).execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('TunnelIdInUse', 'Unable to create the network. The segmentation ID is in use.');
        throw e;
      }
      await createNetworkQos(w, ctx, { id, project_id: project, physical_network: seg.physicalNetwork }, v.qos_policy_id);
      return id;
    },

    async update(w, ctx, row, p) {
      const { trx } = w;
      const v = { ...p.values };
      if ('qos_policy_id' in v) await updateNetworkQos(w, ctx, row, v.qos_policy_id);
      if ('provider:network_type' in v || 'provider:physical_network' in v || 'provider:segmentation_id' in v) {
        const same =
          (v['provider:network_type'] ?? row.network_type) === row.network_type &&
          (v['provider:physical_network'] ?? row.physical_network) === row.physical_network &&
          (v['provider:segmentation_id'] ?? row.segmentation_id) === row.segmentation_id;
        if (!same) throw invalidInput('Only VLAN type networks can be updated.');
        delete v['provider:network_type'];
        delete v['provider:physical_network'];
        delete v['provider:segmentation_id'];
      }
      if ('mtu' in v) {
        const maxMtu = row.network_type === 'vxlan' ? TUNNEL_MTU : PHYSICAL_MTU;
        const mtu = (v.mtu as number) || maxMtu;
        if (mtu > maxMtu) throw invalidInput(`Requested MTU is too big, maximum is ${maxMtu}`);
        v.mtu = mtu;
      }
      if (v.shared === false && row.shared === 1) await assertNotUsedByOthers(trx, row);
      await updateRow(trx, networkDef, row, toColumns(networkDef, v));
    },

    async delete(w, _ctx, row) {
      const { trx } = w;
      // Unassociated floating IPs of an external network go with it; their holder ports too.
      const freed = new Set(await deleteDisassociatedFloatingIps(trx, row.id));
      const ports = await trx.selectFrom('ports').select(['id', 'device_owner']).where('network_id', '=', row.id).orderBy('id').execute();
      // Ports the network owns itself (DHCP) go with it; anything else keeps it in use.
      const blocking = ports.filter((p) => p.device_owner !== 'network:dhcp' && !freed.has(p.id));
      if (blocking.length) {
        throw conflict(
          'NetworkInUse',
          `Unable to complete operation on network ${row.id}. There are one or more ports still in use on the network, id for these ports is: ${blocking.map((p) => p.id).join(',')}.`,
        );
      }
      await trx.deleteFrom('ip_allocations').where('network_id', '=', row.id).execute();
      await trx.deleteFrom('ports').where('network_id', '=', row.id).execute();
      const subnets = await trx.selectFrom('subnets').select('id').where('network_id', '=', row.id).execute();
      for (const s of subnets) {
        await trx.deleteFrom('tags').where('resource_type', '=', 'subnet').where('resource_id', '=', s.id).execute();
      }
      await trx.deleteFrom('subnets').where('network_id', '=', row.id).execute();
      await trx.deleteFrom('segment_allocations').where('network_id', '=', row.id).execute();
      await trx.deleteFrom('networks').where('id', '=', row.id).execute();
    },
  };
}

/**
 * Deleting an external network takes its unassociated floating IPs with it (Neutron's
 * delete_disassociated_floatingips, which the L3 plugin runs before a network goes). Returns the
 * holder ports that are now free to go with the network's other ports.
 */
async function deleteDisassociatedFloatingIps(trx: Tx, networkId: string): Promise<string[]> {
  const fips = await trx
    .selectFrom('floating_ips')
    .select(['id', 'floating_port_id'])
    .where('floating_network_id', '=', networkId)
    .where('fixed_port_id', 'is', null)
    .execute();
  for (const f of fips) {
    await trx.deleteFrom('tags').where('resource_type', '=', 'floatingip').where('resource_id', '=', f.id).execute();
    await trx.deleteFrom('floating_ips').where('id', '=', f.id).execute();
  }
  return fips.map((f) => f.floating_port_id);
}

/** Neutron refuses to unshare a network while other projects have ports on it. */
async function assertNotUsedByOthers(trx: Tx, row: NetworksTable): Promise<void> {
  const other = await trx
    .selectFrom('ports')
    .select('id')
    .where('network_id', '=', row.id)
    .where('project_id', '!=', row.project_id)
    .where('device_owner', 'not like', 'network:%')
    .limit(1)
    .executeTakeFirst();
  if (other) {
    throw conflict('InvalidSharedSetting', `Unable to reconfigure sharing settings for network ${row.id}. Multiple tenants are using it.`);
  }
}

/** A network the caller may use: visible to it (own, shared, or external for admins' purposes). */
export async function visibleNetwork(q: Q, ctx: RequestContext, id: string): Promise<NetworksTable | undefined> {
  const row = await q.selectFrom('networks').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  if (ctx.isAdmin || row.project_id === ctx.projectId || row.shared === 1 || row.external === 1) return row;
  return undefined;
}
