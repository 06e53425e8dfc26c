/**
 * L7 policies (reject, redirect to a URL or prefix, redirect to a pool), ordered by position
 * on their listener, and their rules (path, host name, header, cookie, file type matches).
 */
import type { Updateable } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import type { LbL7PoliciesTable, LbL7RulesTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { authorize, getL7Policy, getL7Rule, getLb, getListener, getPool } from './access.js';
import * as C from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { checkProtocolPair } from './listeners.js';
import { type L7PolicyRow, type L7RuleRow, type LbRow, type ListenerRow, type PoolRow, octaviaTime } from './model.js';
import { type ListSpec, type Listing, OBJECT_COLUMNS, listPage, listV2Page } from './query.js';
import { checkQuota } from './quotas.js';
import { type Rendered, renderL7Policies, renderL7Rules } from './render.js';
import type { L7PolicyPost, L7PolicyPut, L7RulePost, L7RulePut, L7RuleSingle } from './schemas.js';
import { lockLoadBalancer, renumberPolicies, writeTags } from './status.js';
import { isValidUrl } from './wsme.js';

const L7POLICY_LIST: ListSpec<'lb_l7policies'> = {
  table: 'lb_l7policies',
  tagType: 'lb_l7policy',
  columns: {
    ...OBJECT_COLUMNS,
    name: { column: 'name' },
    description: { column: 'description' },
    action: { column: 'action' },
    listener_id: { column: 'listener_id' },
    redirect_pool_id: { column: 'redirect_pool_id' },
    redirect_url: { column: 'redirect_url' },
    redirect_prefix: { column: 'redirect_prefix' },
    redirect_http_code: { column: 'redirect_http_code', type: 'int' },
    position: { column: 'position', type: 'int' },
  },
};

const L7RULE_LIST: ListSpec<'lb_l7rules'> = {
  table: 'lb_l7rules',
  tagType: 'lb_l7rule',
  columns: {
    ...OBJECT_COLUMNS,
    l7policy_id: { column: 'l7policy_id' },
    type: { column: 'type' },
    compare_type: { column: 'compare_type' },
    key: { column: 'key' },
    value: { column: 'value' },
    invert: { column: 'invert', type: 'bool' },
  },
};

// ------------------------------------------------------------ validation

/** Octavia's validate.regex(): refused when it does not compile (here: as a JavaScript RegExp). */
function checkRegex(value: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point (Python's re would take them; HAProxy's configuration cannot)
  if (/[\x00-\x1f\x7f-\x9f]/.test(value)) throw new RuleError('Unable to parse regular expression: contains control characters');
  try {
    new RegExp(value);
  } catch (e) {
    throw new RuleError(`Unable to parse regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}

class RuleError extends Error {}

const invalidRule = (msg: string) => new RuleError(`Invalid L7 Rule: ${msg}`);

function headerName(v: string, what: string) {
  if (!C.HTTP_HEADER_NAME_RE.test(v)) throw new RuleError(`Invalid characters in ${what}`);
}
function headerValue(v: string, what: string) {
  if (!C.HTTP_HEADER_VALUE_RE.test(v) && !C.HTTP_QUOTED_HEADER_VALUE_RE.test(v)) throw new RuleError(`Invalid characters in ${what}`);
}
function cookieValue(v: string, what: string) {
  if (!C.HTTP_COOKIE_VALUE_RE.test(v)) throw new RuleError(`Invalid characters in ${what}`);
}

const COMPARES = ['STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO'];

/** Octavia's validate.l7rule_data(): each rule type with its comparisons. */
export function checkRule(r: { type?: string | null; compare_type?: string | null; key?: string | null; value?: string | null }): void {
  // Sent as null or not at all, type and compare type match none of the cases below.
  const compare = r.compare_type ?? '';
  try {
    if (!r.value) throw invalidRule('L7 rule type requires a value');
    switch (r.type) {
      case 'HEADER':
      case 'COOKIE':
        if (!r.key) throw invalidRule('L7 rule type requires a key');
        headerName(r.key, 'key');
        if (compare === 'REGEX') checkRegex(r.value);
        else if (COMPARES.includes(compare)) (r.type === 'HEADER' ? headerValue : cookieValue)(r.value, r.type === 'HEADER' ? 'header value' : 'cookie value');
        else throw invalidRule('invalid comparison type for rule type');
        break;
      case 'HOST_NAME':
      case 'PATH':
        if (COMPARES.includes(compare)) headerValue(r.value, 'comparison value');
        else if (compare === 'REGEX') checkRegex(r.value);
        else throw invalidRule('invalid comparison type for rule type');
        break;
      case 'FILE_TYPE':
        if (compare === 'REGEX') checkRegex(r.value);
        else if (compare === 'EQUAL_TO') headerValue(r.value, 'comparison value');
        else throw invalidRule('invalid comparison type for rule type');
        break;
      case 'SSL_CONN_HAS_CERT':
        if (r.key) throw invalidRule(`L7rule type ${r.type} does not use the "key" field.`);
        if (r.value.toLowerCase() !== 'true') throw invalidRule(`L7rule value ${r.value} is not a boolean True string.`);
        if (compare !== 'EQUAL_TO') throw invalidRule(`L7rule type ${r.type} only supports the EQUAL_TO compare type.`);
        break;
      case 'SSL_VERIFY_RESULT':
        if (r.key) throw invalidRule(`L7rule type ${r.type} does not use the "key" field.`);
        if (!/^\d+$/.test(r.value)) throw invalidRule(`L7rule type ${r.type} needs a int value, which is >= 0`);
        if (compare !== 'EQUAL_TO') throw invalidRule(`L7rule type ${r.type} only supports the EQUAL_TO compare type.`);
        break;
      case 'SSL_DN_FIELD':
        if (compare === 'REGEX') checkRegex(r.value);
        if (!r.key || !r.value) throw invalidRule(`L7rule type ${r.type} needs to specify a key and a value.`);
        if (!C.DN_FIELD_RE.test(r.key)) throw invalidRule('Invalid L7rule distinguished name field.');
        break;
      default:
        throw invalidRule('invalid rule type');
    }
  } catch (e) {
    if (e instanceof RuleError) throw lbErrors.l7ruleValidation(e.message);
    throw e;
  }
}

/** Octavia's sanitize_l7policy_api_args: the action decides which redirect fields apply. */
export function sanitizePolicy(p: L7PolicyPut, create: boolean): L7PolicyPut {
  const out = { ...p };
  if ('action' in out && out.action !== undefined) {
    switch (out.action) {
      case 'REJECT':
        out.redirect_url = null;
        out.redirect_pool_id = null;
        break;
      case 'REDIRECT_TO_URL':
        if (!out.redirect_url) throw lbErrors.invalidL7PolicyArgs('redirect_url must not be None');
        out.redirect_pool_id = null;
        break;
      case 'REDIRECT_TO_POOL':
        if (!out.redirect_pool_id) throw lbErrors.invalidL7PolicyArgs('redirect_pool_id or redirect_pool must not be None');
        out.redirect_url = null;
        break;
      case 'REDIRECT_PREFIX':
        if (!out.redirect_prefix) throw lbErrors.invalidL7PolicyArgs('redirect_prefix must not be None');
        break;
      default:
        throw lbErrors.invalidL7PolicyAction(String(out.action));
    }
  }
  if (out.redirect_pool_id && (out.redirect_url || out.redirect_prefix)) {
    throw lbErrors.invalidL7PolicyArgs('Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time');
  }
  if (out.redirect_pool_id) Object.assign(out, { action: 'REDIRECT_TO_POOL', redirect_url: null, redirect_prefix: null, redirect_http_code: null });
  if (out.redirect_url) {
    if (!isValidUrl(out.redirect_url)) throw lbErrors.invalidL7PolicyArgs(`Not a valid URL: ${out.redirect_url}`);
    Object.assign(out, { action: 'REDIRECT_TO_URL', redirect_pool_id: null, redirect_prefix: null });
    if (!out.redirect_http_code) out.redirect_http_code = 302;
  }
  if (out.redirect_prefix) {
    if (!isValidUrl(out.redirect_prefix)) throw lbErrors.invalidL7PolicyArgs(`Not a valid URL: ${out.redirect_prefix}`);
    Object.assign(out, { action: 'REDIRECT_PREFIX', redirect_pool_id: null, redirect_url: null });
    if (!out.redirect_http_code) out.redirect_http_code = 302;
  }
  if (create && !out.action) throw lbErrors.invalidL7PolicyAction('None');
  return out;
}

// ------------------------------------------------------------ policies

/**
 * The pool a policy redirects to: a pool of the policy's own load balancer (and so of its
 * project). Any other pool is Octavia's 404, as if it did not exist: a policy must never send
 * one tenant's traffic to another's members, nor reach across load balancers (an engine serves
 * one load balancer and could not forward there anyway).
 */
async function redirectPool(q: Q, lb: LbRow, poolId: string): Promise<PoolRow> {
  const pool = await getPool(q, poolId);
  if (pool.loadbalancer_id !== lb.id || pool.project_id !== lb.project_id) throw lbErrors.notFound(C.MODEL_NAMES.pool, poolId);
  return pool;
}

async function lockForListener(trx: Tx, lbId: string, listenerId: string): Promise<void> {
  await lockLoadBalancer(trx, lbId, 'PENDING_UPDATE', 'immutable');
  await trx.updateTable('lb_listeners').set({ provisioning_status: C.PROVISIONING.PENDING_UPDATE }).where('id', '=', listenerId).execute();
}

export function checkL7Served(provider: string, listenerProtocol: string): void {
  if (!['HTTP', 'TERMINATED_HTTPS'].includes(listenerProtocol)) {
    throw lbErrors.unsupportedOption(provider, `${listenerProtocol} protocol listeners do not support L7 policies`);
  }
}

/**
 * A rule to insert: a rule body, or one of a policy body's inline `rules`, which this API reads
 * as DictType(str, str) (every value a string: `invert` is true when non-empty, `tags` a string
 * whose characters become tags).
 */
export type RuleInput = L7RulePost | L7RuleSingle | Record<string, string>;

async function insertRule(trx: Tx, projectId: string, policyId: string, r: RuleInput, id = newUuid()): Promise<string> {
  await trx
    .insertInto('lb_l7rules')
    .values({
      id,
      project_id: projectId,
      name: null,
      provisioning_status: C.PROVISIONING.PENDING_CREATE,
      operating_status: C.OPERATING.OFFLINE,
      admin_state_up: r.admin_state_up === false ? 0 : 1,
      api: 'v2',
      l7policy_id: policyId,
      // (A null type, comparison or value goes on as sent: see BodyOf.)
      type: r.type!,
      compare_type: r.compare_type!,
      key: r.key ?? null,
      value: r.value!,
      invert: r.invert ? 1 : 0,
      created_at: octaviaTime(),
      updated_at: null,
    })
    .execute();
  await writeTags(trx, 'l7rule', id, r.tags);
  return id;
}

/**
 * A policy redirects only to a pool of its own load balancer and project: Octavia's
 * L7PolicyRepository._pool_check answers any other pool as if it did not exist.
 */
function checkRedirectPool(pool: { id: string; project_id: string; loadbalancer_id: string | null }, lb: { id: string; project_id: string }): void {
  if (pool.project_id !== lb.project_id || pool.loadbalancer_id !== lb.id) throw lbErrors.notFound(C.MODEL_NAMES.pool, pool.id);
}

/**
 * A sanitized policy on a listener locked for it (or created in this transaction): what the
 * engine serves, the row at its position among the listener's policies, its rules and tags.
 */
export async function insertPolicy(
  trx: Tx,
  lb: LbRow,
  listener: Pick<ListenerRow, 'id' | 'protocol'>,
  v: L7PolicyPut,
  rules: RuleInput[],
  id: string,
): Promise<void> {
  checkL7Served(lb.provider, listener.protocol);
  const now = octaviaTime();
  await trx
    .insertInto('lb_l7policies')
    .values({
      id,
      project_id: lb.project_id,
      name: v.name ?? '',
      description: v.description ?? '',
      provisioning_status: C.PROVISIONING.PENDING_CREATE,
      operating_status: C.OPERATING.OFFLINE,
      admin_state_up: v.admin_state_up === false ? 0 : 1,
      api: 'v2',
      listener_id: listener.id,
      // sanitizePolicy refused a create without one.
      action: v.action!,
      redirect_pool_id: v.redirect_pool_id ?? null,
      redirect_url: v.redirect_url ?? null,
      redirect_prefix: v.redirect_prefix ?? null,
      redirect_http_code: v.redirect_http_code ?? null,
      position: C.MAX_POLICY_POSITION,
      created_at: now,
      updated_at: null,
    })
    .execute();
  await renumberPolicies(trx, listener.id, { id, position: v.position ?? C.MAX_POLICY_POSITION });
  for (const r of rules) await insertRule(trx, lb.project_id, id, r);
  await writeTags(trx, 'l7policy', id, v.tags);
}

export class L7Policies {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const page = await listV2Page(this.deps.store.db, ctx, L7POLICY_LIST, params, url);
    return { items: await renderL7Policies(this.deps.store.db, page.rows, page.fields), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    const p = await getL7Policy(this.deps.store.db, id);
    authorize(ctx, p.project_id);
    return (await renderL7Policies(this.deps.store.db, [p], fields))[0];
  }

  async create(ctx: RequestContext, b: L7PolicyPost): Promise<Rendered> {
    const { db } = this.deps.store;
    const listener = await getListener(db, b.listener_id!);
    const lb = await getLb(db, listener.loadbalancer_id);
    authorize(ctx, lb.project_id);
    if (listener.protocol === 'PROMETHEUS') throw lbErrors.listenerNoChildren('PROMETHEUS');
    if (b.redirect_pool_id) {
      const pool = await redirectPool(db, lb, b.redirect_pool_id);
      checkProtocolPair(listener.protocol, pool.protocol);
      checkRedirectPool(pool, lb);
    }
    // No rule is null: the body parser refuses null list items (wsme.ts).
    const rules = (b.rules ?? []).map((r) => r!);
    if (rules.length > C.MAX_L7RULES_PER_POLICY) throw lbErrors.tooManyL7Rules('');
    for (const r of rules) checkRule({ type: r.type, compare_type: r.compare_type, key: r.key, value: r.value });
    const id = newUuid();
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await checkQuota(trx, lb.project_id, 'l7policy');
      const v = sanitizePolicy(b, true);
      await lockForListener(trx, lb.id, listener.id);
      await insertPolicy(trx, lb, listener, v, rules, id);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, id);
  }

  async update(ctx: RequestContext, id: string, b: L7PolicyPut): Promise<Rendered> {
    const { db } = this.deps.store;
    const p = await getL7Policy(db, id);
    const listener = await getListener(db, p.listener_id);
    const lb = await getLb(db, listener.loadbalancer_id);
    authorize(ctx, lb.project_id);
    const v = sanitizePolicy(b, false);
    if (v.redirect_pool_id) {
      const pool = await redirectPool(db, lb, v.redirect_pool_id);
      checkProtocolPair(listener.protocol, pool.protocol);
      checkRedirectPool(pool, lb);
    }
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockForListener(trx, lb.id, listener.id);
      const set: Updateable<LbL7PoliciesTable> = { provisioning_status: C.PROVISIONING.PENDING_UPDATE };
      if ('name' in v) set.name = v.name ?? '';
      if ('description' in v) set.description = v.description ?? '';
      if ('admin_state_up' in v && v.admin_state_up !== null) set.admin_state_up = v.admin_state_up ? 1 : 0;
      // sanitizePolicy refused a null action; one it did not set stays absent.
      if ('action' in v) set.action = v.action!;
      if ('redirect_pool_id' in v) set.redirect_pool_id = v.redirect_pool_id ?? null;
      if ('redirect_url' in v) set.redirect_url = v.redirect_url ?? null;
      if ('redirect_prefix' in v) set.redirect_prefix = v.redirect_prefix ?? null;
      if ('redirect_http_code' in v) set.redirect_http_code = v.redirect_http_code ?? null;
      await trx.updateTable('lb_l7policies').set(set).where('id', '=', p.id).execute();
      if (v.position !== undefined && v.position !== null) await renumberPolicies(trx, listener.id, { id: p.id, position: v.position });
      await writeTags(trx, 'l7policy', p.id, v.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, p.id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const { db } = this.deps.store;
    const p = await getL7Policy(db, id);
    const listener = await getListener(db, p.listener_id);
    const lb = await getLb(db, listener.loadbalancer_id);
    authorize(ctx, lb.project_id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockForListener(trx, lb.id, listener.id);
      await trx.updateTable('lb_l7policies').set({ provisioning_status: C.PROVISIONING.PENDING_DELETE }).where('id', '=', p.id).execute();
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
  }
}

// ------------------------------------------------------------ rules

/** The policy a rules URL names: Octavia's lookup words it "L7Policy <id> not found.". */
async function rulesPolicy(q: Q, policyId: string): Promise<L7PolicyRow> {
  try {
    return await getL7Policy(q, policyId);
  } catch {
    throw lbErrors.notFound('L7Policy', policyId);
  }
}

async function ruleOfPolicy(q: Q, policyId: string, id: string): Promise<{ policy: L7PolicyRow; rule: L7RuleRow }> {
  const policy = await rulesPolicy(q, policyId);
  const rule = await getL7Rule(q, id);
  if (rule.l7policy_id !== policy.id) throw lbErrors.notFound(C.MODEL_NAMES.l7rule, id);
  return { policy, rule };
}

async function lockForRule(trx: Tx, policy: L7PolicyRow, lbId: string): Promise<void> {
  const cur = await trx.selectFrom('lb_l7policies').select('provisioning_status').where('id', '=', policy.id).executeTakeFirst();
  if (cur?.provisioning_status !== C.PROVISIONING.ACTIVE) throw lbErrors.immutable('L7Policy', policy.id);
  await lockForListener(trx, lbId, policy.listener_id);
  await trx.updateTable('lb_l7policies').set({ provisioning_status: C.PROVISIONING.PENDING_UPDATE }).where('id', '=', policy.id).execute();
}

/** L7 rules; the policy is named in the URL (`/l7policies/{l7policy_id}/rules`). */
export class L7Rules {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, policyId: string, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const { db } = this.deps.store;
    const p = await rulesPolicy(db, policyId);
    authorize(ctx, p.project_id);
    const page = await listPage(db, L7RULE_LIST, params, url, (eb) => eb('lb_l7rules.l7policy_id', '=', p.id));
    return { items: await renderL7Rules(db, page.rows, page.fields), links: page.links };
  }

  async show(ctx: RequestContext, policyId: string, id: string, fields?: string[]): Promise<Rendered> {
    const { rule } = await ruleOfPolicy(this.deps.store.db, policyId, id);
    authorize(ctx, rule.project_id);
    return (await renderL7Rules(this.deps.store.db, [rule], fields))[0];
  }

  async create(ctx: RequestContext, policyId: string, b: L7RulePost): Promise<Rendered> {
    const { db } = this.deps.store;
    const policy = await rulesPolicy(db, policyId);
    const listener = await getListener(db, policy.listener_id);
    const lb = await getLb(db, listener.loadbalancer_id);
    authorize(ctx, lb.project_id);
    checkRule({ type: b.type, compare_type: b.compare_type, key: b.key, value: b.value });
    const count = await db
      .selectFrom('lb_l7rules')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('l7policy_id', '=', policy.id)
      .executeTakeFirst();
    if (Number(count?.n ?? 0) >= C.MAX_L7RULES_PER_POLICY) throw lbErrors.tooManyL7Rules(policy.id);
    const id = newUuid();
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await checkQuota(trx, lb.project_id, 'l7rule');
      await lockForRule(trx, policy, lb.id);
      await insertRule(trx, lb.project_id, policy.id, b, id);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, policy.id, id);
  }

  async update(ctx: RequestContext, policyId: string, id: string, b: L7RulePut): Promise<Rendered> {
    const { db } = this.deps.store;
    const { policy, rule } = await ruleOfPolicy(db, policyId, id);
    const listener = await getListener(db, policy.listener_id);
    const lb = await getLb(db, listener.loadbalancer_id);
    authorize(ctx, lb.project_id);
    const merged = {
      type: b.type ?? rule.type,
      compare_type: b.compare_type ?? rule.compare_type,
      key: 'key' in b ? b.key : rule.key,
      value: 'value' in b ? b.value : rule.value,
    };
    checkRule(merged);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockForRule(trx, policy, lb.id);
      const set: Updateable<LbL7RulesTable> = { provisioning_status: C.PROVISIONING.PENDING_UPDATE };
      if (b.type !== undefined && b.type !== null) set.type = b.type;
      if (b.compare_type !== undefined && b.compare_type !== null) set.compare_type = b.compare_type;
      if (b.value !== undefined && b.value !== null) set.value = b.value;
      if ('key' in b) set.key = b.key ?? null;
      if ('invert' in b) set.invert = b.invert ? 1 : 0;
      if ('admin_state_up' in b && b.admin_state_up !== null) set.admin_state_up = b.admin_state_up ? 1 : 0;
      await trx.updateTable('lb_l7rules').set(set).where('id', '=', rule.id).execute();
      await writeTags(trx, 'l7rule', rule.id, b.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, policy.id, rule.id);
  }

  async delete(ctx: RequestContext, policyId: string, id: string): Promise<void> {
    const { db } = this.deps.store;
    const { policy, rule } = await ruleOfPolicy(db, policyId, id);
    const listener = await getListener(db, policy.listener_id);
    const lb = await getLb(db, listener.loadbalancer_id);
    authorize(ctx, lb.project_id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockForRule(trx, policy, lb.id);
      await trx.updateTable('lb_l7rules').set({ provisioning_status: C.PROVISIONING.PENDING_DELETE }).where('id', '=', rule.id).execute();
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
  }
}
