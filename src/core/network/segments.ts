/**
 * Network segments: ML2's type drivers in miniature (flat, VLAN, VXLAN: validation and
 * allocation), the segments a network is made of (Neutron's `segment` and `multi-provider`), and
 * network segment ranges (`network-segment-range`), from which tenant networks take their
 * segmentation ids: a project's own ranges first, else the shared ones (the configured default
 * ranges among them).
 *
 * A network's first segment is also kept in its own columns (network_type, physical_network,
 * segmentation_id), which the data plane reads.
 */
import { sql } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import { IN_CHUNK, chunks, isUniqueViolation } from '../../store/db.js';
import type { NetworkSegmentsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { isoSeconds } from '../../util/time.js';
import { DomainError, conflict, invalidInput, notFound, resourceNotFound } from '../errors.js';
import { NOT_SPECIFIED, type Validator, string, toBoolean, toInt, uuid } from './attributes.js';
import type { ResourceOps } from './registry.js';
import { type InlineAttr, type ResourceDef, bumpRevision, insertRow, policyError, standardAttrs, toColumns, updateRow } from './resource.js';

export const MAX_VXLAN_VNI = 2 ** 24 - 1;
const MAX_VLAN_TAG = 4094;

/** What the type drivers are configured with (ml2_conf.ini). */
export interface TypeDriverConfig {
  vxlanRange: () => [number, number];
  vlanRanges: () => Array<{ physicalNetwork: string; minimum?: number; maximum?: number }>;
}

/** One segment as a request names it, after validation (absent values null). */
export interface SegmentSpec {
  networkType: string;
  physicalNetwork: string | null;
  segmentationId: number | null;
}

const isSet = (v: unknown) => v !== undefined && v !== null && v !== NOT_SPECIFIED;

/** ML2's validate_provider_segment, by type driver, with its messages. */
export function validateSegment(raw: { network_type?: unknown; physical_network?: unknown; segmentation_id?: unknown }, cfg: TypeDriverConfig): SegmentSpec {
  const type = raw.network_type;
  if (!isSet(type)) throw invalidInput('network_type required');
  const physnet = isSet(raw.physical_network) ? String(raw.physical_network) : null;
  const segId = isSet(raw.segmentation_id) ? (raw.segmentation_id as number) : null;
  switch (type) {
    case 'flat':
      if (!physnet) throw invalidInput('physical_network required for flat provider network');
      if (segId) throw invalidInput('segmentation_id prohibited for flat provider network');
      return { networkType: 'flat', physicalNetwork: physnet, segmentationId: null };
    case 'vlan': {
      const physnets = new Set(cfg.vlanRanges().map((r) => r.physicalNetwork));
      if (physnet) {
        if (!physnets.has(physnet)) throw invalidInput(`physical_network '${physnet}' unknown for VLAN provider network`);
        if (segId !== null && (segId < 1 || segId > MAX_VLAN_TAG)) throw invalidInput(`segmentation_id out of range (1 through ${MAX_VLAN_TAG})`);
      } else if (segId !== null) {
        throw invalidInput('segmentation_id requires physical_network for VLAN provider network');
      }
      return { networkType: 'vlan', physicalNetwork: physnet, segmentationId: segId };
    }
    case 'vxlan':
      if (physnet) throw invalidInput('provider:physical_network specified for vxlan network');
      if (segId !== null && (segId < 1 || segId > MAX_VXLAN_VNI)) throw invalidInput(`segmentation_id out of range (1 through ${MAX_VXLAN_VNI})`);
      return { networkType: 'vxlan', physicalNetwork: null, segmentationId: segId };
    default:
      throw invalidInput(`network_type value '${String(type)}' not supported`);
  }
}

// ---------------------------------------------------------------- allocation

const noNetworkAvailable = () =>
  new DomainError('unavailable', 'NoNetworkAvailable', 'Unable to create the network. No tenant network is available for allocation.');

/** Ranges a tenant network of `projectId` draws from: the project's own, else the shared ones. */
async function rangesFor(q: Q, type: string, projectId: string, physnet?: string | null): Promise<Array<[number, number, string | null]>> {
  let qb = q.selectFrom('network_segment_ranges').select(['minimum', 'maximum', 'physical_network', 'project_id', 'shared']).where('network_type', '=', type);
  if (physnet) qb = qb.where('physical_network', '=', physnet);
  const rows = await qb.orderBy('minimum').execute();
  const own = rows.filter((r) => r.shared === 0 && r.project_id === projectId);
  const pick = own.length ? own : rows.filter((r) => r.shared === 1);
  return pick.map((r) => [r.minimum, r.maximum, r.physical_network]);
}

async function taken(trx: Tx, type: string, physnet: string, id: number): Promise<boolean> {
  return !!(await trx
    .selectFrom('segment_allocations')
    .select('network_id')
    .where('network_type', '=', type)
    .where('physical_network', '=', physnet)
    .where('segmentation_id', '=', id)
    .executeTakeFirst());
}

/** The lowest free id of a range, or null. */
async function lowestFree(trx: Tx, type: string, physnet: string, lo: number, hi: number): Promise<number | null> {
  if (!(await taken(trx, type, physnet, lo))) return lo;
  const gap = await trx
    .selectFrom('segment_allocations as a')
    .select(sql<number>`a.segmentation_id + 1`.as('free'))
    .where('a.network_type', '=', type)
    .where('a.physical_network', '=', physnet)
    .where('a.segmentation_id', '>=', lo)
    .where('a.segmentation_id', '<', hi)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('segment_allocations as b')
            .select('b.network_id')
            .where('b.network_type', '=', type)
            .where('b.physical_network', '=', physnet)
            .whereRef('b.segmentation_id', '=', sql`a.segmentation_id + 1`),
        ),
      ),
    )
    .orderBy('a.segmentation_id')
    .limit(1)
    .executeTakeFirst();
  return gap ? Number(gap.free) : null;
}

