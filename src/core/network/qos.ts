/**
 * QoS policies (Neutron's `qos` service plugin with `qos-default`) and what binds them to other
 * resources: `qos_policy_id` on networks, ports, floating IPs (`qos-fip`) and router gateways
 * (`qos-gateway-ip`), a port's `qos_network_policy_id` (`qos-port-network-policy`) and
 * `resource_request` (`port-resource-request`). A port's own policy wins over its network's,
 * as Neutron's QoS agent extensions apply them. The policy's rules are in qosrules.ts.
 *
 * Which rules a network or port may take is what ML2/OVS's QoS driver accepts (the reference this
 * cloud answers as): every rule type, except minimum bandwidth on a network whose first segment
 * has no physical network, and nothing on a port of a vnic type OVS does not plug.
 */
import { createHash } from 'node:crypto';
import type { ExpressionBuilder } from 'kysely';
import type { Dialect, Q, Tx } from '../../store/db.js';
import { IN_CHUNK, binaryOrder, chunks, fromJson, jsonRowsOf, prepared } from '../../store/db.js';
import type { DB, QosPoliciesTable, QosRulesTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { DomainError, conflict, notFound } from '../errors.js';
import type { Work } from '../work.js';
import { type Attr, string, toBoolean, uuid, uuidOrNone } from './attributes.js';
import {
  ACCESS_SHARED,
  type RbacObjectType,
  RbacRefused,
  WILDCARD,
  deleteObjectPolicies,
  hasWildcard,
  isSharedWith,
  rbacPolicyInUse,
  setWildcardShared,
  sharedIds,
  sharedWith,
} from './rbac.js';
import { knownProjectFacts } from './quotas.js';
import type { ResourceOps } from './registry.js';
import { type InlineAttr, type ResourceDef, bumpRevision, insertRow, policyError, standardAttrs, toColumns, updateRow } from './resource.js';

/** neutron-lib's VALID_RULE_TYPES, in its order (a policy lists its rules kind by kind in it). */
export const RULE_TYPES = ['bandwidth_limit', 'dscp_marking', 'minimum_bandwidth', 'minimum_packet_rate', 'packet_rate_limit'] as const;
export type RuleType = (typeof RULE_TYPES)[number];

/** Vnic types ML2/OVS's QoS driver plugs (the others are not its ports: nothing applies). */
const OVS_VNIC_TYPES = ['normal', 'direct'];

export const qosPolicyNotFound = (id: string) => notFound('QosPolicyNotFound', `QoS policy ${id} could not be found.`);

/** `qos_policy_id` as networks, ports and floating IPs take it (neutron-lib's qos and qos-fip). */
export const qosPolicyIdAttr: Attr = { post: true, put: true, default: null, validate: uuidOrNone };

/** A rule as a policy embeds it: its own attributes, then its policy and kind. */
export type EmbeddedRule = Record<string, unknown>;

/** The attributes each kind of rule shows, in Neutron's order (`id` follows). */
export const RULE_FIELDS: Record<RuleType, readonly (keyof QosRulesTable)[]> = {
  bandwidth_limit: ['max_kbps', 'max_burst_kbps', 'direction'],
  dscp_marking: ['dscp_mark'],
  minimum_bandwidth: ['min_kbps', 'direction'],
  minimum_packet_rate: ['min_kpps', 'direction'],
  packet_rate_limit: ['max_kpps', 'max_burst_kpps', 'direction'],
};

/** A rule as its policy lists it. */
export function embedRule(r: QosRulesTable): EmbeddedRule {
  const out: EmbeddedRule = {};
  for (const f of RULE_FIELDS[r.type as RuleType] ?? []) out[f] = r[f];
  out.id = r.id;
  out.qos_policy_id = r.policy_id;
  out.type = r.type;
  return out;
}

/** Rules of the given policies, kind by kind (RULE_TYPES order), then in creation order. */
export async function rulesOf(q: Q, policyIds: string[]): Promise<Map<string, QosRulesTable[]>> {
  const out = new Map<string, QosRulesTable[]>(policyIds.map((id) => [id, []]));
  for (const chunk of chunks([...new Set(policyIds)], IN_CHUNK)) {
    const rows = await q.selectFrom('qos_rules').selectAll().where('policy_id', 'in', chunk).orderBy('created_at').orderBy('id').execute();
    for (const r of rows) out.get(r.policy_id)?.push(r);
  }
  for (const list of out.values()) list.sort(byRuleType);
  return out;
}

const rank = (t: string) => RULE_TYPES.indexOf(t as RuleType);
/** Neutron lists a policy's rules by rule type (the order of RULE_TYPES), then as stored. */
const byRuleType = (a: Pick<QosRulesTable, 'type'>, b: Pick<QosRulesTable, 'type'>) => rank(a.type) - rank(b.type);

// What a port create reads of QoS (its network's policy, that policy's rules): compiled once.
const policyOfNetwork = prepared(['network'], (q, a) => q.selectFrom('qos_network_bindings').select('policy_id').where('network_id', '=', a.network));
const rulesOfPolicy = prepared(['policy'], (q, a) =>
  q.selectFrom('qos_rules').selectAll().where('policy_id', '=', a.policy).orderBy('created_at').orderBy('id'),
);

/** What a port create needs of a rule: its type (the vNIC check) and what a minimum rule asks of placement. */
type PortRule = Pick<QosRulesTable, 'id' | 'type' | 'direction' | 'min_kbps' | 'min_kpps'>;
const PORT_RULE_COLUMNS = ['id', 'type', 'direction', 'min_kbps', 'min_kpps'] as const;

/**
 * A network's QoS policy and that policy's rules, as two columns of the statement that reads the
 * network (correlated on `networks.id`): a port create on a network with a policy read the
 * network, its binding and the rules in three statements (issue 11's QoS + RBAC port create).
 * networkQosOf puts the rules in `rulesOfPolicy`'s order (created_at, id).
 */
export function networkQosColumns(eb: ExpressionBuilder<DB, 'networks'>, dialect: Dialect) {
  const policy = eb.selectFrom('qos_network_bindings').select('qos_network_bindings.policy_id').whereRef('qos_network_bindings.network_id', '=', 'networks.id');
  const rules = eb
    .selectFrom('qos_rules')
    .select([...PORT_RULE_COLUMNS, 'created_at'])
    .where('qos_rules.policy_id', '=', policy);
  return [policy.as('qos_network_policy_id'), jsonRowsOf(dialect, rules, [...PORT_RULE_COLUMNS, 'created_at']).as('qos_network_rules')] as const;
}

/** A network's policy and rules as read with it (`networkQosColumns`). */
export interface NetworkQos {
  policyId: string | null;
  rules: PortRule[];
}

export function networkQosOf(row: { qos_network_policy_id: string | null; qos_network_rules: unknown }): NetworkQos {
  const read = fromJson<Array<[string, string, string | null, number | null, number | null, string]>>(row.qos_network_rules, []);
  // In rulesOfPolicy's order (created_at, id): the array comes in none (jsonRowsOf).
  if (read.length > 1) read.sort((a, b) => binaryOrder(a[5], b[5]) || binaryOrder(a[0], b[0]));
  const rules = read.map(([id, type, direction, min_kbps, min_kpps]) => ({ id, type, direction, min_kbps, min_kpps }));
  return { policyId: row.qos_network_policy_id ?? null, rules };
}

/** Attributes computed for rendering. */
interface PolicyComputed {
  shared: boolean;
  rules: EmbeddedRule[];
  is_default: boolean;
}

/**
 * neutron-lib's `policies` with `qos-default`, in the order Neutron renders a policy (its OVO's
 * fields, then the standard attributes as the `revisions` plugin adds them).
 */
export const qosPolicyDef: ResourceDef<'qos_policies', PolicyComputed> = {
  name: 'policy',
  collection: 'policies',
  path: 'qos/policies',
  table: 'qos_policies',
  label: 'QoS policy',
  notFound: qosPolicyNotFound,
  bulk: true,
  taggable: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    project_id: standardAttrs().project_id,
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    shared: { post: true, put: true, default: false, filter: true, convert: toBoolean },
    rules: {},
    is_default: { post: true, put: true, default: false, filter: true, convert: toBoolean },
    revision_number: standardAttrs().revision_number,
    description: standardAttrs().description,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    tenant_id: standardAttrs().tenant_id,
    tags: standardAttrs().tags,
  },
  // Shared policies (RBAC access_as_shared to everyone or the caller's project) are its to read
  // and use. The `shared` column is the wildcard policy's mark (kept by qosPolicyRbacType.changed;
  // a policy marked before QoS policies were an RBAC type counts as shared with everyone).
  sharedWhere: (eb, ctx) => eb.or([eb('qos_policies.shared', '=', 1), sharedWith(eb, 'qos_policy', 'qos_policies.id', ctx)]),
  specialFilters: {
    shared(eb, values, ctx) {
      const shared = eb.or([eb('qos_policies.shared', '=', 1), sharedWith(eb, 'qos_policy', 'qos_policies.id', ctx)]);
      const wanted = values.map((v) => toBoolean(v) as boolean);
      if (wanted.includes(true) && wanted.includes(false)) return eb.or([shared, eb.not(shared)]);
      return wanted.includes(true) ? shared : eb.not(shared);
    },
    is_default(eb, values) {
      const isDefault = eb.exists(
        eb.selectFrom('qos_default_policies').select('qos_default_policies.policy_id').whereRef('qos_default_policies.policy_id', '=', 'qos_policies.id'),
      );
      const wanted = values.map((v) => toBoolean(v) as boolean);
      if (wanted.includes(true) && wanted.includes(false)) return eb.or([isDefault, eb.not(isDefault)]);
      return wanted.includes(true) ? isDefault : eb.not(isDefault);
    },
  },
  async load(q, rows, ctx) {
    const ids = rows.map((r) => r.id);
    const shared = await sharedIds(q, 'qos_policy', ids, ctx);
    const rules = await rulesOf(q, ids);
    const defaults = new Set<string>();
    for (const chunk of chunks(ids, IN_CHUNK)) {
      for (const d of await q.selectFrom('qos_default_policies').select('policy_id').where('policy_id', 'in', chunk).execute()) defaults.add(d.policy_id);
    }
    for (const r of rows) {
      r.__shared = r.shared === 1 || shared.has(r.id);
      r.__rules = (rules.get(r.id) ?? []).map(embedRule);
      r.__is_default = defaults.has(r.id);
    }
  },
};

