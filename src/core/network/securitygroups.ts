import type { Q, Tx } from '../../store/db.js';
import { dropBoundLogs } from './logs.js';
import { IN_CHUNK, chunks, creationOrder, jsonRowObject, prepared } from '../../store/db.js';
import type { SecurityGroupRulesTable, SecurityGroupsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { cidrToString, parseCidr } from '../../util/ip.js';
import { isoSeconds } from '../../util/time.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork, Work } from '../work.js';
import { DomainError, conflict, notFound } from '../errors.js';
import { string, toBoolean, uuid, uuidOrNone, values as valuesV } from './attributes.js';
import { checkQuota, knownProjectFacts } from './quotas.js';
import { ACCESS_SHARED, type RbacObjectType, deleteObjectPolicies, isSharedWith, sharedIds, sharedInline, sharedWith } from './rbac.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, bumpRevision, insertRow, standardAttrs, toColumns, updateRow } from './resource.js';

export const DEFAULT_SG_DESCRIPTION = 'Default security group';

/** neutron-lib's IP_PROTOCOL_MAP: names the API accepts, and their numbers. */
export const IP_PROTOCOLS: Record<string, number> = {
  ah: 51,
  dccp: 33,
  egp: 8,
  esp: 50,
  gre: 47,
  hopopt: 0,
  icmp: 1,
  igmp: 2,
  ip: 0,
  ipip: 4,
  'ipv6-encap': 41,
  'ipv6-frag': 44,
  'ipv6-icmp': 58,
  icmpv6: 58,
  'ipv6-nonxt': 59,
  'ipv6-opts': 60,
  'ipv6-route': 43,
  ospf: 89,
  pgm: 113,
  rsvp: 46,
  sctp: 132,
  tcp: 6,
  udp: 17,
  udplite: 136,
  vrrp: 112,
};
const PORT_PROTOCOLS = ['tcp', 'udp', 'udplite', 'sctp', 'dccp'];
const PORT_PROTOCOL_NUMS = ['6', '17', '136', '132', '33'];
const IPV6_ONLY_PROTOCOLS = ['ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', '41', '44', '58', '59', '60', '43'];
const SUPPORTED_PROTOCOLS_TEXT = `[None, ${Object.keys(IP_PROTOCOLS)
  .map((p) => `'${p}'`)
  .join(', ')}]`;

const sgNotFound = (id: string) => notFound('SecurityGroupNotFound', `Security group ${id} does not exist`);
const ruleNotFound = (id: string) => notFound('SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`);

function invalidProtocol(v: unknown) {
  return new DomainError(
    'bad_request',
    'SecurityGroupRuleInvalidProtocol',
    `Security group rule protocol ${String(v)} not supported. Only protocol values ${SUPPORTED_PROTOCOLS_TEXT} and integer representations [0 to 255] are supported.`,
  );
}

/** A protocol's number by name (names come from requests: only the table's own keys count). */
function protocolNumber(name: string): number | undefined {
  return Object.hasOwn(IP_PROTOCOLS, name) ? IP_PROTOCOLS[name] : undefined;
}

function convertProtocol(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v))) {
    const n = Number(v);
    if (n >= 0 && n <= 255) return String(n);
    throw invalidProtocol(v);
  }
  if (typeof v === 'string' && protocolNumber(v.toLowerCase()) !== undefined) return v.toLowerCase();
  throw invalidProtocol(v);
}

function convertEthertype(v: unknown): unknown {
  if (typeof v === 'string') {
    for (const e of ['IPv4', 'IPv6']) if (e.toLowerCase() === v.toLowerCase()) return e;
  }
  throw new DomainError(
    'bad_request',
    'SecurityGroupRuleInvalidEtherType',
    `Security group rule for ethertype '${String(v)}' not supported. Allowed values are ['IPv4', 'IPv6'].`,
  );
}

function convertPort(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (Number.isInteger(n) && n >= 0 && n <= 65535) return n;
  throw new DomainError('bad_request', 'SecurityGroupInvalidPortValue', `Invalid value for port ${String(v)}`);
}