/**
 * Reserve a segment for a network: an explicit id must be free; a tenant segment gets a random
 * free id of its ranges (a few random picks, then the lowest gap), as ML2 allocates.
 */
export async function reserveSegment(trx: Tx, networkId: string, segmentId: string, projectId: string, seg: SegmentSpec): Promise<SegmentSpec> {
  const physnet = seg.physicalNetwork ?? '';
  const reserve = async (type: string, net: string, id: number) => {
    try {
      await trx
        .insertInto('segment_allocations')
        .values({ network_type: type, physical_network: net, segmentation_id: id, network_id: networkId, segment_id: segmentId })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('TunnelIdInUse', 'Unable to create the network. The segmentation ID is in use.');
      throw e;
    }
  };
  if (seg.networkType === 'flat') {
    if (await taken(trx, 'flat', physnet, 0)) throw conflict('FlatNetworkInUse', `Unable to create the flat network. Physical network ${physnet} is in use.`);
    await reserve('flat', physnet, 0);
    return seg;
  }
  if (seg.segmentationId !== null) {
    if (await taken(trx, seg.networkType, physnet, seg.segmentationId)) {
      throw seg.networkType === 'vlan'
        ? conflict('VlanIdInUse', `Unable to create the network. The VLAN ${seg.segmentationId} on physical network ${physnet} is in use.`)
        : conflict('TunnelIdInUse', `Unable to create the network. The tunnel ID ${seg.segmentationId} is in use.`);
    }
    await reserve(seg.networkType, physnet, seg.segmentationId);
    return seg;
  }
  const ranges = (await rangesFor(trx, seg.networkType, projectId, seg.physicalNetwork)).filter(([lo, hi]) => lo <= hi);
  if (ranges.length === 0) throw noNetworkAvailable();
  for (let i = 0; i < 8; i++) {
    const [lo, hi, net] = ranges[Math.floor(Math.random() * ranges.length)];
    const id = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (!(await taken(trx, seg.networkType, net ?? '', id))) {
      await reserve(seg.networkType, net ?? '', id);
      return { ...seg, physicalNetwork: net, segmentationId: id };
    }
  }
  for (const [lo, hi, net] of ranges) {
    const id = await lowestFree(trx, seg.networkType, net ?? '', lo, hi);
    if (id !== null) {
      await reserve(seg.networkType, net ?? '', id);
      return { ...seg, physicalNetwork: net, segmentationId: id };
    }
  }
  throw noNetworkAvailable();
}