/** The policy `id` as `ctx` may use it: its own, a shared one, any for an admin. */
export async function visiblePolicy(q: Q, ctx: RequestContext, id: string): Promise<QosPoliciesTable> {
  const row = await q.selectFrom('qos_policies').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || !(await isAccessible(q, ctx, row))) throw qosPolicyNotFound(id);
  return row;
}

/** Neutron's QosPolicy.is_accessible: an admin, the owner, or a policy shared with the caller. */
async function isAccessible(q: Q, ctx: RequestContext, p: QosPoliciesTable): Promise<boolean> {
  return ctx.isAdmin || p.project_id === ctx.projectId || p.shared === 1 || (await isSharedWith(q, 'qos_policy', p.id, ctx.projectId));
}

/**
 * QoS policies in the RBAC engine (object type `qos_policy`): networks and ports of other
 * projects bound to a policy depend on access to it (QosPolicy.get_bound_project_ids).
 */
export const qosPolicyRbacType: RbacObjectType = {
  type: 'qos_policy',
  kind: 'policy',
  table: 'qos_policies',
  actions: [ACCESS_SHARED],
  notFound: qosPolicyNotFound,
  callback: 'neutron.objects.qos.policy.RbacNeutronDbObjectMixin.validate_rbac_policy_change',
  async boundProjects(q, id) {
    const nets = await q
      .selectFrom('qos_network_bindings as b')
      .innerJoin('networks as n', 'n.id', 'b.network_id')
      .select('n.project_id')
      .where('b.policy_id', '=', id)
      .execute();
    const ports = await q
      .selectFrom('qos_port_bindings as b')
      .innerJoin('ports as p', 'p.id', 'b.port_id')
      .select('p.project_id')
      .where('b.policy_id', '=', id)
      .execute();
    return new Set([...nets, ...ports].map((r) => r.project_id));
  },
  // The `shared` mark follows the wildcard policy, however it came or went.
  async changed(w, policy) {
    const wildcard = await hasWildcard(w.trx, 'qos_policy', policy.object_id);
    await w.trx
      .updateTable('qos_policies')
      .set({ shared: wildcard ? 1 : 0 })
      .where('id', '=', policy.object_id)
      .execute();
  },
};

