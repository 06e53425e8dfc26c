/**
 * Networks (Neutron's core resource with `provider`, `multi-provider`, `external-net`,
 * `net-mtu(-writable)`, `port-security`, `dns-integration`, `l2_adjacency`, `default-subnetpools`'
 * `is_default` and `rbac-policies`). `shared` and `router:external` are what RBAC policies say:
 * `shared` is true for the caller when a policy shares the network with everyone or with its
 * project, and `router:external` is the external-network flag that `access_as_external` policies
 * keep. The columns `shared` (a wildcard policy exists) and `external` are caches others read.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import { type Dialect, IN_CHUNK, binaryOrder, chunks, creationOrder, fromBool, fromJson, jsonRowObject, jsonRowsOf, prepared } from '../../store/db.js';
import type { DB, NetworkSegmentsTable, NetworksTable, SubnetsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { DomainError, conflict, invalidInput, resourceNotFound } from '../errors.js';
import { networkZones, networkZonesInline, validateAvailabilityZones } from './zones.js';
import { NOT_SPECIFIED, availabilityZoneHints, nonNegative, string, toBoolean, toInt, uuid } from './attributes.js';
import { dnsDomain, lowerCase } from './dns.js';
import {
  ACCESS_EXTERNAL,
  ACCESS_SHARED,
  type RbacObjectType,
  RbacRefused,
  WILDCARD,
  deleteObjectPolicies,
  hasWildcard,
  insertPolicy,
  rbacPolicyInUse,
  sharedIds,
  sharedInline,
  sharedWith,
} from './rbac.js';
import {
  type NetworkQos,
  createNetworkQos,
  loadNetworkQos,
  networkQosColumns,
  networkQosInline,
  networkQosOf,
  qosPolicyIdAttr,
  updateNetworkQos,
} from './qos.js';
import type { ResourceOps } from './registry.js';
import { type Loaded, type ResourceDef, bumpRevision, insertRow, isFresh, omitted, standardAttrs, toColumns, updateRow } from './resource.js';
import {
  type SegmentSpec,
  type TypeDriverConfig,
  addSegment,
  deleteNetworkSegments,
  networkSegments,
  networkSegmentsInline,
  providerView,
  segmentsOf,
  validateSegment,
} from './segments.js';
import { ensureDefaultSecurityGroup } from './securitygroups.js';

export const TUNNEL_MTU = 1450;
export const PHYSICAL_MTU = 1500;

/** Attributes computed for rendering. */
interface NetworkComputed {
  shared: boolean;
  subnets: string[];
  availability_zones: string[];
  ipv4_address_scope: string | null;
  ipv6_address_scope: string | null;
  l2_adjacency: boolean;
  is_default: boolean;
  'provider:network_type': string | null;
  'provider:physical_network': string | null;
  'provider:segmentation_id': number | null;
  segments: Array<ReturnType<typeof providerView>>;
  qos_policy_id: string | null;
  /** What load derives the attributes above from, read with the network by a show (`inline`); not rendered. */
  subnet_facts: SubnetFact[];
  shared_with_caller: boolean;
  segment_rows: Array<Pick<NetworkSegmentsTable, 'network_type' | 'physical_network' | 'segmentation_id'>>;
}

/** What a network's attributes need of each of its subnets. */
interface SubnetFact {
  id: string;
  ip_version: number;
  segment_id: string | null;
  address_scope_id: string | null;
}

const PROVIDER = ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id'] as const;

/** GET's order (the ML2 dict, then each extension's keys), and the create answer's. */
const SHOW_ORDER = [
  'id',
  'name',
  'tenant_id',
  'admin_state_up',
  'mtu',
  'status',
  'subnets',
  'shared',
  'availability_zone_hints',
  'availability_zones',
  'ipv4_address_scope',
  'ipv6_address_scope',
  'router:external',
  'description',
  'port_security_enabled',
  'qos_policy_id',
  'dns_domain',
  'l2_adjacency',
  'is_default',
  'tags',
  'revision_number',
  'created_at',
  'updated_at',
  'project_id',
  ...PROVIDER,
  'segments',
];
const CREATE_ORDER = [
  'id',
  'name',
  'tenant_id',
  'admin_state_up',
  'mtu',
  'status',
  'subnets',
  'shared',
  'project_id',
  'port_security_enabled',
  'qos_policy_id',
  'dns_domain',
  'router:external',
  ...PROVIDER,
  'segments',
  'is_default',
  'availability_zone_hints',
  'availability_zones',
  'ipv4_address_scope',
  'ipv6_address_scope',
  'description',
  'l2_adjacency',
  'tags',
  'revision_number',
  'created_at',
  'updated_at',
];