/**
 * Make a network's segment (and reserve it); the network's columns follow its first segment.
 * `extra.index`: the segment's place when the caller knows it (a network being created, whose
 * segments it adds in order), sparing the lookup of the network's last one.
 */
export async function addSegment(
  trx: Tx,
  network: { id: string; project_id: string },
  seg: SegmentSpec,
  extra: { name?: string | null; description?: string | null; revision?: number; index?: number } = {},
): Promise<NetworkSegmentsTable> {
  const id = newUuid();
  const reserved = await reserveSegment(trx, network.id, id, network.project_id, seg);
  const index =
    extra.index === undefined
      ? await trx
          .selectFrom('network_segments')
          .select(({ fn }) => fn.max('segment_index').as('max'))
          .where('network_id', '=', network.id)
          .executeTakeFirst()
      : { max: extra.index === 0 ? null : extra.index - 1 };
  const now = isoSeconds();
  const row: NetworkSegmentsTable = {
    id,
    project_id: network.project_id,
    network_id: network.id,
    name: extra.name ?? null,
    description: extra.description ?? null,
    network_type: reserved.networkType,
    physical_network: reserved.physicalNetwork,
    segmentation_id: reserved.segmentationId,
    segment_index: index?.max === null || index?.max === undefined ? 0 : Number(index.max) + 1,
    created_at: now,
    updated_at: now,
    revision_number: extra.revision ?? 0,
  };
  await trx.insertInto('network_segments').values(row).execute();
  if (extra.index === undefined) await syncNetworkColumns(trx, network.id);
  // Known place: only a first segment names the network's columns, and it is this one.
  else if (row.segment_index === 0) await setNetworkColumns(trx, network.id, row);
  return row;
}

/** The network's columns name its first segment (the data plane reads them). */
async function syncNetworkColumns(trx: Tx, networkId: string): Promise<void> {
  const first = await trx.selectFrom('network_segments').selectAll().where('network_id', '=', networkId).orderBy('segment_index').limit(1).executeTakeFirst();
  if (first) await setNetworkColumns(trx, networkId, first);
}

async function setNetworkColumns(trx: Tx, networkId: string, first: NetworkSegmentsTable): Promise<void> {
  await trx
    .updateTable('networks')
    .set({ network_type: first.network_type, physical_network: first.physical_network, segmentation_id: first.segmentation_id })
    .where('id', '=', networkId)
    .execute();
}

/** Release a network's segments with the network. */
export async function deleteNetworkSegments(trx: Tx, networkId: string): Promise<void> {
  await trx.deleteFrom('segment_allocations').where('network_id', '=', networkId).execute();
  await trx.deleteFrom('network_segments').where('network_id', '=', networkId).execute();
}

/** Segments of networks, in order, by network (for provider attributes). */
export async function segmentsOf(q: Q, networkIds: string[]): Promise<Map<string, NetworkSegmentsTable[]>> {
  const out = new Map<string, NetworkSegmentsTable[]>();
  for (const chunk of chunks(networkIds, IN_CHUNK)) {
    // Each network's segments in order, as the index (network, segment_index) holds them.
    const rows = await q.selectFrom('network_segments').selectAll().where('network_id', 'in', chunk).orderBy('network_id').orderBy('segment_index').execute();
    for (const r of rows) {
      const list = out.get(r.network_id);
      if (list) list.push(r);
      else out.set(r.network_id, [r]);
    }
  }
  return out;
}