function convertPrefix(v: unknown): unknown {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'string') {
    const c = parseCidr(v.includes('/') ? v : `${v}/${v.includes(':') ? 128 : 32}`);
    if (c) return v.includes('/') ? v : `${v}/${c.prefix}`;
  }
  throw new DomainError('bad_request', 'InvalidCIDR', `Invalid CIDR ${String(v)} given as IP prefix.`);
}

/** Every column of a rule, as renderRule reads them: a show reads its group's rules as JSON rows of these. */
const RULE_COLUMN_SET = {
  id: true,
  project_id: true,
  security_group_id: true,
  direction: true,
  ethertype: true,
  protocol: true,
  port_range_min: true,
  port_range_max: true,
  remote_ip_prefix: true,
  remote_group_id: true,
  remote_address_group_id: true,
  normalized_cidr: true,
  description: true,
  created_at: true,
  updated_at: true,
  revision_number: true,
  standard_attr_id: true,
} as const satisfies Record<keyof SecurityGroupRulesTable, true>;
const RULE_COLUMNS = Object.keys(RULE_COLUMN_SET) as Array<keyof SecurityGroupRulesTable>;

/** Attributes computed for rendering. */
interface SecurityGroupComputed {
  security_group_rules: Array<Record<string, unknown>>;
  shared: boolean;
}

export const securityGroupDef: ResourceDef<'security_groups', SecurityGroupComputed> = {
  name: 'security_group',
  collection: 'security_groups',
  path: 'security-groups',
  table: 'security_groups',
  label: 'Security group',
  notFound: (id) => sgNotFound(id),
  bulk: true,
  taggable: true,
  initialRevision: 1,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: {
      post: true,
      put: true,
      default: '',
      filter: true,
      sort: true,
      column: 'name',
      validate: string(255),
    },
    stateful: { post: true, put: true, default: true, filter: true, column: 'stateful', codec: 'bool', convert: toBoolean },
    tenant_id: standardAttrs().tenant_id,
    description: standardAttrs().description,
    // Derived from RBAC policies (rbac-security-groups); a special filter (security-groups-shared-filtering).
    shared: {},
    security_group_rules: {},
    ...(({ tenant_id: _t, description: _d, project_id: _p, ...rest }) => rest)(standardAttrs()),
    project_id: standardAttrs().project_id,
  },
  // Members also read groups shared with them.
  sharedWhere: (eb, ctx) => sharedWith(eb, 'security_group', 'security_groups.id', ctx),
  specialFilters: {
    shared: (eb, values, ctx) => {
      const shared = sharedWith(eb, 'security_group', 'security_groups.id', ctx);
      return toBoolean(values[0]) ? shared : eb.not(shared);
    },
  },
  // A show reads the group's rules and whether it is shared with the caller with it, in one
  // statement (showRow); a list reads them in load.
  inline: {
    security_group_rules: {
      rows: (eb) =>
        eb
          .selectFrom('security_group_rules')
          .select(RULE_COLUMNS.map((c) => `security_group_rules.${c}` as const))
          .whereRef('security_group_rules.security_group_id', '=', 'security_groups.id'),
      columns: RULE_COLUMNS,
      // In creation order, then by id, as load reads them; sorted here rather than by a sorter
      // inside the aggregate.
      value: (rows) =>
        rows
          .map((r) => jsonRowObject(RULE_COLUMNS, r) as unknown as SecurityGroupRulesTable)
          .sort(creationOrder)
          .map(renderRule),
    },
    shared: sharedInline('security_group', 'security_groups'),
  },
  async load(q, rows, ctx) {
    // Read with the row by a show (inline attributes come together).
    if (rows.every((r) => r.__security_group_rules !== undefined)) return;
    const rulesOf = new Map<string, Array<Record<string, unknown>>>();
    for (const r of rows) {
      const rules: Array<Record<string, unknown>> = [];
      r.__security_group_rules = rules;
      r.__shared = false;
      rulesOf.set(r.id, rules);
    }
    const shared = await sharedIds(q, 'security_group', [...rulesOf.keys()], ctx);
    for (const r of rows) if (shared.has(r.id)) r.__shared = true;
    for (const chunk of chunks([...rulesOf.keys()], IN_CHUNK)) {
      const rules = await q
        .selectFrom('security_group_rules')
        .selectAll()
        .where('security_group_id', 'in', chunk)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      for (const rule of rules) rulesOf.get(rule.security_group_id)?.push(renderRule(rule));
    }
  },
};