/** `shared` written as policies (RbacNeutronDbObjectMixin.update_shared), the mark with it. */
async function setShared(w: Work, policy: { id: string; project_id: string; shared: number }, shared: boolean): Promise<void> {
  if (!shared && policy.shared === 1 && !(await hasWildcard(w.trx, 'qos_policy', policy.id))) {
    // Marked shared before QoS policies were an RBAC type: no wildcard policy to remove.
  } else {
    try {
      await setWildcardShared(w, qosPolicyRbacType, policy.id, policy.project_id, shared);
    } catch (e) {
      // update_shared checks the removal itself: RbacPolicyInUse, not a callback's failure.
      if (e instanceof RbacRefused) throw rbacPolicyInUse(policy.id, `tenant_id=${WILDCARD}`);
      throw e;
    }
  }
  await w.trx
    .updateTable('qos_policies')
    .set({ shared: shared ? 1 : 0 })
    .where('id', '=', policy.id)
    .execute();
}

/** QosPolicy.set_default: one default per project. Returns whether it became the default. */
async function setDefault(trx: Tx, policy: QosPoliciesTable): Promise<boolean> {
  const current = await trx.selectFrom('qos_default_policies').select('policy_id').where('project_id', '=', policy.project_id).executeTakeFirst();
  if (current?.policy_id === policy.id) return false;
  if (current) throw conflict('QoSPolicyDefaultAlreadyExists', `A default QoS policy exists for project ${policy.project_id}.`);
  await trx.insertInto('qos_default_policies').values({ project_id: policy.project_id, policy_id: policy.id }).execute();
  return true;
}

/** Bound objects, in the order Neutron looks for them when a policy is deleted (binding_models). */
const BINDINGS = [
  ['port', 'qos_port_bindings', 'port_id'],
  ['network', 'qos_network_bindings', 'network_id'],
  ['fip', 'qos_fip_bindings', 'fip_id'],
  ['router', 'qos_router_bindings', 'router_id'],
] as const;