const providerAttr = (column: string, validate: (v: unknown) => string | undefined, extra: object = {}) => ({
  post: true,
  put: true,
  default: NOT_SPECIFIED,
  filter: true,
  adminOnly: true,
  adminOnlyRead: true,
  column,
  validate,
  ...extra,
});

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
    // Derived from RBAC policies (see load); the filter is a special one.
    shared: { post: true, put: true, default: false, adminOnly: true, convert: toBoolean },
    qos_policy_id: qosPolicyIdAttr,
    availability_zone_hints: { post: true, default: [], sort: true, column: 'availability_zone_hints', codec: 'json', validate: availabilityZoneHints },
    availability_zones: {},
    ipv4_address_scope: {},
    ipv6_address_scope: {},
    'router:external': { post: true, put: true, default: false, filter: true, adminOnly: true, column: 'external', codec: 'bool', convert: toBoolean },
    description: standardAttrs().description,
    port_security_enabled: { post: true, put: true, default: true, column: 'port_security_enabled', codec: 'bool', convert: toBoolean },
    dns_domain: { post: true, put: true, default: '', column: 'dns_domain', convert: lowerCase, validate: dnsDomain },
    l2_adjacency: {},
    is_default: { post: true, put: true, default: false, adminOnly: true, convert: toBoolean },
    tags: standardAttrs().tags,
    revision_number: standardAttrs().revision_number,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    project_id: standardAttrs().project_id,
    'provider:network_type': providerAttr('network_type', string(32)),
    'provider:physical_network': providerAttr('physical_network', string(64)),
    'provider:segmentation_id': providerAttr('segmentation_id', () => undefined, { codec: 'int', convert: toInt }),
    segments: { post: true, put: true, default: NOT_SPECIFIED, adminOnly: true, adminOnlyRead: true, validate: networkSegments },
  },
  order: { show: SHOW_ORDER, create: CREATE_ORDER, bulk: CREATE_ORDER, update: SHOW_ORDER },
  // Members also read networks shared with them or made external for them.
  sharedWhere: (eb, ctx) => eb.or([eb('networks.shared', '=', 1), sharedWith(eb, 'network', 'networks.id', ctx, [ACCESS_SHARED, ACCESS_EXTERNAL])]),
  specialFilters: {
    shared: (eb, values, ctx) => sharedFilter(eb, values, ctx),
    is_default: (eb, values) => {
      const want = toBoolean(values[0]) as boolean;
      const isDefault = eb.and([eb('networks.external', '=', 1), eb('networks.is_default', '=', 1)]);
      return want ? isDefault : eb.not(isDefault);
    },
  },
  // A show reads the network's subnets, zones, segments, QoS policy and sharing with the caller
  // with it, in one statement (showRow); a list and a write's answer read them in load, one
  // statement for all the rows each.
  inline: {
    subnet_facts: {
      rows: (eb) =>
        eb
          .selectFrom('subnets')
          .leftJoin('subnetpools', 'subnetpools.id', 'subnets.subnetpool_id')
          .select(['subnets.id', 'subnets.ip_version', 'subnets.segment_id', 'subnetpools.address_scope_id', 'subnets.created_at'])
          .whereRef('subnets.network_id', '=', 'networks.id'),
      columns: ['id', 'ip_version', 'segment_id', 'address_scope_id', 'created_at'],
      // In creation order, as subnetFacts reads them; sorted here (a network has a few) rather than
      // by a sorter inside the aggregate.
      value: (rows) =>
        rows
          .sort((a, b) => binaryOrder(a[4] as string, b[4] as string) || binaryOrder(a[0] as string, b[0] as string))
          .map(([id, ip_version, segment_id, address_scope_id]) => ({ id, ip_version, segment_id, address_scope_id }) as SubnetFact),
    },
    availability_zones: networkZonesInline,
    segment_rows: networkSegmentsInline,
    qos_policy_id: networkQosInline,
    shared_with_caller: sharedInline('network', 'networks'),
  },
  async load(q, rows, ctx, view) {
    const notWildcard: string[] = [];
    for (const r of rows) {
      r.__shared = r.shared === 1;
      if (r.shared !== 1) notWildcard.push(r.id);
      // The auto-allocation extension adds is_default to external networks' dicts; a create
      // answers the requested value whatever the network.
      r.__is_default = view === 'create' || view === 'bulk' || r.external === 1 ? r.is_default === 1 : undefined;
    }
    // A network just made has no subnets and no DHCP agents yet, and is shared by a grant only when
    // made `shared` (its column says so): nothing of those to look up.
    const fresh = isFresh(view);
    // What a show read with the row (inline) is there already; inline attributes come together.
    const shown = rows.every((r) => r.__subnet_facts !== undefined);
    if (notWildcard.length && ctx.projectId && !fresh) {
      const shared = shown ? undefined : await sharedIds(q, 'network', notWildcard, ctx);
      for (const r of rows) if (shared ? shared.has(r.id) : r.__shared_with_caller) r.__shared = true;
    }
    const ids = rows.map((r) => r.id);
    if (!shown) {
      const zones = fresh ? new Map<string, string[]>() : await networkZones(q, ids);
      const facts = fresh ? new Map<string, SubnetFact[]>() : await subnetFacts(q, ids);
      for (const r of rows) {
        r.__availability_zones = zones.get(r.id) ?? [];
        r.__subnet_facts = facts.get(r.id) ?? [];
      }
    }
    for (const r of rows) Object.assign(r, subnetAttrs(r.__subnet_facts ?? []));
    // Provider attributes and segments are the admin's to read: only then are segments looked up
    // (unless the create that made them said what they are: Prepared.known).
    if (ctx.isAdmin && !rows.every((r) => r['__provider:network_type'] !== undefined)) {
      const segs = shown ? undefined : await segmentsOf(q, ids);
      for (const r of rows) Object.assign(r, providerAttrs((segs ? segs.get(r.id) : r.__segment_rows) ?? []));
    }
    if (!rows.every((r) => r.__qos_policy_id !== undefined)) await loadNetworkQos(q, rows);
  },
};