export const securityGroupRuleDef: ResourceDef<'security_group_rules'> = {
  name: 'security_group_rule',
  collection: 'security_group_rules',
  path: 'security-group-rules',
  table: 'security_group_rules',
  label: 'Security group rule',
  notFound: (id) => ruleNotFound(id),
  bulk: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    tenant_id: standardAttrs().tenant_id,
    security_group_id: { post: true, filter: true, sort: true, column: 'security_group_id', validate: string(36) },
    ethertype: { post: true, default: 'IPv4', filter: true, sort: true, column: 'ethertype', convert: convertEthertype, validate: valuesV(['IPv4', 'IPv6']) },
    direction: { post: true, filter: true, sort: true, column: 'direction', validate: valuesV(['ingress', 'egress']) },
    protocol: { post: true, default: null, filter: true, sort: true, column: 'protocol', convert: convertProtocol },
    port_range_min: { post: true, default: null, filter: true, sort: true, column: 'port_range_min', codec: 'int', convert: convertPort },
    port_range_max: { post: true, default: null, filter: true, sort: true, column: 'port_range_max', codec: 'int', convert: convertPort },
    remote_ip_prefix: { post: true, default: null, filter: true, sort: true, column: 'remote_ip_prefix', convert: convertPrefix },
    remote_address_group_id: { post: true, default: null, filter: true, sort: true, column: 'remote_address_group_id', validate: uuidOrNone },
    normalized_cidr: { filter: true, sort: true, column: 'normalized_cidr' },
    // No format check: a malformed id is simply a group that does not exist (404), as in Neutron.
    remote_group_id: { post: true, default: null, filter: true, sort: true, column: 'remote_group_id' },
    ...(({ tenant_id: _t, tags: _g, project_id: _p, ...rest }) => rest)(standardAttrs({ tags: false })),
    project_id: standardAttrs().project_id,
  },
  // A member reads its own rules and the rules of its groups, whoever wrote them (Neutron's
  // get_security_group_rule: the rule's project or the group's owner).
  sharedWhere: (eb, ctx) =>
    eb.exists(
      eb
        .selectFrom('security_groups')
        .select('security_groups.id')
        .whereRef('security_groups.id', '=', 'security_group_rules.security_group_id')
        .where('security_groups.project_id', '=', ctx.projectId ?? ''),
    ),
};

/**
 * A rule as its group embeds it: the rule's own attributes plus `standard_attr_id` and `tags`,
 * which Neutron's security group dict carries for each rule (its own rule answers do not).
 */
export function renderRule(rule: SecurityGroupRulesTable): Record<string, unknown> {
  return {
    id: rule.id,
    tenant_id: rule.project_id,
    security_group_id: rule.security_group_id,
    ethertype: rule.ethertype,
    direction: rule.direction,
    protocol: rule.protocol,
    port_range_min: rule.port_range_min,
    port_range_max: rule.port_range_max,
    remote_ip_prefix: rule.remote_ip_prefix,
    remote_address_group_id: rule.remote_address_group_id,
    normalized_cidr: rule.normalized_cidr,
    remote_group_id: rule.remote_group_id,
    standard_attr_id: rule.standard_attr_id,
    description: rule.description,
    tags: [],
    revision_number: rule.revision_number,
    created_at: rule.created_at,
    updated_at: rule.updated_at,
    project_id: rule.project_id,
  };
}

/** What a new rule says; the rest of its row is filled in (no protocol, ports or remote: any). */
type RuleSpec = Pick<SecurityGroupRulesTable, 'direction' | 'ethertype'> & Partial<SecurityGroupRulesTable>;

/** The next standard attribute id of a rule (Neutron's global standardattributes id; unique here per rule). */
async function nextStandardAttrId(trx: Tx): Promise<number> {
  const row = await trx
    .selectFrom('security_group_rules')
    .select(({ fn }) => fn.max('standard_attr_id').as('max'))
    .executeTakeFirst();
  return Number(row?.max ?? 0) + 1;
}