/** A network's segments (what its provider attributes are made of) read with it by a show (`ResourceDef.inline`), in order. */
export const networkSegmentsInline: InlineAttr<'networks'> = {
  rows: (eb) =>
    eb
      .selectFrom('network_segments')
      .select(['network_segments.network_type', 'network_segments.physical_network', 'network_segments.segmentation_id', 'network_segments.segment_index'])
      .whereRef('network_segments.network_id', '=', 'networks.id'),
  columns: ['network_type', 'physical_network', 'segmentation_id', 'segment_index'],
  // Sorted here, as segmentsOf's ORDER BY gives them: a network has one or a few, and an ORDER BY
  // inside the aggregate costs SQLite a sorter for every network shown.
  value: (rows) =>
    rows
      .sort((a, b) => (a[3] as number) - (b[3] as number))
      .map(([network_type, physical_network, segmentation_id]) => ({
        network_type: network_type as string,
        physical_network: physical_network as string | null,
        segmentation_id: segmentation_id as number | null,
      })),
};

/** The `multi-provider` view of a segment. */
export function providerView(s: Pick<NetworkSegmentsTable, 'network_type' | 'physical_network' | 'segmentation_id'>) {
  return { 'provider:network_type': s.network_type, 'provider:physical_network': s.physical_network, 'provider:segmentation_id': s.segmentation_id };
}

/** type:network_segments: a list of dicts with the provider keys. */
export const networkSegments: Validator = (v) => {
  if (!Array.isArray(v)) return `'${String(v)}' is not a list`;
  for (const s of v) {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return `'${String(s)}' is not a dictionary`;
    const keys = Object.keys(s);
    const bad = keys.filter((k) => !['provider:network_type', 'provider:physical_network', 'provider:segmentation_id'].includes(k));
    if (bad.length) return `Unrecognized attribute(s) '${bad.join(', ')}'`;
  }
  return undefined;
};

// ---------------------------------------------------------------- the segments API

interface SegmentComputed {
  name: string | null;
}

export const segmentDef: ResourceDef<'network_segments', SegmentComputed> = {
  name: 'segment',
  collection: 'segments',
  table: 'network_segments',
  label: 'Segment',
  notFound: (id) => notFound('SegmentNotFound', `Segment ${id} could not be found.`),
  adminOnly: true,
  initialRevision: 1,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    network_id: { post: true, filter: true, sort: true, column: 'network_id', validate: uuid },
    name: { post: true, put: true, default: null, filter: true, sort: true, column: 'name', validate: (v) => (v === null ? undefined : string(255)(v)) },
    description: { post: true, put: true, default: null, filter: true, column: 'description', validate: (v) => (v === null ? undefined : string(255)(v)) },
    physical_network: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'physical_network', validate: string(64) },
    network_type: { post: true, filter: true, sort: true, column: 'network_type', validate: string(32) },
    segmentation_id: { post: true, default: NOT_SPECIFIED, sort: true, column: 'segmentation_id', codec: 'int', convert: toInt },
    tenant_id: { ...standardAttrs().tenant_id, visible: false },
    project_id: { ...standardAttrs().project_id, visible: false, filter: false },
    revision_number: standardAttrs().revision_number,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
  },
};