/** Each network's subnets in creation order, as the index (network, created, id) holds them. */
async function subnetFacts(q: Q, networkIds: string[]): Promise<Map<string, SubnetFact[]>> {
  const out = new Map<string, SubnetFact[]>();
  for (const chunk of chunks(networkIds, IN_CHUNK)) {
    const subs = await q
      .selectFrom('subnets')
      .leftJoin('subnetpools', 'subnetpools.id', 'subnets.subnetpool_id')
      .select(['subnets.id', 'subnets.network_id', 'subnets.ip_version', 'subnets.segment_id', 'subnetpools.address_scope_id'])
      .where('subnets.network_id', 'in', chunk)
      .orderBy('subnets.network_id')
      .orderBy('subnets.created_at')
      .orderBy('subnets.id')
      .execute();
    for (const { network_id, ...fact } of subs) {
      const list = out.get(network_id);
      if (list) list.push(fact);
      else out.set(network_id, [fact]);
    }
  }
  return out;
}

/** `subnets`, the address scopes and `l2_adjacency` of a network from its subnets in creation order. */
function subnetAttrs(
  facts: readonly SubnetFact[],
): Pick<Loaded<'networks', NetworkComputed>, '__subnets' | '__ipv4_address_scope' | '__ipv6_address_scope' | '__l2_adjacency'> {
  let v4: string | null = null;
  let v6: string | null = null;
  for (const s of facts) {
    if (!s.address_scope_id) continue;
    if (s.ip_version === 4) v4 = s.address_scope_id;
    else v6 = s.address_scope_id;
  }
  return {
    __subnets: facts.map((s) => s.id),
    __ipv4_address_scope: v4,
    __ipv6_address_scope: v6,
    // ML2's l2_adjacency looks at the first subnet only.
    __l2_adjacency: !facts[0]?.segment_id,
  };
}

/**
 * `?shared=` on networks (and, through their network, subnets): shared with everyone or the
 * caller's project by an access_as_shared policy, as neutron-lib's apply_filters translates it.
 */
export function sharedFilter<T extends keyof DB>(
  eb: ExpressionBuilder<DB, T>,
  values: string[],
  ctx: RequestContext,
  idRef = 'networks.id',
): Expression<SqlBool> {
  const want = toBoolean(values[0]) as boolean;
  const shared = sharedWith(eb, 'network', idRef, ctx, [ACCESS_SHARED]);
  return want ? shared : eb.not(shared);
}

/** A network's provider attributes (or multi-provider `segments`) from its segments in order. */
function providerAttrs(list: ReadonlyArray<Pick<NetworkSegmentsTable, 'network_type' | 'physical_network' | 'segmentation_id'>>): Record<string, unknown> {
  // multi-provider: several segments replace the provider attributes.
  if (list.length > 1) return { __segments: list.map(providerView), ...Object.fromEntries(PROVIDER.map((k) => [`__${k}`, omitted()])) };
  const one = list[0];
  return {
    __segments: undefined,
    '__provider:network_type': one ? one.network_type : null,
    '__provider:physical_network': one ? one.physical_network : null,
    '__provider:segmentation_id': one ? one.segmentation_id : null,
  };
}