async function assertNotInUse(trx: Tx, policyId: string): Promise<void> {
  for (const [kind, table, column] of BINDINGS) {
    const bound = await trx.selectFrom(table).select(`${column} as id`).where('policy_id', '=', policyId).limit(1).executeTakeFirst();
    if (bound) throw conflict('QosPolicyInUse', `QoS Policy ${policyId} is used by ${kind} ${bound.id}.`);
  }
}

/**
 * The policy API. Only admins write policies (Neutron's default policy: create_policy,
 * update_policy and delete_policy are admin rules); members read their own and shared ones.
 */
export function qosPolicyOps(): ResourceOps<'qos_policies', PolicyComputed> {
  return {
    def: qosPolicyDef,
    async create(w, ctx, p) {
      if (!ctx.isAdmin) throw policyError('create_policy');
      const { trx } = w;
      const v = p.values;
      const id = newUuid();
      await insertRow(trx, qosPolicyDef, id, { ...toColumns(qosPolicyDef, v), shared: 0 });
      if (v.shared === true) await setShared(w, { id, project_id: v.project_id as string, shared: 0 }, true);
      if (v.is_default === true) {
        const row = await trx.selectFrom('qos_policies').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        // The default's own row revises the policy (QosPolicyDefault revises_on_change).
        if (await setDefault(trx, row)) await bumpRevision(trx, 'qos_policies', id);
      }
      return id;
    },

    async update(w, ctx, row, p) {
      if (!ctx.isAdmin) throw policyError('update_policy');
      const { trx } = w;
      const v = p.values;
      if ('is_default' in v) {
        if (v.is_default === true) await setDefault(trx, row);
        else await trx.deleteFrom('qos_default_policies').where('project_id', '=', row.project_id).where('policy_id', '=', row.id).execute();
      }
      if ('shared' in v) await setShared(w, row, v.shared as boolean);
      await updateRow(trx, qosPolicyDef, row, toColumns(qosPolicyDef, v));
      await policyChanged(w, row.id);
    },

    async delete(w, ctx, row) {
      if (!ctx.isAdmin) throw policyError('delete_policy');
      await assertNotInUse(w.trx, row.id);
      await deleteObjectPolicies(w.trx, 'qos_policy', row.id);
      await w.trx.deleteFrom('qos_policies').where('id', '=', row.id).execute();
    },
  };
}

/**
 * A policy's rules changed: everything it applies to must be enforced again. The data plane
 * hears the policy's change (the ports it reaches are found from the store in its pass).
 */
export async function policyChanged(w: Work, policyId: string): Promise<void> {
  const row = await w.trx.selectFrom('qos_policies').select('project_id').where('id', '=', policyId).executeTakeFirst();
  if (row) w.changed('policy', policyId, row.project_id, 'update');
}

// ---------------------------------------------------------------- what ML2/OVS's driver accepts

/** The rule types of a policy. */
async function ruleTypesOf(q: Q, policyId: string): Promise<string[]> {
  return (await rulesOf(q, [policyId])).get(policyId)!.map((r) => r.type);
}

/** QoSPlugin.validate_policy_for_network: minimum bandwidth needs a physical network under the network. */
export async function validatePolicyForNetwork(q: Q, policyId: string, networkId: string, physicalNetwork: string | null): Promise<void> {
  for (const type of await ruleTypesOf(q, policyId)) {
    if (type === 'minimum_bandwidth' && physicalNetwork === null) {
      throw conflict('QosRuleNotSupportedByNetwork', `Rule ${type} is not supported by network ${networkId}`);
    }
  }
}

/** What a port's QoS is checked against: its id, network and binding. */
export interface QosPortView {
  id: string;
  network_id: string;
  binding_vnic_type: string;
}

/**
 * QoSPlugin.validate_policy_for_port with ML2/OVS's driver: a port OVS does not plug (another
 * vnic type) supports no rule; otherwise as for its network.
 */
export async function validatePolicyForPort(q: Q, policyId: string, port: QosPortView): Promise<void> {
  const types = await ruleTypesOf(q, policyId);
  if (types.length === 0) return;
  const net = await q.selectFrom('networks').select('physical_network').where('id', '=', port.network_id).executeTakeFirst();
  checkRulesForPort(types, port, net?.physical_network ?? null);
}

function checkRulesForPort(types: readonly string[], port: QosPortView, physicalNetwork: string | null): void {
  for (const type of types) {
    const ok = OVS_VNIC_TYPES.includes(port.binding_vnic_type) && !(type === 'minimum_bandwidth' && !physicalNetwork);
    if (!ok) throw conflict('QosRuleNotSupported', `Rule ${type} is not supported by port ${port.id}`);
  }
}

/** A policy's rules changed: QoSPlugin.validate_policy over every port it reaches. */
export async function validatePolicyForItsPorts(q: Q, policyId: string): Promise<void> {
  for (const port of await portsReached(q, policyId)) await validatePolicyForPort(q, policyId, port);
}