export function segmentOps(cfg: TypeDriverConfig): ResourceOps<'network_segments', SegmentComputed> {
  return {
    def: segmentDef,
    async create(w, ctx, p) {
      if (!ctx.isAdmin) throw policyError('create_segment');
      const v = p.values;
      const network = await w.trx
        .selectFrom('networks')
        .select(['id', 'project_id'])
        .where('id', '=', v.network_id as string)
        .executeTakeFirst();
      if (!network) throw resourceNotFound('Network', v.network_id as string);
      const spec = validateSegment(v, cfg);
      const seg = await addSegment(w.trx, network, spec, { name: v.name as string | null, description: v.description as string | null, revision: 1 });
      // ML2 rewrites the network when a segment joins it (two revisions in Neutron).
      await bumpRevision(w.trx, 'networks', network.id);
      await bumpRevision(w.trx, 'networks', network.id);
      w.changed('network', network.id, network.project_id, 'update');
      return seg.id;
    },
    async update(w, ctx, row, p) {
      if (!ctx.isAdmin) throw policyError('update_segment');
      await updateRow(w.trx, segmentDef, row, toColumns(segmentDef, p.values));
    },
    async delete(w, ctx, row) {
      if (!ctx.isAdmin) throw policyError('delete_segment');
      const subnets = await w.trx.selectFrom('subnets').select('id').where('segment_id', '=', row.id).execute();
      if (subnets.length) {
        throw conflict(
          'SegmentInUse',
          `Segment '${row.id}' cannot be deleted: The segment is still associated with subnet(s) ${subnets.map((s) => s.id).join(', ')}.`,
        );
      }
      await w.trx.deleteFrom('segment_allocations').where('segment_id', '=', row.id).execute();
      await w.trx.deleteFrom('network_segments').where('id', '=', row.id).execute();
      await syncNetworkColumns(w.trx, row.network_id);
      await bumpRevision(w.trx, 'networks', row.network_id);
      await bumpRevision(w.trx, 'networks', row.network_id);
      w.changed('network', row.network_id, row.project_id, 'update');
    },
  };
}

// ---------------------------------------------------------------- network segment ranges

interface RangeComputed {
  project_id: string | null;
  available: number[];
  used: Record<string, string[]>;
}

const rangeNotFound = (id: string) => notFound('NetworkSegmentRangeNotFound', `Network Segment Range ${id} could not be found.`);

export const segmentRangeDef: ResourceDef<'network_segment_ranges', RangeComputed> = {
  name: 'network_segment_range',
  collection: 'network_segment_ranges',
  table: 'network_segment_ranges',
  label: 'Network Segment Range',
  notFound: rangeNotFound,
  adminOnly: true,
  taggable: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    default: { column: 'is_default', codec: 'bool' },
    shared: { post: true, default: true, column: 'shared', codec: 'bool', convert: toBoolean },
    project_id: { post: true, filter: true, sort: true, column: 'project_id', validate: string(255) },
    network_type: {
      post: true,
      default: NOT_SPECIFIED,
      filter: true,
      column: 'network_type',
      validate: (v) => (['vlan', 'vxlan', 'gre', 'geneve'].includes(v as string) ? undefined : `${String(v)} is not in valid_values`),
    },
    physical_network: { post: true, default: NOT_SPECIFIED, filter: true, column: 'physical_network', validate: string(64) },
    minimum: { post: true, put: true, column: 'minimum', codec: 'int', convert: toInt, validate: rangeValidator },
    maximum: { post: true, put: true, column: 'maximum', codec: 'int', convert: toInt, validate: rangeValidator },
    revision_number: standardAttrs().revision_number,
    description: standardAttrs().description,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    available: {},
    used: {},
    tags: standardAttrs().tags,
    tenant_id: { ...standardAttrs().tenant_id, visible: false },
  },
  async load(q, rows) {
    for (const r of rows) {
      r.__project_id = r.project_id === '' ? null : r.project_id;
      const allocs = await q
        .selectFrom('segment_allocations as a')
        .innerJoin('networks as n', 'n.id', 'a.network_id')
        .select(['a.segmentation_id', 'n.project_id'])
        .where('a.network_type', '=', r.network_type)
        .where('a.physical_network', '=', r.physical_network ?? '')
        .where('a.segmentation_id', '>=', r.minimum)
        .where('a.segmentation_id', '<=', r.maximum)
        .orderBy('a.segmentation_id')
        .execute();
      const usedIds = new Set(allocs.map((a) => Number(a.segmentation_id)));
      const used: Record<string, string[]> = Object.create(null);
      for (const a of allocs) {
        used[a.project_id] ??= [];
        used[a.project_id].push(String(a.segmentation_id));
      }
      r.__used = used;
      const available: number[] = [];
      // A range is listed id by id, as Neutron does; the configured default ranges can be large.
      for (let i = r.minimum; i <= r.maximum && available.length < 100_000; i++) if (!usedIds.has(i)) available.push(i);
      r.__available = available;
    }
  },
};