/** The requested segments of a create: `provider:*` or `segments` (multi-provider), validated. */
function requestedSegments(v: Record<string, unknown>, cfg: TypeDriverConfig): SegmentSpec[] | null {
  const provider = PROVIDER.some((k) => v[k] !== undefined);
  if (provider) {
    if (v.segments !== undefined) throw invalidInput('Segments and provider values cannot both be set.');
    return [
      validateSegment(
        { network_type: v['provider:network_type'], physical_network: v['provider:physical_network'], segmentation_id: v['provider:segmentation_id'] },
        cfg,
      ),
    ];
  }
  if (v.segments !== undefined) {
    const segs = (v.segments as Array<Record<string, unknown>>).map((s) =>
      validateSegment(
        {
          network_type: s['provider:network_type'],
          physical_network: s['provider:physical_network'],
          segmentation_id: s['provider:segmentation_id'] === undefined ? undefined : toInt(s['provider:segmentation_id']),
        },
        cfg,
      ),
    );
    const keys = segs
      .filter((s) => s.segmentationId !== null || s.networkType === 'flat')
      .map((s) => `${s.networkType}/${s.physicalNetwork}/${s.segmentationId}`);
    if (new Set(keys).size !== keys.length) throw invalidInput('Duplicate segment entry in request.');
    return segs;
  }
  return null;
}

/** The MTU a network may have: the smallest its segments allow. */
function maxMtu(segs: SegmentSpec[]): number {
  return segs.some((s) => s.networkType === 'vxlan') ? TUNNEL_MTU : PHYSICAL_MTU;
}

export interface NetworkOptions extends TypeDriverConfig {}

export function networkOps(opts: NetworkOptions): ResourceOps<'networks', NetworkComputed> {
  return {
    def: networkDef,
    quota: 'network',
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const segs = requestedSegments(v, opts) ?? [{ networkType: 'vxlan', physicalNetwork: null, segmentationId: null }];
      const id = newUuid();
      const limit = maxMtu(segs);
      let mtu = (v.mtu as number) || limit;
      if (mtu > limit) throw invalidInput(`Requested MTU is too big, maximum is ${limit}`);
      if (mtu < 68) mtu = 68;
      // ML2's create_network: the hints must name zones of DHCP agents.
      await validateAvailabilityZones(trx, 'network', (v.availability_zone_hints as string[] | undefined) ?? []);
      // A project's first network brings its default security group (Neutron's BEFORE_CREATE hook).
      const project = v.project_id as string;
      if (project && (ctx.isAdmin || project === ctx.projectId)) await ensureDefaultSecurityGroup(w, project);
      const external = v['router:external'] === true;
      const isDefault = v.is_default === true;
      if (isDefault && external) await checkOneDefault(trx, id);
      const cols = toColumns(networkDef, v);
      await insertRow(trx, networkDef, id, {
        ...cols,
        status: 'ACTIVE',
        mtu,
        shared: v.shared === true ? 1 : 0,
        external: external ? 1 : 0,
        is_default: isDefault ? 1 : 0,
        network_type: segs[0].networkType,
        physical_network: segs[0].physicalNetwork,
        segmentation_id: null,
      });
      // A new network has no segments yet: they take places 0, 1, … in the order given.
      const made: NetworkSegmentsTable[] = [];
      for (const [index, seg] of segs.entries()) made.push(await addSegment(trx, { id, project_id: project }, seg, { index }));
      const qos = await createNetworkQos(w, ctx, { id, project_id: project, physical_network: segs[0].physicalNetwork }, v.qos_policy_id);
      // The answer's provider attributes and QoS policy are what was just written.
      p.known = { ...providerAttrs(made), __qos_policy_id: qos };
      if (v.shared === true)
        await insertPolicy(trx, { project_id: project, object_type: 'network', object_id: id, action: ACCESS_SHARED, target_tenant: WILDCARD });
      if (external) await insertPolicy(trx, { project_id: project, object_type: 'network', object_id: id, action: ACCESS_EXTERNAL, target_tenant: WILDCARD });
      return id;
    },

    async update(w, ctx, row, p) {
      const { trx } = w;
      const v = { ...p.values };
      if ('qos_policy_id' in v) await updateNetworkQos(w, ctx, row, v.qos_policy_id);
      const end: Record<string, unknown> = {};
      if (PROVIDER.some((k) => k in v) || 'segments' in v) {
        const segs = await segmentsOf(trx, [row.id]);
        const current = segs.get(row.id) ?? [];
        const one = current[0];
        const same =
          current.length === 1 &&
          !('segments' in v) &&
          (v['provider:network_type'] ?? one.network_type) === one.network_type &&
          (v['provider:physical_network'] ?? one.physical_network) === one.physical_network &&
          (v['provider:segmentation_id'] ?? one.segmentation_id) === one.segmentation_id;
        if (!same) throw invalidInput('Only VLAN type networks can be updated.');
        for (const k of [...PROVIDER, 'segments']) delete v[k];
      }
      if ('mtu' in v) {
        const limit = row.network_type === 'vxlan' ? TUNNEL_MTU : PHYSICAL_MTU;
        const mtu = (v.mtu as number) || limit;
        if (mtu > limit) throw invalidInput(`Requested MTU is too big, maximum is ${limit}`);
        v.mtu = mtu;
      }
      const cols = toColumns(networkDef, v);
      if ('shared' in v) {
        const wildcard = await hasWildcard(trx, 'network', row.id);
        if (v.shared === false && wildcard) {
          await assertNotUsedByOthers(trx, row);
          await trx
            .deleteFrom('rbac_policies')
            .where('object_type', '=', 'network')
            .where('object_id', '=', row.id)
            .where('action', '=', ACCESS_SHARED)
            .where('target_tenant', '=', WILDCARD)
            .execute();
        } else if (v.shared === true && !wildcard) {
          await insertPolicy(trx, { project_id: row.project_id, object_type: 'network', object_id: row.id, action: ACCESS_SHARED, target_tenant: WILDCARD });
        }
        cols.shared = v.shared ? 1 : 0;
      }
      if ('router:external' in v) {
        const want = v['router:external'] === true;
        if (want && row.external !== 1) {
          await insertPolicy(trx, { project_id: row.project_id, object_type: 'network', object_id: row.id, action: ACCESS_EXTERNAL, target_tenant: WILDCARD });
          cols.is_default = 0;
        } else if (!want && row.external === 1) {
          await unsetExternal(trx, row.id);
          cols.is_default = 0;
        }
      }
      const external = 'router:external' in v ? v['router:external'] === true : row.external === 1;
      if ('is_default' in v) {
        if (external) {
          if (v.is_default === true && row.is_default !== 1) await checkOneDefault(trx, row.id);
          cols.is_default = v.is_default ? 1 : 0;
        } else {
          // Not an external network: Neutron only echoes the value in its answer.
          end.is_default = v.is_default;
          delete cols.is_default;
        }
      }
      // is_default lives beside the network (its external-network row): alone, it does not revise it.
      if (Object.keys(v).every((k) => k === 'is_default')) {
        if ('is_default' in cols) await trx.updateTable('networks').set({ is_default: cols.is_default }).where('id', '=', row.id).execute();
        return { end };
      }
      await updateRow(trx, networkDef, row, cols);
      return { end };
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
      await deleteNetworkSegments(trx, row.id);
      await deleteObjectPolicies(trx, 'network', row.id);
      await trx.deleteFrom('networks').where('id', '=', row.id).execute();
    },
  };
}