async function insertRule(trx: Tx, projectId: string, sgId: string, r: RuleSpec): Promise<string> {
  const id = newUuid();
  const now = isoSeconds();
  const standardAttrId = await nextStandardAttrId(trx);
  await trx
    .insertInto('security_group_rules')
    .values({
      id,
      project_id: projectId,
      security_group_id: sgId,
      direction: r.direction,
      ethertype: r.ethertype,
      protocol: r.protocol ?? null,
      port_range_min: r.port_range_min ?? null,
      port_range_max: r.port_range_max ?? null,
      remote_ip_prefix: r.remote_ip_prefix ?? null,
      remote_group_id: r.remote_group_id ?? null,
      remote_address_group_id: r.remote_address_group_id ?? null,
      normalized_cidr: r.normalized_cidr ?? null,
      // The rules Neutron makes itself have no description (NULL).
      description: r.description ?? null,
      created_at: now,
      updated_at: now,
      revision_number: 0,
      standard_attr_id: standardAttrId,
    })
    .execute();
  return id;
}

async function createGroup(trx: Tx, projectId: string, name: string, description: string, stateful: boolean, isDefault: boolean): Promise<string> {
  const id = newUuid();
  await insertRow(trx, securityGroupDef, id, { project_id: projectId, name, description, stateful: stateful ? 1 : 0 });
  for (const ethertype of ['IPv4', 'IPv6']) {
    // The default group lets its members talk to each other; every group lets traffic out.
    if (isDefault) await insertRule(trx, projectId, id, { direction: 'ingress', ethertype, remote_group_id: id });
    await insertRule(trx, projectId, id, { direction: 'egress', ethertype });
  }
  return id;
}

/**
 * The project's `default` group, made on first use with Neutron's four rules. A primary key on
 * the project makes concurrent first uses agree on one group.
 */
// Every port create asks for its project's default group and binds its groups: compiled once.
const defaultGroupOf = prepared(['project'], (q, a) => q.selectFrom('default_security_groups').select('security_group_id').where('project_id', '=', a.project));
const bindGroup = prepared(['port', 'group'], (q, a) => q.insertInto('port_security_groups').values({ port_id: a.port, security_group_id: a.group }));

export async function ensureDefaultSecurityGroup(w: Work, projectId: string): Promise<string> {
  const { trx } = w;
  // Read with the project's quota limits when this unit of work checked them (projectFacts).
  const facts = knownProjectFacts(w, projectId);
  const existing = facts ? facts.defaultGroup : ((await defaultGroupOf.execute(trx, { project: projectId }))[0]?.security_group_id ?? null);
  if (existing) return existing;
  const id = await createGroup(trx, projectId, 'default', DEFAULT_SG_DESCRIPTION, true, true);
  await trx.insertInto('default_security_groups').values({ project_id: projectId, security_group_id: id }).execute();
  if (facts) facts.defaultGroup = id;
  w.changed('security_group', id, projectId, 'create');
  return id;
}

/** Groups a port of `projectId` may use: the project's own and those shared with it (admins may use any). */
export async function checkPortGroups(trx: Tx, ctx: RequestContext, projectId: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const rows = await trx.selectFrom('security_groups').select(['id', 'project_id', 'stateful']).where('id', 'in', ids).execute();
  const foreign = rows.filter((g) => !ctx.isAdmin && g.project_id !== projectId).map((g) => g.id);
  const shared = await sharedIds(trx, 'security_group', foreign, { ...ctx, projectId });
  const valid = new Set(rows.filter((g) => ctx.isAdmin || g.project_id === projectId || shared.has(g.id)).map((g) => g.id));
  const missing = ids.filter((id) => !valid.has(id));
  if (missing.length) throw sgNotFound(missing.join(', '));
  if (new Set(rows.map((r) => r.stateful)).size > 1) {
    throw conflict(
      'SecurityGroupConflict',
      'Error Cannot apply both stateful and stateless security groups on the same port at the same time while attempting the operation.',
    );
  }
}