/** The ports a policy applies to: its own, and those of its networks without a policy of their own. */
async function portsReached(q: Q, policyId: string): Promise<Array<QosPortView & { device_owner: string }>> {
  const own = await q
    .selectFrom('qos_port_bindings as b')
    .innerJoin('ports as p', 'p.id', 'b.port_id')
    .select(['p.id', 'p.network_id', 'p.binding_vnic_type', 'p.device_owner'])
    .where('b.policy_id', '=', policyId)
    .execute();
  const inherited = await q
    .selectFrom('qos_network_bindings as nb')
    .innerJoin('ports as p', 'p.network_id', 'nb.network_id')
    .leftJoin('qos_port_bindings as pb', 'pb.port_id', 'p.id')
    .select(['p.id', 'p.network_id', 'p.binding_vnic_type', 'p.device_owner'])
    .where('nb.policy_id', '=', policyId)
    .where('pb.port_id', 'is', null)
    .execute();
  return [...own, ...inherited];
}

/**
 * QoSPlugin.reject_rule_update_for_bound_port: minimum rules are placement resources, which a
 * compute port's allocation holds; Neutron cannot move them (NotImplementedError, a 501).
 */
export async function rejectMinimumChangeForBoundPorts(q: Q, policyId: string): Promise<void> {
  for (const p of await portsReached(q, policyId)) {
    if (p.device_owner.startsWith('compute:')) {
      throw new DomainError('not_implemented', 'NotImplementedError', 'Cannot update QoS policies/rules backed by resources tracked in Placement');
    }
  }
}

/** Changing what an object is bound to requires access to the policy it leaves (PolicyRemoveAuthorizationError). */
async function checkRemoval(q: Q, ctx: RequestContext, policyId: string): Promise<void> {
  const old = await q.selectFrom('qos_policies').selectAll().where('id', '=', policyId).executeTakeFirst();
  if (old && !(await isAccessible(q, ctx, old))) {
    throw new DomainError('forbidden', 'PolicyRemoveAuthorizationError', `Failed to remove provided policy ${policyId} because you are not authorized.`);
  }
}

// ---------------------------------------------------------------- networks

/**
 * A new network's policy (QosCoreResourceExtension._create_network_policy): the one asked for,
 * else the project's default, checked against the network. Returns it, null for none.
 */
export async function createNetworkQos(
  w: Work,
  ctx: RequestContext,
  network: { id: string; project_id: string; physical_network: string | null },
  requested: unknown,
): Promise<string | null> {
  const { trx } = w;
  let policyId = typeof requested === 'string' ? requested : null;
  if (!policyId) {
    // Read with the project's quota limits when this unit of work checked them (projectFacts).
    const facts = knownProjectFacts(w, network.project_id);
    policyId = facts
      ? facts.qosDefault
      : ((await trx.selectFrom('qos_default_policies').select('policy_id').where('project_id', '=', network.project_id).executeTakeFirst())?.policy_id ?? null);
    if (!policyId) return null;
  } else {
    await visiblePolicy(trx, ctx, policyId);
  }
  await trx.insertInto('qos_network_bindings').values({ network_id: network.id, policy_id: policyId }).execute();
  await validatePolicyForNetwork(trx, policyId, network.id, network.physical_network);
  return policyId;
}

/** A network's policy changed (QosCoreResourceExtension._update_network_policy and the plugin's checks). */
export async function updateNetworkQos(
  w: Work,
  ctx: RequestContext,
  network: { id: string; physical_network: string | null },
  requested: unknown,
): Promise<void> {
  const { trx } = w;
  const old = await trx.selectFrom('qos_network_bindings').select('policy_id').where('network_id', '=', network.id).executeTakeFirst();
  const policyId = typeof requested === 'string' ? requested : null;
  if (old) {
    await checkRemoval(trx, ctx, old.policy_id);
    await trx.deleteFrom('qos_network_bindings').where('network_id', '=', network.id).execute();
  }
  if (policyId === null) return;
  await visiblePolicy(trx, ctx, policyId);
  await trx.insertInto('qos_network_bindings').values({ network_id: network.id, policy_id: policyId }).execute();
  if (policyId === old?.policy_id) return;
  await validatePolicyForNetwork(trx, policyId, network.id, network.physical_network);
  const ports = await trx
    .selectFrom('ports as p')
    .leftJoin('qos_port_bindings as pb', 'pb.port_id', 'p.id')
    .select(['p.id', 'p.network_id', 'p.binding_vnic_type'])
    .where('p.network_id', '=', network.id)
    .where('pb.port_id', 'is', null)
    .execute();
  for (const p of ports) await validatePolicyForPort(trx, policyId, p);
}

/** `qos_policy_id` of networks being rendered. */
export async function loadNetworkQos(q: Q, rows: Array<{ id: string; __qos_policy_id?: string | null }>): Promise<void> {
  const byId = new Map<string, string>();
  for (const chunk of chunks(
    rows.map((r) => r.id),
    IN_CHUNK,
  )) {
    for (const b of await q.selectFrom('qos_network_bindings').selectAll().where('network_id', 'in', chunk).execute()) byId.set(b.network_id, b.policy_id);
  }
  for (const r of rows) r.__qos_policy_id = byId.get(r.id) ?? null;
}