function rangeValidator(v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `'${String(v)}' is not an integer`;
  if (v < 1) return `'${v}' is too small - must be at least '1'`;
  if (v > 4294967295) return `'${v}' is too large - must be no larger than '4294967295'`;
  return undefined;
}

/** The default ranges follow the configuration at start-up (Neutron rewrites them on restart). */
export async function syncDefaultRanges(trx: Tx, cfg: TypeDriverConfig): Promise<void> {
  const wanted: Array<{ type: string; physnet: string | null; min: number; max: number }> = [];
  const [lo, hi] = cfg.vxlanRange();
  wanted.push({ type: 'vxlan', physnet: null, min: lo, max: hi });
  for (const r of cfg.vlanRanges())
    if (r.minimum !== undefined && r.maximum !== undefined) wanted.push({ type: 'vlan', physnet: r.physicalNetwork, min: r.minimum, max: r.maximum });
  const current = await trx.selectFrom('network_segment_ranges').selectAll().where('is_default', '=', 1).execute();
  const key = (t: string, p: string | null, a: number, b: number) => `${t}/${p ?? ''}/${a}/${b}`;
  const want = new Set(wanted.map((w) => key(w.type, w.physnet, w.min, w.max)));
  for (const c of current)
    if (!want.has(key(c.network_type, c.physical_network, c.minimum, c.maximum)))
      await trx.deleteFrom('network_segment_ranges').where('id', '=', c.id).execute();
  const have = new Set(current.map((c) => key(c.network_type, c.physical_network, c.minimum, c.maximum)));
  for (const w of wanted) {
    if (have.has(key(w.type, w.physnet, w.min, w.max))) continue;
    await insertRow(trx, segmentRangeDef, newUuid(), {
      project_id: '',
      name: '',
      description: '',
      is_default: 1,
      shared: 1,
      network_type: w.type,
      physical_network: w.physnet,
      minimum: w.min,
      maximum: w.max,
    });
  }
}

const rangeError = (msg: string) => invalidInput(msg);

async function checkRangeInUse(
  trx: Tx,
  row: { network_type: string; physical_network: string | null; minimum: number; maximum: number },
  min: number,
  max: number,
) {
  const outside = await trx
    .selectFrom('segment_allocations')
    .select('segmentation_id')
    .where('network_type', '=', row.network_type)
    .where('physical_network', '=', row.physical_network ?? '')
    .where('segmentation_id', '>=', row.minimum)
    .where('segmentation_id', '<=', row.maximum)
    .where((eb) => eb.or([eb('segmentation_id', '<', min), eb('segmentation_id', '>', max)]))
    .executeTakeFirst();
  return !!outside;
}

/**
 * NetworkSegmentRangePlugin._are_allocated_segments_in_range_impacted, as Neutron words it: with
 * segments allocated in the range (lowest `lo`, highest `hi`), an update is refused when its new
 * minimum is at or above `lo` or its new maximum at or below `hi` (so even a minimum equal to
 * the lowest allocated id is refused).
 */
async function updateImpactsSegments(
  trx: Tx,
  row: { network_type: string; physical_network: string | null; minimum: number; maximum: number },
  min: number,
  max: number,
): Promise<boolean> {
  const used = await trx
    .selectFrom('segment_allocations')
    .select((eb) => [eb.fn.min('segmentation_id').as('lo'), eb.fn.max('segmentation_id').as('hi')])
    .where('network_type', '=', row.network_type)
    .where('physical_network', '=', row.physical_network ?? '')
    .where('segmentation_id', '>=', row.minimum)
    .where('segmentation_id', '<=', row.maximum)
    .executeTakeFirst();
  if (used?.lo == null || used.hi == null) return false;
  return min >= Number(used.lo) || max <= Number(used.hi);
}