/** A port's security groups, replacing what it had (`fresh`: a new port, which had none). */
export async function bindPortGroups(trx: Tx, portId: string, ids: string[], fresh = false): Promise<void> {
  if (!fresh) await trx.deleteFrom('port_security_groups').where('port_id', '=', portId).execute();
  for (const id of ids) await bindGroup.run(trx, { port: portId, group: id });
}

/** The columns that make two rules the same rule (Neutron's _rule_to_key). */
type RuleKeyFields = Pick<
  SecurityGroupRulesTable,
  | 'direction'
  | 'ethertype'
  | 'port_range_max'
  | 'port_range_min'
  | 'protocol'
  | 'remote_group_id'
  | 'remote_address_group_id'
  | 'remote_ip_prefix'
  | 'security_group_id'
>;

/**
 * A rule being created: the values its attribute map prepared (every key present, defaulted to
 * null where not given), normalised by validateRule.
 */
interface RuleRequest extends RuleKeyFields {
  project_id: string;
  normalized_cidr?: string | null;
  description: string;
}

function ruleKey(r: RuleKeyFields): string {
  const norm = (k: string, v: unknown): string => {
    if (k === 'remote_ip_prefix') return v === null || v === undefined || v === '0.0.0.0/0' || v === '::/0' ? '+' : String(v);
    if (v === null || v === undefined) return '+';
    if (k === 'protocol') {
      const s = String(v);
      const num = protocolNumber(s) ?? Number(s);
      return String(num);
    }
    return String(v);
  };
  const keys: Array<keyof RuleKeyFields> = [
    'direction',
    'ethertype',
    'port_range_max',
    'port_range_min',
    'protocol',
    'remote_group_id',
    'remote_address_group_id',
    'remote_ip_prefix',
    'security_group_id',
  ];
  return keys.map((k) => norm(k, r[k])).join('_');
}

/** Neutron's _validate_security_group_rule, in its order. */
function validateRule(r: RuleRequest): void {
  // Legacy IPv6 ICMP names and numbers become ipv6-icmp.
  if (r.ethertype === 'IPv6') {
    if (r.protocol === 'icmp' || r.protocol === 'icmpv6') r.protocol = 'ipv6-icmp';
    else if (r.protocol === '1') r.protocol = '58';
  }
  if (r.port_range_min === 1 && r.port_range_max === 65535) {
    r.port_range_min = null;
    r.port_range_max = null;
  }
  if (r.port_range_min !== null || r.port_range_max !== null) {
    if (!r.protocol) throw new DomainError('bad_request', 'SecurityGroupProtocolRequiredWithPorts', 'Must also specify protocol if port range is given.');
    const proto = String(r.protocol);
    if (PORT_PROTOCOLS.includes(proto) || PORT_PROTOCOL_NUMS.includes(proto)) {
      if (r.port_range_min === 0 || r.port_range_max === 0) {
        throw new DomainError('bad_request', 'SecurityGroupInvalidPortValue', 'Invalid value for port 0');
      }
      if (!(r.port_range_min !== null && r.port_range_max !== null && r.port_range_min <= r.port_range_max)) {
        throw new DomainError('bad_request', 'SecurityGroupInvalidPortRange', 'For TCP/UDP protocols, port_range_min must be <= port_range_max');
      }
    } else if (['icmp', 'ipv6-icmp', 'icmpv6', '1', '58'].includes(proto)) {
      for (const [attr, field] of [
        ['port_range_min', 'type'],
        ['port_range_max', 'code'],
      ] as const) {
        const v = r[attr];
        if (v !== null && !(v >= 0 && v <= 255)) {
          throw new DomainError('bad_request', 'SecurityGroupInvalidIcmpValue', `Invalid value for ICMP ${field} (${attr}) ${v}. It must be 0 to 255.`);
        }
      }
      if (r.port_range_min === null && r.port_range_max !== null) {
        throw new DomainError(
          'bad_request',
          'SecurityGroupMissingIcmpType',
          `ICMP code (port-range-max) ${r.port_range_max} is provided but ICMP type (port-range-min) is missing.`,
        );
      }
    } else {
      const num = protocolNumber(proto) ?? Number(proto);
      throw new DomainError(
        'bad_request',
        'SecurityGroupInvalidProtocolForPort',
        `Ports cannot be specified for protocol ${num}. Ports are only supported for ${PORT_PROTOCOLS.map((p) => p.toUpperCase()).join(', ')}.`,
      );
    }
  }
  if (r.remote_ip_prefix) {
    const c = parseCidr(r.remote_ip_prefix)!;
    const given = r.remote_ip_prefix;
    if (r.ethertype !== `IPv${c.version}`) {
      throw new DomainError('bad_request', 'SecurityGroupRuleParameterConflict', `Conflicting value ethertype ${r.ethertype} for CIDR ${given}`);
    }
    r.normalized_cidr = cidrToString(c);
  }
  if (IPV6_ONLY_PROTOCOLS.includes(String(r.protocol)) && r.ethertype === 'IPv4') {
    throw new DomainError('bad_request', 'SecurityGroupEthertypeConflictWithProtocol', `Invalid ethertype ${r.ethertype} for protocol ${r.protocol}.`);
  }
  const remotes = [r.remote_ip_prefix, r.remote_group_id, r.remote_address_group_id].filter(Boolean);
  if (remotes.length > 1) {
    throw new DomainError(
      'bad_request',
      'SecurityGroupMultipleRemoteEntites',
      'Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.',
    );
  }
}