/** Only one external network is the default (auto-allocation's DefaultExternalNetworkExists). */
async function checkOneDefault(trx: Tx, networkId: string): Promise<void> {
  const other = await trx
    .selectFrom('networks')
    .select('id')
    .where('external', '=', 1)
    .where('is_default', '=', 1)
    .where('id', '!=', networkId)
    .executeTakeFirst();
  if (other) throw conflict('DefaultExternalNetworkExists', `A default external network already exists: ${other.id}.`);
}

/** `router:external` off: refused while routers use it as their gateway, then every external policy goes. */
async function unsetExternal(trx: Tx, networkId: string): Promise<void> {
  const gw = await trx
    .selectFrom('ports')
    .select('id')
    .where('network_id', '=', networkId)
    .where('device_owner', '=', 'network:router_gateway')
    .executeTakeFirst();
  if (gw) throw conflict('ExternalNetworkInUse', `External network ${networkId} cannot be updated to be non-external, since it has existing gateway ports.`);
  await trx.deleteFrom('rbac_policies').where('object_type', '=', 'network').where('object_id', '=', networkId).where('action', '=', ACCESS_EXTERNAL).execute();
  await trx.updateTable('networks').set({ external: 0, is_default: 0 }).where('id', '=', networkId).execute();
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

const invalidSharedSetting = (id: string) =>
  conflict('InvalidSharedSetting', `Unable to reconfigure sharing settings for network ${id}. Multiple tenants are using it.`);

/**
 * Neutron's _validate_shared_update: unsharing is refused while projects other than the owner
 * have ports or subnets on the network, unless a policy of their own keeps their access.
 */
async function assertNotUsedByOthers(trx: Tx, row: NetworksTable): Promise<void> {
  const ports = await trx
    .selectFrom('ports')
    .select('project_id')
    .where('network_id', '=', row.id)
    .where('device_owner', 'not like', 'network:%')
    .where('project_id', '!=', row.project_id)
    .execute();
  const subnets = await trx.selectFrom('subnets').select('project_id').where('network_id', '=', row.id).where('project_id', '!=', row.project_id).execute();
  const others = new Set([...ports, ...subnets].map((r) => r.project_id).filter((p) => p !== ''));
  if (others.size === 0) return;
  const entries = await trx
    .selectFrom('rbac_policies')
    .select('target_tenant')
    .where('object_type', '=', 'network')
    .where('object_id', '=', row.id)
    .where('action', '=', ACCESS_SHARED)
    .where('target_tenant', 'in', [...others])
    .execute();
  const covered = new Set(entries.map((e) => e.target_tenant));
  if ([...others].some((p) => !covered.has(p))) throw invalidSharedSetting(row.id);
}

/**
 * ML2's ensure_no_tenant_ports_on_network for removing `project`'s access (or everyone's): ports
 * of the projects losing it keep the network in use.
 */
async function ensureNoTenantPorts(trx: Tx, network: NetworksTable, project: string): Promise<void> {
  let qb = trx.selectFrom('ports').select('id').where('network_id', '=', network.id);
  if (project === WILDCARD) {
    const others = await trx
      .selectFrom('rbac_policies')
      .select('target_tenant')
      .where('object_type', '=', 'network')
      .where('object_id', '=', network.id)
      .where('action', '=', ACCESS_SHARED)
      .where('target_tenant', '!=', WILDCARD)
      .execute();
    qb = qb.where('project_id', 'not in', [...others.map((o) => o.target_tenant), network.project_id]);
  } else {
    if (await hasWildcard(trx, 'network', network.id)) return;
    qb = qb.where('project_id', '=', project);
  }
  if (await qb.executeTakeFirst()) throw invalidSharedSetting(network.id);
}

/** The ML2 plugin and the network-ip-availability plugin's copies of it each validate (three callbacks). */
const NETWORK_RBAC_CALLBACKS = [
  'neutron.plugins.ml2.plugin.NeutronDbPluginV2.validate_network_rbac_policy_change',
  'neutron.services.network_ip_availability.plugin.NeutronDbPluginV2.validate_network_rbac_policy_change',
  'neutron.services.network_ip_availability.plugin.NeutronDbPluginV2.validate_network_rbac_policy_change',
];
const EXTERNAL_CALLBACK = 'neutron.plugins.ml2.plugin.External_net_db_mixin._validate_ext_not_in_use_by_tenant';
const EXTERNAL_CREATE_CALLBACK = 'neutron.plugins.ml2.plugin.External_net_db_mixin._process_ext_policy_create';

const refuse = (callbacks: readonly string[], message: string) => new RbacRefused(callbacks.map((callback) => ({ callback, message })));

/** The network as the RBAC checks see it (admins see all; a member its own and what is shared with it). */
async function networkForRbac(trx: Tx, ctx: RequestContext, id: string, callbacks: readonly string[]): Promise<NetworksTable> {
  const net = await visibleNetwork(trx, ctx, id);
  if (!net) throw refuse(callbacks, resourceNotFound('Network', id).message);
  return net;
}

/** Networks in the RBAC engine: ML2's checks, `router:external` and the network's revision. */
export const networkRbacType: RbacObjectType = {
  type: 'network',
  kind: 'network',
  table: 'networks',
  actions: [ACCESS_SHARED, ACCESS_EXTERNAL],
  notFound: (id) => resourceNotFound('Network', id),
  async validate(w, ctx, event, policy, newTarget) {
    const { trx } = w;
    if (policy.action === ACCESS_SHARED) {
      const net = await networkForRbac(trx, ctx, policy.object_id, NETWORK_RBAC_CALLBACKS);
      if ((event === 'create' || event === 'update') && !ctx.isAdmin && net.project_id !== ctx.projectId) {
        throw refuse(NETWORK_RBAC_CALLBACKS, invalidInput('Only admins can manipulate policies on networks they do not own').message);
      }
      if (policy.target_tenant === net.project_id) return;
      let check: string | undefined;
      if (event === 'update' && newTarget !== policy.target_tenant) check = policy.target_tenant;
      if (event === 'delete') check = policy.target_tenant;
      if (check === undefined) return;
      try {
        await ensureNoTenantPorts(trx, net, check);
      } catch (e) {
        if (e instanceof DomainError) throw refuse(NETWORK_RBAC_CALLBACKS, e.message);
        throw e;
      }
      return;
    }
    if (policy.action !== ACCESS_EXTERNAL) return;
    if (event === 'create') {
      const net = await networkForRbac(trx, ctx, policy.object_id, [EXTERNAL_CREATE_CALLBACK]);
      if (!ctx.isAdmin && net.project_id !== ctx.projectId) {
        throw refuse([EXTERNAL_CREATE_CALLBACK], invalidInput('Only admins can manipulate policies on networks they do not own').message);
      }
      return;
    }
    if (event === 'update' && newTarget === policy.target_tenant) return;
    const gwRouters = await trx
      .selectFrom('routers as r')
      .innerJoin('ports as p', 'p.id', 'r.gw_port_id')
      .select('r.project_id')
      .where('p.network_id', '=', policy.object_id)
      .execute();
    let inUse = false;
    if (policy.target_tenant !== WILDCARD) {
      if (await hasWildcard(trx, 'network', policy.object_id, ACCESS_EXTERNAL)) return;
      inUse = gwRouters.some((r) => r.project_id === policy.target_tenant);
    } else {
      const net = await trx.selectFrom('networks').select('is_default').where('id', '=', policy.object_id).executeTakeFirst();
      if (net?.is_default === 1)
        throw refuse([EXTERNAL_CALLBACK], rbacPolicyInUse(policy.object_id, 'Default external networks must be shared to everyone.').message);
      const entries = await trx
        .selectFrom('rbac_policies')
        .select('target_tenant')
        .where('object_type', '=', 'network')
        .where('object_id', '=', policy.object_id)
        .where('action', '=', ACCESS_EXTERNAL)
        .where('target_tenant', '!=', WILDCARD)
        .execute();
      const allowed = new Set(entries.map((e) => e.target_tenant));
      if (newTarget) allowed.add(newTarget);
      inUse = gwRouters.some((r) => !allowed.has(r.project_id));
    }
    if (inUse) {
      throw refuse(
        [EXTERNAL_CALLBACK],
        rbacPolicyInUse(policy.object_id, 'There are routers attached to this network that depend on this policy for access.').message,
      );
    }
  },
  async changed(w, policy, event) {
    const { trx } = w;
    const id = policy.object_id;
    // NetworkRBAC revises its network on every change.
    await bumpRevision(trx, 'networks', id);
    const wildcard = await hasWildcard(trx, 'network', id);
    await trx
      .updateTable('networks')
      .set({ shared: wildcard ? 1 : 0 })
      .where('id', '=', id)
      .execute();
    if (policy.action !== ACCESS_EXTERNAL) return;
    const net = await trx.selectFrom('networks').select(['external']).where('id', '=', id).executeTakeFirst();
    if (!net) return;
    if (event === 'create' && net.external !== 1) {
      // An external policy makes the network external (external_net_db's _process_ext_policy_create).
      await trx.updateTable('networks').set({ external: 1, is_default: 0 }).where('id', '=', id).execute();
      await bumpRevision(trx, 'networks', id);
    } else if (event === 'delete' && net.external === 1) {
      const left = await trx
        .selectFrom('rbac_policies')
        .select('id')
        .where('object_type', '=', 'network')
        .where('object_id', '=', id)
        .where('action', '=', ACCESS_EXTERNAL)
        .executeTakeFirst();
      if (!left) {
        await unsetExternal(trx, id);
        await bumpRevision(trx, 'networks', id);
      }
    }
  },
};

const networkById = prepared(['id'], (q, a) => q.selectFrom('networks').selectAll().where('id', '=', a.id));
/** Whether an RBAC entry shares the network, or makes it external, with `project` or with every project. */
const rbacGranted = (eb: ExpressionBuilder<DB, 'networks'>, project: string) =>
  eb
    .exists(
      eb
        .selectFrom('rbac_policies')
        .select('rbac_policies.id')
        .where('rbac_policies.object_type', '=', 'network')
        .whereRef('rbac_policies.object_id', '=', 'networks.id')
        .where('rbac_policies.action', 'in', [ACCESS_SHARED, ACCESS_EXTERNAL])
        .where('rbac_policies.target_tenant', 'in', [WILDCARD, project]),
    )
    .as('rbac_granted');
/**
 * The network and whether an RBAC entry grants it to the project (or to every project): one
 * statement, where a member's port create on a network shared with it by RBAC read two.
 */
const networkWithGrant = prepared(['id', 'project'], (q, a) =>
  q
    .selectFrom('networks')
    .selectAll('networks')
    .select((eb) => rbacGranted(eb, a.project))
    .where('networks.id', '=', a.id),
);

/**
 * Every column of a subnet, in one list the compiler holds to the table's (a column added to
 * SubnetsTable and not here fails the type check): a port create reads its network's subnets
 * with the network, as JSON rows of these columns.
 */
const SUBNET_COLUMN_SET = {
  id: true,
  project_id: true,
  name: true,
  description: true,
  created_at: true,
  updated_at: true,
  revision_number: true,
  network_id: true,
  ip_version: true,
  cidr: true,
  gateway_ip: true,
  enable_dhcp: true,
  ipv6_ra_mode: true,
  ipv6_address_mode: true,
  subnetpool_id: true,
  segment_id: true,
  dns_nameservers: true,
  host_routes: true,
  allocation_pools: true,
  service_types: true,
  dns_publish_fixed_ip: true,
} as const satisfies Record<keyof SubnetsTable, true>;
const SUBNET_COLUMNS = Object.keys(SUBNET_COLUMN_SET) as Array<keyof SubnetsTable>;

/** The network's subnets as one column of the statement reading the network (subnetsOf orders them). */
function networkSubnetsColumn(eb: ExpressionBuilder<DB, 'networks'>, dialect: Dialect) {
  const subnets = eb.selectFrom('subnets').select(SUBNET_COLUMNS).whereRef('subnets.network_id', '=', 'networks.id');
  return jsonRowsOf(dialect, subnets, SUBNET_COLUMNS).as('port_network_subnets');
}

/** Subnets read by networkSubnetsColumn, as `networkSubnets` orders them (created_at, id). */
function subnetsOf(json: unknown): SubnetsTable[] {
  const subnets = fromJson<unknown[][]>(json, []).map((values) => jsonRowObject(SUBNET_COLUMNS, values) as unknown as SubnetsTable);
  if (subnets.length > 1) subnets.sort(creationOrder);
  return subnets;
}

/**
 * The same reads with the network's QoS policy and rules (`networkQosColumns`) and its subnets:
 * what a port create reads of its network, in one statement, where it read the network, its
 * policy, the rules and the subnets in four.
 */
const portNetworkById = prepared(['id'], (q, a, dialect) =>
  q
    .selectFrom('networks')
    .selectAll('networks')
    .select((eb) => [...networkQosColumns(eb, dialect), networkSubnetsColumn(eb, dialect)])
    .where('networks.id', '=', a.id),
);
const portNetworkWithGrant = prepared(['id', 'project'], (q, a, dialect) =>
  q
    .selectFrom('networks')
    .selectAll('networks')
    .select((eb) => [rbacGranted(eb, a.project), ...networkQosColumns(eb, dialect), networkSubnetsColumn(eb, dialect)])
    .where('networks.id', '=', a.id),
);

/** A network as a port create reads it: the row, its QoS policy with the rules, and its subnets. */
export interface PortNetwork {
  network: NetworksTable;
  qos: NetworkQos;
  /** As `networkSubnets` gives them. */
  subnets: SubnetsTable[];
}

/** `visibleNetwork` for a port create: the network, its QoS policy with its rules and its subnets (one statement). */
export async function visibleNetworkForPort(q: Q, ctx: RequestContext, id: string): Promise<PortNetwork | undefined> {
  if (ctx.isAdmin) {
    const [found] = await portNetworkById.execute(q, { id });
    if (!found) return undefined;
    const { qos_network_policy_id, qos_network_rules, port_network_subnets, ...network } = found;
    return { network, qos: networkQosOf({ qos_network_policy_id, qos_network_rules }), subnets: subnetsOf(port_network_subnets) };
  }
  const [found] = await portNetworkWithGrant.execute(q, { id, project: ctx.projectId ?? WILDCARD });
  if (!found) return undefined;
  const { rbac_granted: granted, qos_network_policy_id, qos_network_rules, port_network_subnets, ...network } = found;
  if (!(network.project_id === ctx.projectId || network.shared === 1 || fromBool(granted))) return undefined;
  return { network, qos: networkQosOf({ qos_network_policy_id, qos_network_rules }), subnets: subnetsOf(port_network_subnets) };
}

/** A network the caller may use: its own, one shared or made external for it (admins: any). */
export async function visibleNetwork(q: Q, ctx: RequestContext, id: string): Promise<NetworksTable | undefined> {
  if (ctx.isAdmin) return (await networkById.execute(q, { id }))[0];
  // Unscoped: only grants to every project count (the wildcard twice).
  const [found] = await networkWithGrant.execute(q, { id, project: ctx.projectId ?? WILDCARD });
  if (!found) return undefined;
  const { rbac_granted: granted, ...row } = found;
  return row.project_id === ctx.projectId || row.shared === 1 || fromBool(granted) ? row : undefined;
}