export function segmentRangeOps(): ResourceOps<'network_segment_ranges', RangeComputed> {
  return {
    def: segmentRangeDef,
    async create(w, ctx, p) {
      if (!ctx.isAdmin) throw policyError('create_network_segment_range');
      const v = p.values;
      const type = v.network_type as string | undefined;
      if (type === undefined) throw rangeError('network_type must be specified');
      const shared = v.shared !== false;
      const physnet = (v.physical_network as string | undefined) || null;
      if (type === 'vlan' && !physnet) throw rangeError('physical_network must be specified for vlan network segment range');
      const min = v.minimum as number;
      const max = v.maximum as number;
      if (type === 'vlan' && (min > MAX_VLAN_TAG || max > MAX_VLAN_TAG)) throw rangeError(`Segmentation ID '${Math.max(min, max)}' is not in range.`);
      if (min > max) throw rangeError(`Network segment range minimum ${min} is greater than maximum ${max}`);
      const id = newUuid();
      await insertRow(w.trx, segmentRangeDef, id, {
        project_id: shared ? '' : (v.project_id as string),
        name: v.name as string,
        description: v.description as string,
        is_default: 0,
        shared: shared ? 1 : 0,
        network_type: type,
        physical_network: type === 'vlan' ? physnet : null,
        minimum: min,
        maximum: max,
      });
      return id;
    },
    async update(w, ctx, row, p) {
      if (!ctx.isAdmin) throw policyError('update_network_segment_range');
      if (row.is_default === 1) {
        throw new DomainError(
          'bad_request',
          'NetworkSegmentRangeDefaultReadOnly',
          `Network Segment Range ${row.id} is a default segment range which could not be updated or deleted.`,
        );
      }
      const v = p.values;
      const min = (v.minimum as number | undefined) ?? row.minimum;
      const max = (v.maximum as number | undefined) ?? row.maximum;
      if (min > max) throw rangeError(`Network segment range minimum ${min} is greater than maximum ${max}`);
      if (await updateImpactsSegments(w.trx, row, min, max)) {
        throw conflict('NetworkSegmentRangeReferencedByProject', `Network Segment Range ${row.id} is referenced by one or more tenant networks.`);
      }
      await updateRow(w.trx, segmentRangeDef, row, toColumns(segmentRangeDef, v));
    },
    async delete(w, ctx, row) {
      if (!ctx.isAdmin) throw policyError('delete_network_segment_range');
      if (row.is_default === 1) {
        throw new DomainError(
          'bad_request',
          'NetworkSegmentRangeDefaultReadOnly',
          `Network Segment Range ${row.id} is a default segment range which could not be updated or deleted.`,
        );
      }
      if (row.shared === 0 && (await checkRangeInUse(w.trx, row, row.maximum + 1, row.minimum - 1))) {
        throw conflict('NetworkSegmentRangeReferencedByProject', `Network Segment Range ${row.id} is referenced by one or more tenant networks.`);
      }
      await w.trx.deleteFrom('network_segment_ranges').where('id', '=', row.id).execute();
    },
  };
}

/** Neutron checks a subnet's segment belongs to its network, and that subnets agree on segments. */
export async function checkSubnetSegment(q: Q, networkId: string, segmentId: string | null): Promise<void> {
  if (segmentId) {
    const seg = await q.selectFrom('network_segments').select(['id', 'network_id']).where('id', '=', segmentId).executeTakeFirst();
    if (!seg) throw notFound('SegmentNotFound', `Segment ${segmentId} could not be found.`);
    if (seg.network_id !== networkId) {
      throw new DomainError(
        'bad_request',
        'NetworkIdsDontMatch',
        `The subnet's network id, '${networkId}', doesn't match the network_id of segment '${segmentId}'`,
      );
    }
  }
  const siblings = await q.selectFrom('subnets').select('segment_id').where('network_id', '=', networkId).execute();
  if (siblings.some((s) => (s.segment_id === null) !== (segmentId === null))) {
    throw new DomainError(
      'bad_request',
      'SubnetsNotAllAssociatedWithSegments',
      `All of the subnets on network '${networkId}' must either all be associated with segments or all not associated with any segment.`,
    );
  }
}