async function visibleGroup(q: Q, ctx: RequestContext, id: string): Promise<SecurityGroupsTable> {
  const g = await q.selectFrom('security_groups').selectAll().where('id', '=', id).executeTakeFirst();
  if (!g || (!ctx.isAdmin && g.project_id !== ctx.projectId && !(await isSharedWith(q, 'security_group', id, ctx.projectId)))) throw sgNotFound(id);
  return g;
}

/** An address group a rule may name: the caller's own or one shared with it (admins: any). */
async function visibleAddressGroup(q: Q, ctx: RequestContext, id: string): Promise<void> {
  const g = await q.selectFrom('address_groups').select(['id', 'project_id']).where('id', '=', id).executeTakeFirst();
  if (!g || (!ctx.isAdmin && g.project_id !== ctx.projectId && !(await isSharedWith(q, 'address_group', id, ctx.projectId)))) {
    throw notFound('AddressGroupNotFound', `Address group ${id} could not be found.`);
  }
}

/** Security groups in the RBAC engine (rbac-security-groups): ports using a group depend on access to it. */
export const securityGroupRbacType: RbacObjectType = {
  type: 'security_group',
  kind: 'security_group',
  table: 'security_groups',
  actions: [ACCESS_SHARED],
  notFound: sgNotFound,
  callback: 'neutron.objects.securitygroup.RbacNeutronDbObjectMixin.validate_rbac_policy_change',
  async boundProjects(q, id) {
    const rows = await q
      .selectFrom('port_security_groups as psg')
      .innerJoin('ports as p', 'p.id', 'psg.port_id')
      .select('p.project_id')
      .where('psg.security_group_id', '=', id)
      .execute();
    return new Set(rows.map((r) => r.project_id));
  },
};

/**
 * Neutron makes the listed project's default group when groups (or rules) are listed: the
 * project of a `project_id`/`tenant_id` filter, else the caller's. A member never makes another
 * project's group (Neutron bug 1987410). Reads first, so the common case writes nothing.
 */
function ensureOnList(uow: UnitOfWork) {
  const { store } = uow;
  return async (ctx: RequestContext, filters: Map<string, string[]>) => {
    const projectId = filters.get('project_id')?.[0] ?? filters.get('tenant_id')?.[0] ?? ctx.projectId;
    if (!projectId || (!ctx.isAdmin && projectId !== ctx.projectId)) return;
    const has = await store.db.selectFrom('default_security_groups').select('project_id').where('project_id', '=', projectId).executeTakeFirst();
    if (has) return;
    await uow.run((w) => ensureDefaultSecurityGroup(w, projectId), ctx);
  };
}