// ---------------------------------------------------------------- ports

/**
 * A new port's own policy, then the check of what applies to it (its own, else its network's).
 * Returns the port's QoS attributes as this transaction wrote and read them (the create's answer
 * renders them, as loadPortQos would after the commit: issue 17's profile of a port create on a
 * network with a policy read them three statements again). `physicalNetwork`: the port's
 * network's, which the caller read with the network.
 */
export async function createPortQos(
  w: Work,
  ctx: RequestContext,
  port: QosPortView,
  requested: unknown,
  physicalNetwork: string | null,
  networkQos?: NetworkQos,
): Promise<PortQosComputed> {
  const { trx } = w;
  const own = typeof requested === 'string' ? requested : null;
  if (own) {
    await visiblePolicy(trx, ctx, own);
    await trx.insertInto('qos_port_bindings').values({ port_id: port.id, policy_id: own }).execute();
  }
  const ofNetwork = networkQos ? networkQos.policyId : ((await policyOfNetwork.execute(trx, { network: port.network_id }))[0]?.policy_id ?? null);
  const applies = own ?? ofNetwork;
  let request: ResourceRequest | null = null;
  if (applies) {
    const rules: PortRule[] = (!own && networkQos ? [...networkQos.rules] : await rulesOfPolicy.execute(trx, { policy: applies })).sort(byRuleType);
    checkRulesForPort(
      rules.map((r) => r.type),
      port,
      physicalNetwork,
    );
    const mins = rules.filter((r) => r.type.startsWith('minimum_'));
    if (mins.length) request = resourceRequest(port.id, port.binding_vnic_type, physicalNetwork, mins);
  }
  return { qos_policy_id: own, qos_network_policy_id: ofNetwork, resource_request: request };
}

/** A port's own policy changed (QosCoreResourceExtension._update_port_policy and the plugin's check). */
export async function updatePortQos(w: Work, ctx: RequestContext, port: QosPortView, requested: unknown): Promise<void> {
  const { trx } = w;
  const old = await trx.selectFrom('qos_port_bindings').select('policy_id').where('port_id', '=', port.id).executeTakeFirst();
  const policyId = typeof requested === 'string' ? requested : null;
  if (old) {
    await checkRemoval(trx, ctx, old.policy_id);
    await trx.deleteFrom('qos_port_bindings').where('port_id', '=', port.id).execute();
  }
  if (policyId === null) return;
  await visiblePolicy(trx, ctx, policyId);
  await trx.insertInto('qos_port_bindings').values({ port_id: port.id, policy_id: policyId }).execute();
  if (policyId !== old?.policy_id) await validatePolicyForPort(trx, policyId, port);
}

/** A port's resource_request (port-resource-request): what placement must hold for its minimum rules. */
interface ResourceRequest {
  request_groups: Array<{ id: string; required: string[]; resources: Record<string, number> }>;
  same_subtree: string[];
}

