/**
 * QoS rules: the five kinds as sub-resources of a policy (`/qos/policies/{id}/<kind>_rules`),
 * their policy-less aliases (`qos-rules-alias`, `qos-pps-minimum-rule-alias`) and the rule
 * types with their details (`qos-rule-type-details`, `qos-rule-type-filter`), as Neutron's
 * QoSPlugin serves them with ML2/OVS's QoS driver loaded: the checks a rule meets (conflicts
 * with the policy's other rules, what the ports it reaches support) and the errors it gets are
 * Neutron's. Every change of a rule revises its policy (rules revise_on_change the policy).
 */
import type { QosRulesTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { pyStrOf } from '../../util/pyrepr.js';
import { isoMicros } from '../../util/time.js';
import { type RequestContext, systemContext } from '../context.js';
import { DomainError, conflict, notFound } from '../errors.js';
import type { UnitOfWork, Work } from '../work.js';
import { type Attr, type Validator, range, toInt, uuid } from './attributes.js';
import {
  RULE_FIELDS,
  RULE_TYPES,
  type RuleType,
  policyChanged,
  qosPolicyDef,
  rejectMinimumChangeForBoundPorts,
  rulesOf,
  validatePolicyForItsPorts,
  visiblePolicy,
} from './qos.js';
import {
  type ResourceDef,
  bumpRevision,
  getRowForUpdate,
  listRows,
  parseListOptions,
  policyError,
  prepareCreate,
  prepareUpdate,
  render,
  unwrapBody,
} from './resource.js';

/** neutron-lib's DB_INTEGER_MAX_VALUE: the top of every rate's range. */
const INT_MAX = 2147483647;
/** neutron-lib's VALID_DSCP_MARKS. */
const DSCP_MARKS = [0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 46, 48, 56];
const DIRECTIONS = ['ingress', 'egress'];
const DIRECTIONS_AND_ANY = ['any', 'ingress', 'egress'];

/** neutron-lib's validate_values with no display list: "<value> is not in valid_values". */
const validValues =
  (allowed: readonly unknown[]): Validator =>
  (v) =>
    allowed.includes(v) ? undefined : `${pyStrOf(v)} is not in valid_values`;

const rate = (required: boolean): Attr => ({
  post: true,
  put: true,
  ...(required ? {} : { default: 0 }),
  filter: true,
  sort: true,
  codec: 'int',
  convert: toInt,
  validate: range(0, INT_MAX),
});
const direction = (allowed: readonly string[]): Attr => ({
  post: true,
  put: true,
  default: 'egress',
  filter: true,
  sort: true,
  validate: validValues(allowed),
});

/** Each kind's attributes (neutron-lib's sub_resource_attribute_map), in the order a rule renders. */
const KIND_ATTRS: Record<RuleType, Record<string, Attr>> = {
  bandwidth_limit: { max_kbps: rate(true), max_burst_kbps: rate(false), direction: direction(DIRECTIONS) },
  dscp_marking: { dscp_mark: { post: true, put: true, filter: true, sort: true, codec: 'int', convert: toInt, validate: validValues(DSCP_MARKS) } },
  minimum_bandwidth: { min_kbps: rate(true), direction: direction(DIRECTIONS) },
  minimum_packet_rate: { min_kpps: rate(true), direction: direction(DIRECTIONS_AND_ANY) },
  packet_rate_limit: { max_kpps: rate(true), max_burst_kpps: rate(false), direction: direction(DIRECTIONS) },
};

/** One kind of rule as the API serves it, under a policy and as an alias. */
export interface RuleKind {
  type: RuleType;
  /** `bandwidth_limit_rules` */
  collection: string;
  def: ResourceDef<'qos_rules'>;
  /** `alias_bandwidth_limit_rules`: only PUT (no POST) and the alias's body key. */
  alias: ResourceDef<'qos_rules'>;
}

function kindOf(type: RuleType): RuleKind {
  const attrs: Record<string, Attr> = {};
  for (const [name, a] of Object.entries(KIND_ATTRS[type])) attrs[name] = { ...a, column: name };
  attrs.id = { filter: true, sort: true, column: 'id', validate: uuid };
  // Accepted on create (and ignored: a rule is its policy's), never shown.
  attrs.tenant_id = { post: true, visible: false };
  const notFoundFor = (id: string) => notFound('QosRuleNotFound', `QoS rule ${id} for policy  could not be found.`);
  const base = { table: 'qos_rules' as const, label: 'QoS rule', notFound: notFoundFor };
  const aliasAttrs: Record<string, Attr> = {};
  for (const [name, a] of Object.entries(attrs)) aliasAttrs[name] = { ...a, post: false };
  return {
    type,
    collection: `${type}_rules`,
    def: { ...base, name: `${type}_rule`, collection: `${type}_rules`, attrs },
    alias: { ...base, name: `alias_${type}_rule`, collection: `alias_${type}_rules`, attrs: aliasAttrs },
  };
}

const KINDS: ReadonlyMap<string, RuleKind> = new Map(RULE_TYPES.map((t) => [`${t}_rules`, kindOf(t)]));
const ALIASES: ReadonlyMap<string, RuleKind> = new Map([...KINDS.values()].map((k) => [k.alias.collection, k]));

const ruleNotFound = (policyId: string, ruleId: string) => notFound('QosRuleNotFound', `QoS rule ${ruleId} for policy ${policyId} could not be found.`);

const parameterConflict = (value: unknown, policyId: string, existing: string, existingValue: unknown) =>
  conflict(
    'QoSRuleParameterConflict',
    `Unable to add the rule with value ${pyStrOf(value)} to the policy ${policyId} as the existing rule of type ${existing} has value ${pyStrOf(existingValue)}.`,
  );

/** qos_policy_validator.check_bandwidth_rule_conflict: a limit below a minimum (or the reverse). */
function checkBandwidthConflict(policyId: string, rules: QosRulesTable[], data: Record<string, unknown>): void {
  for (const r of rules) {
    if (r.type === 'minimum_bandwidth' && 'max_kbps' in data && Number(r.min_kbps) > Number(data.max_kbps)) {
      throw parameterConflict(data.max_kbps, policyId, r.type, r.min_kbps);
    }
    if (r.type === 'bandwidth_limit' && 'min_kbps' in data && Number(r.max_kbps) < Number(data.min_kbps)) {
      throw parameterConflict(data.min_kbps, policyId, r.type, r.max_kbps);
    }
  }
}

/** check_min_pps_rule_conflict: direction-less and directed minimum packet rates do not mix. */
function checkMinPpsConflict(policyId: string, rules: QosRulesTable[], rule: QosRulesTable): void {
  if (rule.type !== 'minimum_packet_rate' || !rule.direction) return;
  for (const r of rules) {
    if (r.type !== 'minimum_packet_rate' || r.id === rule.id) continue;
    const mixed = (rule.direction === 'any' && r.direction !== 'any') || (rule.direction !== 'any' && r.direction === 'any');
    if (mixed) throw parameterConflict(rule.direction, policyId, r.type, r.direction);
  }
}

/** check_rules_conflict: one rule per kind (and direction, where the kind has one) in a policy. */
function checkRulesConflict(policyId: string, rules: QosRulesTable[], rule: QosRulesTable): void {
  for (const r of rules) {
    if (r.id === rule.id || r.type !== rule.type) continue;
    if (RULE_FIELDS[rule.type as RuleType].includes('direction') && r.direction !== rule.direction) continue;
    throw conflict('QoSRulesConflict', `Rule ${rule.type} conflicts with rule ${r.id} which already exists in QoS Policy ${policyId}.`);
  }
}

/** A rule type's details: ML2/OVS's QoS driver and the parameters it takes (SUPPORTED_RULES). */
function ruleTypeDrivers(type: RuleType) {
  const rangeOf = (name: string) => ({ parameter_name: name, parameter_values: { start: 0, end: INT_MAX }, parameter_type: 'range' });
  const choices = (name: string, values: readonly unknown[]) => ({ parameter_name: name, parameter_values: [...values], parameter_type: 'choices' });
  const params: Record<RuleType, unknown[]> = {
    bandwidth_limit: [choices('direction', DIRECTIONS), rangeOf('max_burst_kbps'), rangeOf('max_kbps')],
    dscp_marking: [choices('dscp_mark', DSCP_MARKS)],
    minimum_bandwidth: [choices('direction', DIRECTIONS), rangeOf('min_kbps')],
    minimum_packet_rate: [choices('direction', DIRECTIONS_AND_ANY), rangeOf('min_kpps')],
    packet_rate_limit: [choices('direction', DIRECTIONS), rangeOf('max_burst_kpps'), rangeOf('max_kpps')],
  };
  return [{ name: 'openvswitch', supported_parameters: params[type] }];
}

/** The rules of QoS policies, as QoSPlugin serves them. */
export class QosRules {
  constructor(private readonly uow: UnitOfWork) {}

  /** Every kind of rule. */
  kinds(): RuleKind[] {
    return [...KINDS.values()];
  }

  /** The kind served at `<collection>` under a policy (`bandwidth_limit_rules`), if any. */
  kind(collection: string): RuleKind | undefined {
    return KINDS.get(collection);
  }

  /** The kind served at `/qos/<collection>` as an alias (`alias_bandwidth_limit_rules`), if any. */
  aliasKind(collection: string): RuleKind | undefined {
    return ALIASES.get(collection);
  }

  async list(ctx: RequestContext, policyId: string, kind: RuleKind, query: Map<string, string[]>): Promise<Record<string, unknown>[]> {
    const db = this.uow.store.db;
    const opts = parseListOptions(kind.def, query);
    await visiblePolicy(db, ctx, policyId);
    // The policy is visible, so are its rules (they have no owner of their own).
    const rows = await listRows(db, kind.def, systemContext(ctx.requestId), opts, (eb) =>
      eb.and([eb('qos_rules.policy_id', '=', policyId), eb('qos_rules.type', '=', kind.type)]),
    );
    return rows.map((r) => render(kind.def, ctx, r, opts.fields));
  }

  async show(ctx: RequestContext, policyId: string, kind: RuleKind, ruleId: string, fields?: string[]): Promise<Record<string, unknown>> {
    const db = this.uow.store.db;
    await visiblePolicy(db, ctx, policyId);
    const rule = await db.selectFrom('qos_rules').selectAll().where('id', '=', ruleId).where('type', '=', kind.type).executeTakeFirst();
    if (!rule) throw ruleNotFound(policyId, ruleId);
    return render(kind.def, ctx, rule, fields);
  }

  async create(ctx: RequestContext, policyId: string, kind: RuleKind, body: unknown): Promise<Record<string, unknown>> {
    const [item] = unwrapBody(kind.def, body, false);
    const p = prepareCreate(kind.def, ctx, item);
    if (!ctx.isAdmin) throw policyError(`create_policy_${kind.type}_rule`);
    const id = await this.uow.run(async (w) => {
      const policy = await getRowForUpdate(w, qosPolicyDef, ctx, policyId);
      const rules = (await rulesOf(w.trx, [policy.id])).get(policy.id)!;
      const data = p.values;
      checkBandwidthConflict(policy.id, rules, data);
      const rule: QosRulesTable = {
        id: newUuid(),
        policy_id: policy.id,
        project_id: policy.project_id,
        type: kind.type,
        direction: null,
        max_kbps: null,
        max_burst_kbps: null,
        min_kbps: null,
        dscp_mark: null,
        max_kpps: null,
        max_burst_kpps: null,
        min_kpps: null,
        created_at: isoMicros(),
      };
      for (const f of RULE_FIELDS[kind.type]) rule[f] = data[f] as never;
      checkMinPpsConflict(policy.id, rules, rule);
      checkRulesConflict(policy.id, rules, rule);
      await w.trx.insertInto('qos_rules').values(rule).execute();
      await this.afterChange(w, policy.id, kind.type);
      return rule.id;
    }, ctx);
    return this.rendered(ctx, kind, id);
  }

  async update(ctx: RequestContext, policyId: string, kind: RuleKind, ruleId: string, body: unknown, def = kind.def): Promise<Record<string, unknown>> {
    const [item] = unwrapBody(def, body, false);
    const p = prepareUpdate(def, ctx, item);
    // Neutron reads the rule (through its policy, QosPolicyNotFound when the caller may not see
    // it) before it enforces the update's rule.
    if (!ctx.isAdmin) await visiblePolicy(this.uow.store.db, ctx, policyId);
    if (!ctx.isAdmin) throw policyError(def === kind.def ? `update_policy_${kind.type}_rule` : `update_alias_${kind.type}_rule`);
    await this.uow.run(async (w) => {
      const policy = await getRowForUpdate(w, qosPolicyDef, ctx, policyId);
      const rules = (await rulesOf(w.trx, [policy.id])).get(policy.id)!;
      const current = rules.find((r) => r.id === ruleId && r.type === kind.type);
      if (!current) throw ruleNotFound(policy.id, ruleId);
      checkBandwidthConflict(policy.id, rules, p.values);
      const rule: QosRulesTable = { ...current };
      for (const f of RULE_FIELDS[kind.type]) if (f in p.values) rule[f] = p.values[f] as never;
      checkMinPpsConflict(policy.id, rules, rule);
      checkRulesConflict(policy.id, rules, rule);
      const changes: Partial<QosRulesTable> = {};
      for (const f of RULE_FIELDS[kind.type]) if (f in p.values) changes[f] = rule[f] as never;
      if (Object.keys(changes).length) await w.trx.updateTable('qos_rules').set(changes).where('id', '=', rule.id).execute();
      await this.afterChange(w, policy.id, kind.type);
    }, ctx);
    return this.rendered(ctx, kind, ruleId, def);
  }

  async delete(ctx: RequestContext, policyId: string, kind: RuleKind, ruleId: string, alias = false): Promise<void> {
    if (!ctx.isAdmin) await visiblePolicy(this.uow.store.db, ctx, policyId);
    if (!ctx.isAdmin) throw policyError(alias ? `delete_alias_${kind.type}_rule` : `delete_policy_${kind.type}_rule`);
    await this.uow.run(async (w) => {
      const policy = await getRowForUpdate(w, qosPolicyDef, ctx, policyId);
      const rule = await w.trx.selectFrom('qos_rules').select('id').where('id', '=', ruleId).where('policy_id', '=', policy.id).executeTakeFirst();
      if (!rule) throw ruleNotFound(policy.id, ruleId);
      await w.trx.deleteFrom('qos_rules').where('id', '=', ruleId).execute();
      await this.afterChange(w, policy.id, kind.type, false);
    }, ctx);
  }

  /** The policy of an alias's rule (QoSPlugin._get_policy_id: a missing rule names no policy). */
  async policyOfRule(kind: RuleKind, ruleId: string): Promise<string> {
    const rule = await this.uow.store.db.selectFrom('qos_rules').select('policy_id').where('id', '=', ruleId).where('type', '=', kind.type).executeTakeFirst();
    if (!rule) throw ruleNotFound('', ruleId);
    return rule.policy_id;
  }

  async showAlias(ctx: RequestContext, kind: RuleKind, ruleId: string, fields?: string[]): Promise<Record<string, unknown>> {
    const out = await this.show(ctx, await this.policyOfRule(kind, ruleId), kind, ruleId, fields);
    return out;
  }

  async updateAlias(ctx: RequestContext, kind: RuleKind, ruleId: string, body: unknown): Promise<Record<string, unknown>> {
    return this.update(ctx, await this.policyOfRule(kind, ruleId), kind, ruleId, body, kind.alias);
  }

  async deleteAlias(ctx: RequestContext, kind: RuleKind, ruleId: string): Promise<void> {
    await this.delete(ctx, await this.policyOfRule(kind, ruleId), kind, ruleId, true);
  }

  /** GET /qos/rule-types: every kind (one driver, which supports them all, so the filters change nothing). */
  ruleTypes(): Array<{ type: string }> {
    return RULE_TYPES.map((type) => ({ type }));
  }

  /** GET /qos/rule-types/{type}: admins only (QoSPlugin.get_rule_type raises NotAuthorized). */
  ruleType(ctx: RequestContext, type: string): { type: string; drivers: unknown[] } {
    if (!ctx.isAdmin) throw new DomainError('forbidden', 'NotAuthorized', 'Not authorized.');
    if (!(RULE_TYPES as readonly string[]).includes(type)) throw notFound('HTTPNotFound', 'The resource could not be found.');
    return { type, drivers: ruleTypeDrivers(type as RuleType) };
  }

  /**
   * After a rule changed: the ports the policy reaches must support it (validate_policy), minimum
   * rules cannot change under compute ports (reject_rule_update_for_bound_port), the policy is
   * revised and the data plane told.
   */
  private async afterChange(w: Work, policyId: string, type: RuleType, validate = true): Promise<void> {
    if (validate) await validatePolicyForItsPorts(w.trx, policyId);
    if (type.startsWith('minimum_')) await rejectMinimumChangeForBoundPorts(w.trx, policyId);
    await bumpRevision(w.trx, 'qos_policies', policyId);
    await policyChanged(w, policyId);
  }

  private async rendered(ctx: RequestContext, kind: RuleKind, id: string, def = kind.def): Promise<Record<string, unknown>> {
    const row = await this.uow.store.db.selectFrom('qos_rules').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return render(def, ctx, row);
  }
}