export function securityGroupOps(uow: UnitOfWork): ResourceOps<'security_groups', SecurityGroupComputed> {
  return {
    def: securityGroupDef,
    quota: 'security_group',
    beforeList: ensureOnList(uow),
    async create(w, _ctx, p) {
      const { trx } = w;
      const v = p.values;
      const project = v.project_id as string;
      if (String(v.name).toLowerCase() === 'default') {
        throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
      }
      await ensureDefaultSecurityGroup(w, project);
      // The group's two egress rules count against the rule quota (Neutron checks them with the group).
      await checkQuota(trx, project, 'security_group_rule', 2);
      return createGroup(trx, project, v.name as string, v.description as string, v.stateful as boolean, false);
    },
    async update(w, _ctx, row, p) {
      const { trx } = w;
      const v = p.values;
      if (row.name === 'default' && 'name' in v && v.name !== 'default') {
        throw conflict('SecurityGroupCannotUpdateDefault', 'Updating default security group not allowed.');
      }
      if ('name' in v && String(v.name).toLowerCase() === 'default' && row.name !== 'default') {
        throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
      }
      if ('stateful' in v && (v.stateful ? 1 : 0) !== row.stateful) {
        const used = await trx.selectFrom('port_security_groups').select('port_id').where('security_group_id', '=', row.id).executeTakeFirst();
        if (used) throw conflict('SecurityGroupInUse', `Security Group ${row.id} in use.`);
      }
      await updateRow(trx, securityGroupDef, row, toColumns(securityGroupDef, v));
    },
    async delete(w, ctx, row) {
      const { trx } = w;
      const used = await trx.selectFrom('port_security_groups').select('port_id').where('security_group_id', '=', row.id).executeTakeFirst();
      if (used) throw conflict('SecurityGroupInUse', `Security Group ${row.id} in use.`);
      if (row.name === 'default' && !ctx.isAdmin) {
        throw conflict('SecurityGroupCannotRemoveDefault', 'Insufficient rights for removing default security group.');
      }
      // Rules elsewhere that point at this group go with it, as in Neutron (FK cascade).
      await trx.deleteFrom('security_group_rules').where('remote_group_id', '=', row.id).execute();
      await trx.deleteFrom('tags').where('resource_type', '=', 'security_group').where('resource_id', '=', row.id).execute();
      await deleteObjectPolicies(trx, 'security_group', row.id);
      await dropBoundLogs(w, { securityGroupId: row.id });
      await trx.deleteFrom('security_groups').where('id', '=', row.id).execute();
    },
  };
}

export function securityGroupRuleOps(uow: UnitOfWork): ResourceOps<'security_group_rules'> {
  return {
    def: securityGroupRuleDef,
    quota: 'security_group_rule',
    beforeList: ensureOnList(uow),
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      // The attribute map filled every key (null where not given).
      const r: RuleRequest = {
        project_id: v.project_id as string,
        security_group_id: v.security_group_id as string,
        direction: v.direction as string,
        ethertype: v.ethertype as string,
        protocol: v.protocol as string | null,
        port_range_min: v.port_range_min as number | null,
        port_range_max: v.port_range_max as number | null,
        remote_ip_prefix: v.remote_ip_prefix as string | null,
        remote_group_id: v.remote_group_id as string | null,
        remote_address_group_id: v.remote_address_group_id as string | null,
        description: v.description as string,
      };
      const group = await visibleGroup(trx, ctx, r.security_group_id);
      validateRule(r);
      if (r.remote_group_id) await visibleGroup(trx, ctx, r.remote_group_id);
      if (r.remote_address_group_id) await visibleAddressGroup(trx, ctx, r.remote_address_group_id);
      const existing = await trx.selectFrom('security_group_rules').selectAll().where('security_group_id', '=', group.id).execute();
      const key = ruleKey(r);
      const dup = existing.find((e) => ruleKey(e) === key);
      if (dup) throw conflict('SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${dup.id}.`);
      const id = await insertRule(trx, r.project_id, group.id, r);
      await bumpRevision(trx, 'security_groups', group.id);
      return id;
    },
    async delete(w, _ctx, row) {
      const { trx } = w;
      await trx.deleteFrom('security_group_rules').where('id', '=', row.id).execute();
      await bumpRevision(trx, 'security_groups', row.security_group_id);
    },
  };
}