/** os-traits' normalize_name: upper case, anything else than [A-Z0-9_] becomes `_`. */
const trait = (prefix: string, name: string) => `${prefix}${name}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

/** RFC 4122 version-5 UUID (Python's uuid.uuid5), as pl_utils.resource_request_group_uuid makes them. */
function uuid5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** QoSPlugin._get_resource_request: a group for minimum bandwidth (physnet networks) and one for minimum packet rate. */
function resourceRequest(portId: string, vnicType: string, physnet: string | null, rules: PortRule[]): ResourceRequest | null {
  const groups: ResourceRequest['request_groups'] = [];
  const vnicTrait = trait('CUSTOM_VNIC_TYPE_', vnicType);
  const minBw = rules.filter((r) => r.type === 'minimum_bandwidth');
  if (minBw.length && physnet) {
    const resources: Record<string, number> = {};
    for (const r of minBw) resources[r.direction === 'ingress' ? 'NET_BW_IGR_KILOBIT_PER_SEC' : 'NET_BW_EGR_KILOBIT_PER_SEC'] = Number(r.min_kbps);
    groups.push({ id: uuid5(portId, minBw.map((r) => r.id).join(':')), required: [trait('CUSTOM_PHYSNET_', physnet), vnicTrait], resources });
  }
  const minPps = rules.filter((r) => r.type === 'minimum_packet_rate');
  if (minPps.length) {
    const cls: Record<string, string> = {
      ingress: 'NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC',
      egress: 'NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC',
      any: 'NET_PACKET_RATE_KILOPACKET_PER_SEC',
    };
    const resources: Record<string, number> = {};
    for (const r of minPps) resources[cls[r.direction ?? 'egress']] = Number(r.min_kpps);
    groups.push({ id: uuid5(portId, minPps.map((r) => r.id).join(':')), required: [vnicTrait], resources });
  }
  return groups.length ? { request_groups: groups, same_subtree: groups.map((g) => g.id) } : null;
}

/** What ports being rendered carry of QoS. */
export interface PortQosComputed {
  qos_policy_id: string | null;
  qos_network_policy_id: string | null;
  resource_request: ResourceRequest | null;
}

/** The policy a port is bound to, null for none. */
const firstOrNull = (rows: unknown[][]) => (rows[0]?.[0] as string | undefined) ?? null;

/** A port's own policy and its network's, read with the port itself (a show, see showRow). */
export const portQosInline: Record<'qos_policy_id' | 'qos_network_policy_id', InlineAttr<'ports'>> = {
  qos_policy_id: {
    rows: (eb) => eb.selectFrom('qos_port_bindings').select('qos_port_bindings.policy_id').whereRef('qos_port_bindings.port_id', '=', 'ports.id'),
    columns: ['policy_id'],
    value: firstOrNull,
  },
  qos_network_policy_id: {
    rows: (eb) =>
      eb.selectFrom('qos_network_bindings').select('qos_network_bindings.policy_id').whereRef('qos_network_bindings.network_id', '=', 'ports.network_id'),
    columns: ['policy_id'],
    value: firstOrNull,
  },
};

/** A network's own policy read with it by a show (`ResourceDef.inline`), as loadNetworkQos sets it. */
export const networkQosInline: InlineAttr<'networks'> = {
  rows: (eb) => eb.selectFrom('qos_network_bindings').select('qos_network_bindings.policy_id').whereRef('qos_network_bindings.network_id', '=', 'networks.id'),
  columns: ['policy_id'],
  value: firstOrNull,
};

/**
 * A router's gateway QoS read with it by a show (`ResourceDef.inline`), as routerGatewayQos
 * decides it: its own policy, and whether its gateway's network has one.
 */
export const routerGatewayQosInline: InlineAttr<'routers'> = {
  rows: (eb) =>
    eb
      .selectFrom('ports')
      .select([
        (e) =>
          e.selectFrom('qos_router_bindings').select('qos_router_bindings.policy_id').whereRef('qos_router_bindings.router_id', '=', 'routers.id').as('own'),
        (e) =>
          e
            .selectFrom('qos_network_bindings')
            .select('qos_network_bindings.policy_id')
            .whereRef('qos_network_bindings.network_id', '=', 'ports.network_id')
            .as('network'),
      ])
      .whereRef('ports.id', '=', 'routers.gw_port_id'),
  columns: ['own', 'network'],
  // What the gateway shows: `qos_policy_id` (the router's own policy, else null) when either has one.
  value: (rows) => {
    const [own, network] = (rows[0] ?? []) as Array<string | null | undefined>;
    return own || network ? (own ?? null) : undefined;
  },
};

/**
 * `qos_policy_id`, `qos_network_policy_id` and `resource_request` of ports being rendered; the
 * first two are read unless every row has them already (portQosInline, or a create's answer).
 */
export async function loadPortQos(
  q: Q,
  rows: Array<{
    id: string;
    network_id: string;
    binding_vnic_type: string;
    __qos_policy_id?: string | null;
    __qos_network_policy_id?: string | null;
    __resource_request?: ResourceRequest | null;
  }>,
): Promise<void> {
  const own = new Map<string, string>();
  const ofNetwork = new Map<string, string>();
  if (rows.every((r) => r.__qos_policy_id !== undefined && r.__qos_network_policy_id !== undefined)) {
    // Read with the port (portQosInline): only the rules of what applies are still to read.
    for (const r of rows) {
      if (r.__qos_policy_id) own.set(r.id, r.__qos_policy_id);
      if (r.__qos_network_policy_id) ofNetwork.set(r.network_id, r.__qos_network_policy_id);
    }
  } else {
    for (const chunk of chunks(
      rows.map((r) => r.id),
      IN_CHUNK,
    )) {
      for (const b of await q.selectFrom('qos_port_bindings').selectAll().where('port_id', 'in', chunk).execute()) own.set(b.port_id, b.policy_id);
    }
    for (const chunk of chunks([...new Set(rows.map((r) => r.network_id))], IN_CHUNK)) {
      for (const b of await q.selectFrom('qos_network_bindings').selectAll().where('network_id', 'in', chunk).execute())
        ofNetwork.set(b.network_id, b.policy_id);
    }
  }
  const policies = new Set([...own.values(), ...rows.map((r) => ofNetwork.get(r.network_id)).filter((p): p is string => p !== undefined)]);
  const rules = policies.size ? await rulesOf(q, [...policies]) : new Map<string, QosRulesTable[]>();
  const minimum = (id: string | undefined) => (id ? (rules.get(id) ?? []).filter((r) => r.type.startsWith('minimum_')) : []);
  const needsNetworks = rows.filter((r) => minimum(own.get(r.id) ?? ofNetwork.get(r.network_id)).length);
  const physnets = new Map<string, string | null>();
  for (const chunk of chunks([...new Set(needsNetworks.map((r) => r.network_id))], IN_CHUNK)) {
    for (const n of await q.selectFrom('networks').select(['id', 'physical_network']).where('id', 'in', chunk).execute())
      physnets.set(n.id, n.physical_network);
  }
  for (const r of rows) {
    r.__qos_policy_id = own.get(r.id) ?? null;
    r.__qos_network_policy_id = ofNetwork.get(r.network_id) ?? null;
    const mins = minimum(r.__qos_policy_id ?? r.__qos_network_policy_id ?? undefined);
    r.__resource_request = mins.length ? resourceRequest(r.id, r.binding_vnic_type, physnets.get(r.network_id) ?? null, mins) : null;
  }
}

// ---------------------------------------------------------------- floating IPs (qos-fip)

/** A floating IP's policy set or cleared; returns whether its binding changed. */
export async function setFloatingIpQos(w: Work, ctx: RequestContext, fipId: string, requested: unknown, fresh = false): Promise<boolean> {
  const { trx } = w;
  // A floating IP created in this transaction has no binding yet.
  const old = fresh ? undefined : await trx.selectFrom('qos_fip_bindings').select('policy_id').where('fip_id', '=', fipId).executeTakeFirst();
  const policyId = typeof requested === 'string' ? requested : null;
  if (old?.policy_id === policyId || (!old && policyId === null)) return false;
  if (old) await trx.deleteFrom('qos_fip_bindings').where('fip_id', '=', fipId).execute();
  if (policyId) {
    await visiblePolicy(trx, ctx, policyId);
    await trx.insertInto('qos_fip_bindings').values({ fip_id: fipId, policy_id: policyId }).execute();
  }
  return true;
}

/** A floating IP's policy read with it by a show (`ResourceDef.inline`), as loadFloatingIpQos sets it. */
export const fipQosInline: InlineAttr<'floating_ips'> = {
  rows: (eb) => eb.selectFrom('qos_fip_bindings').select('qos_fip_bindings.policy_id').whereRef('qos_fip_bindings.fip_id', '=', 'floating_ips.id'),
  columns: ['policy_id'],
  value: firstOrNull,
};

export async function loadFloatingIpQos(q: Q, rows: Array<{ id: string; __qos_policy_id?: string | null }>): Promise<void> {
  const byId = new Map<string, string>();
  for (const chunk of chunks(
    rows.map((r) => r.id),
    IN_CHUNK,
  )) {
    for (const b of await q.selectFrom('qos_fip_bindings').selectAll().where('fip_id', 'in', chunk).execute()) byId.set(b.fip_id, b.policy_id);
  }
  for (const r of rows) r.__qos_policy_id = byId.get(r.id) ?? null;
}

// ---------------------------------------------------------------- router gateways (qos-gateway-ip)

/**
 * L3_gw_ip_qos_dbonly_mixin._update_router_gw_qos_policy: a gateway info that names
 * `qos_policy_id` sets (or, with null, clears) the gateway's policy; one that does not leaves it.
 * A router without a gateway has none. Returns whether the binding changed.
 */
export async function setRouterGatewayQos(w: Work, ctx: RequestContext, routerId: string, hasGateway: boolean, info: unknown): Promise<boolean> {
  const { trx } = w;
  const given = typeof info === 'object' && info !== null && Object.hasOwn(info, 'qos_policy_id');
  if (hasGateway && !given) return false;
  const policyId = hasGateway && given ? ((info as { qos_policy_id?: unknown }).qos_policy_id as string | null) : null;
  const old = await trx.selectFrom('qos_router_bindings').select('policy_id').where('router_id', '=', routerId).executeTakeFirst();
  if (old?.policy_id === policyId || (!old && !policyId)) return false;
  if (old) await trx.deleteFrom('qos_router_bindings').where('router_id', '=', routerId).execute();
  if (policyId) {
    await visiblePolicy(trx, ctx, policyId);
    await trx.insertInto('qos_router_bindings').values({ router_id: routerId, policy_id: policyId }).execute();
  }
  return true;
}

/**
 * The gateway policy routers show in `external_gateway_info`: present when the router has one or
 * its gateway's network has one (_extend_router_dict_gw_qos), the router's own (maybe null).
 */
export async function routerGatewayQos(q: Q, routers: Array<{ id: string; gwNetworkId: string | null }>): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  const withGw = routers.filter((r) => r.gwNetworkId !== null);
  if (!withGw.length) return out;
  const own = new Map<string, string>();
  const nets = new Set<string>();
  for (const chunk of chunks(
    withGw.map((r) => r.id),
    IN_CHUNK,
  )) {
    for (const b of await q.selectFrom('qos_router_bindings').selectAll().where('router_id', 'in', chunk).execute()) own.set(b.router_id, b.policy_id);
  }
  for (const chunk of chunks([...new Set(withGw.map((r) => r.gwNetworkId!))], IN_CHUNK)) {
    for (const b of await q.selectFrom('qos_network_bindings').select('network_id').where('network_id', 'in', chunk).execute()) nets.add(b.network_id);
  }
  for (const r of withGw) if (own.has(r.id) || nets.has(r.gwNetworkId!)) out.set(r.id, own.get(r.id) ?? null);
  return out;
}
