/**
 * The generic half of every Neutron resource: request bodies checked against the attribute map,
 * policy on admin-only attributes, visibility, filters, sorting, pagination, `fields`, and
 * rendering. Each resource module supplies its attribute map and the operations that are truly
 * its own (what creating a port means); everything else lives here once.
 */
import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { Dialect, Q, Tx } from '../../store/db.js';
import {
  type Bound,
  IN_CHUNK,
  type PreparedStatement,
  PreparedQuery,
  chunks,
  codePointOrder,
  fromBool,
  fromJson,
  jsonRowsOf,
  prepared,
} from '../../store/db.js';
import type { DB } from '../../store/schema.js';
import { pyRepr } from '../../util/pyrepr.js';
import { isoSeconds } from '../../util/time.js';
import { type RequestContext, systemContext } from '../context.js';
import { DomainError, httpBadRequest, resourceNotFound } from '../errors.js';
import type { Work } from '../work.js';
import { type Attr, NOT_SPECIFIED, string as stringV, toInt } from './attributes.js';

// ---------------------------------------------------------------- resources and their rows

/** Tables the attribute-map engine serves: rows with an id and an owning project (Neutron's, and LBaaS v1's). */
export type ResourceTable = { [K in keyof DB]: DB[K] extends { id: string; project_id: string } ? K : never }[keyof DB];

/** A row of table `T` as the store returns it. */
export type RowOf<T extends ResourceTable> = DB[T];

/** Neutron's resources by table, with the singular name the API, policy and change events use. */
export interface NeutronKinds {
  networks: 'network';
  subnets: 'subnet';
  subnetpools: 'subnetpool';
  ports: 'port';
  routers: 'router';
  floating_ips: 'floatingip';
  security_groups: 'security_group';
  security_group_rules: 'security_group_rule';
  metering_labels: 'metering_label';
  metering_label_rules: 'metering_label_rule';
  rbac_policies: 'rbac_policy';
  address_scopes: 'address_scope';
  address_groups: 'address_group';
  network_segments: 'segment';
  network_segment_ranges: 'network_segment_range';
  ndp_proxies: 'ndp_proxy';
  conntrack_helpers: 'conntrack_helper';
  local_ips: 'local_ip';
  local_ip_associations: 'port_association';
  logs: 'log';
  network_flavors: 'flavor';
  service_profiles: 'service_profile';
  flavor_service_profiles: 'service_profile';
  qos_policies: 'policy';
  trunks: 'trunk';
}
export type NeutronTable = keyof NeutronKinds;
/** The singular name of what table `T` keeps (`port` for `ports`); any name for tables outside Neutron. */
export type KindOf<T extends ResourceTable> = T extends NeutronTable ? NeutronKinds[T] : string;

/**
 * A row being rendered: its columns plus, under `__<attribute>`, what `load` computed for it
 * (`C`: the subnets of a network, the fixed_ips of a port) and its tags. No column name starts
 * with `__`; the compiled render plans read both from the one object (see compileRender).
 */
export type Loaded<T extends ResourceTable, C extends object = object> = RowOf<T> & { [K in keyof C & string as `__${K}`]?: C[K] } & { __tags?: string[] };

const OMIT: unique symbol = Symbol('omit');

/**
 * What `load` sets for an attribute this object does not render at all, also when a column backs
 * it (a pool's update answer leaves an unset `default_quota` out). Typed as the attribute's own
 * value so that loaded rows keep their types; the render plans recognise the marker.
 */
export function omitted<V>(): V {
  return OMIT as unknown as V;
}

/**
 * Which answer a body is rendered for. Neutron builds the dict of a create, a bulk create and an
 * update along other paths than a GET (the plugin's own dict, then each extension's), so its keys
 * come in another order there; clients and the golden fixtures see that order.
 */
export type View = 'show' | 'create' | 'bulk' | 'update';

/**
 * A create's answer renders rows this very request made, before anyone else could know their ids:
 * what only others' later requests add (a network's subnets, DHCP agents and RBAC grants, a port's
 * trunk) cannot be there yet, so loaders skip looking for it, as Neutron's create answers the dict
 * it just built.
 */
export const isFresh = (view: View): boolean => view === 'create' || view === 'bulk';

export interface ResourceDef<T extends ResourceTable = ResourceTable, C extends object = object> {
  /** Singular body key and policy name: `network`. */
  name: KindOf<T>;
  /** Collection: the plural body key (`security_groups`). */
  collection: string;
  /** URL segment when it differs from the collection (`security-groups`). */
  path?: string;
  /** Store table. */
  table: T;
  /** Used in "<Label> <id> could not be found." */
  label: string;
  notFoundType?: string;
  /** Neutron's own not-found error when its wording differs ("Router X could not be found", no period). */
  notFound?(id: string): DomainError;
  attrs: Record<string, Attr>;
  /**
   * Key order of an answer where it is not the attribute map's own (which is GET's): the names in
   * Neutron's order for that view. Names the map lacks are skipped (an extension served by
   * another module adds its attribute and it lands in place); attributes not named follow.
   */
  order?: Partial<Record<View, readonly string[]>>;
  /** Revision a new object starts at (Neutron bumps some on create side effects). */
  initialRevision?: number;
  bulk?: boolean;
  /** Standard-attr tag support (`/tags`, tag filters). */
  taggable?: boolean;
  /** Only admins read these (Neutron's admin-only get policy): others list none and find none. */
  adminOnly?: boolean;
  /**
   * A sub-resource served under its parent (`/v2.0/routers/{id}/conntrack_helpers`): the parent's
   * URL segment (a registered resource), the column holding the parent's id, and the error when
   * the parent is not the caller's to see (the parent's own not-found when absent).
   */
  parent?: { path: string; column: string; notFound?: (id: string) => DomainError };
  /**
   * Rows a non-admin may read beyond its own project's (shared, external networks).
   * Returns undefined when only own rows are visible. A show compiles it once per kind of caller
   * (see showRow): it may depend on the caller only through `ctx.projectId`, used as a value.
   */
  sharedWhere?(eb: ExpressionBuilder<DB, T>, ctx: RequestContext): Expression<SqlBool> | undefined;
  /**
   * A project an object is shared with, updating it, is told it does not exist (404) rather than
   * refused (403). Neutron's update checks "may the caller see it" against the object read with
   * only the attributes required by policy; where `shared` is not among them (address groups),
   * the shared object is invisible to that check.
   */
  sharedHiddenOnUpdate?: true;
  /** Callers besides the owner (and admins) who may delete a row it can see. */
  deleteAllowed?(q: Q, ctx: RequestContext, row: RowOf<T>): Promise<boolean>;
  /** Filters that are not plain columns (fixed_ips, security_groups …), by query parameter. */
  specialFilters?: Record<string, (eb: ExpressionBuilder<DB, T>, values: string[], ctx: RequestContext) => Expression<SqlBool>>;
  /**
   * Attach computed attributes (subnets of a network, fixed_ips of a port) to rows being rendered.
   * An attribute left undefined is not rendered (Neutron's extensions that add a key only to some
   * objects, or only in some answers: `is_default` of an external network).
   */
  load?(q: Q, rows: Array<Loaded<T, C>>, ctx: RequestContext, view: View): Promise<void>;
  /**
   * Computed attributes a show reads with the row itself, in the same statement (see showRow),
   * set as `__<name>` before `load` runs; `load` reads only what is still missing. A taggable
   * resource's tags are read this way without being named here.
   */
  inline?: Record<string, InlineAttr<T>>;
}

/**
 * A computed attribute read as a correlated subquery of the row's own SELECT: the child rows
 * (`rows`, on the outer `<table>` row) come back as one JSON array of arrays of `columns`, in no
 * order, and `value` turns them into the attribute as `load` would set it, ordering them itself:
 * an ORDER BY inside the aggregate is a temporary b-tree SQLite builds on every row shown, most
 * of which have no child or one. `caller` holds what the rows may depend on of the caller, as
 * values bound to the statement: its project (`''` for a caller without one).
 */
export interface InlineAttr<T extends ResourceTable = ResourceTable> {
  rows(eb: ExpressionBuilder<DB, T>, caller: { project: string }): Expression<unknown>;
  columns: readonly string[];
  value(rows: unknown[][]): unknown;
}

/** What the engine reads of a definition, whatever its table. */
type DefCore = Pick<
  ResourceDef,
  'name' | 'collection' | 'table' | 'label' | 'notFoundType' | 'notFound' | 'attrs' | 'order' | 'bulk' | 'taggable' | 'parent' | 'sharedHiddenOnUpdate'
>;

/** Tables whose rows carry Neutron's revision (all but metering's). */
export type RevisedTable = { [K in ResourceTable]: DB[K] extends { revision_number: number; updated_at: string } ? K : never }[ResourceTable];

export interface ListOptions {
  filters: Map<string, string[]>;
  fields?: string[];
  sorts: Array<[string, boolean]>;
  limit?: number;
  marker?: string;
  pageReverse: boolean;
}

/**
 * The attribute (or special filter) a client names, if the resource has one of its own. Names
 * come from requests, so never from the object's prototype (`constructor`, `toString`).
 */
function own<V>(map: Record<string, V> | undefined, name: string): V | undefined {
  return map !== undefined && Object.hasOwn(map, name) ? map[name] : undefined;
}

// ---------------------------------------------------------------- the engine's view of the store

/**
 * The engine picks its table at run time (`def.table`), which Kysely's types cannot follow, so
 * it queries through this view: any table, any column by name (column names come from the
 * attribute maps, never from requests). Rows leave the engine as their own table's type; the
 * casts that say so are these few lines (and NetworkService.register, which keeps every
 * resource's operations in one table).
 */
type EngineRow = Record<string, unknown>;
type EngineDb = Kysely<Record<string, EngineRow>>;
/** An expression builder on the engine's view: extra list conditions (LBaaS v1's `api = 'v1'`). */
export type EngineEb = ExpressionBuilder<Record<string, EngineRow>, string>;

const engineDb = (q: Q): EngineDb => q as unknown as EngineDb;
/** Rows the engine read from `def.table` are rows of that table. */
const rowsOf = <T extends ResourceTable>(rows: EngineRow[]): Array<RowOf<T>> => rows as unknown as Array<RowOf<T>>;
/** The resource's own conditions see a builder typed for its table (the query selects from it). */
const tableEb = <T extends ResourceTable>(eb: EngineEb): ExpressionBuilder<DB, T> => eb as unknown as ExpressionBuilder<DB, T>;
/** Columns built from an attribute map are columns of its table. */
const columnsOf = <T extends ResourceTable>(cols: EngineRow): Partial<RowOf<T>> => cols as Partial<RowOf<T>>;

const notFoundOf = (def: DefCore, id: string) =>
  def.notFound ? def.notFound(id) : resourceNotFound(def.label, id, def.notFoundType?.replace(/NotFound$/, ''));

/** Standard attributes every Neutron resource carries (project-id, description, timestamps, revisions). */
export function standardAttrs(opts: { tags?: boolean; description?: boolean } = {}): Record<string, Attr> {
  const out: Record<string, Attr> = {
    tenant_id: { post: true, filter: true, sort: true, column: 'project_id', validate: stringV(255) },
    project_id: { post: true, filter: true, sort: true, column: 'project_id', validate: stringV(255) },
  };
  if (opts.description !== false) {
    out.description = { post: true, put: true, default: '', filter: true, column: 'description', validate: stringV(255) };
  }
  if (opts.tags !== false) out.tags = { filter: true };
  // With the `revisions` service plugin Neutron renders revision_number before the timestamps.
  Object.assign(out, {
    revision_number: { filter: true, column: 'revision_number', codec: 'int', convert: toInt },
    created_at: { column: 'created_at' },
    updated_at: { column: 'updated_at' },
  } satisfies Record<string, Attr>);
  return out;
}

/** Always-true and always-false conditions (SQLite cannot bind a JS boolean). */
const TRUE = sql<SqlBool>`1 = 1`;
const FALSE = sql<SqlBool>`1 = 0`;

/** Filter names Neutron accepts on tagged resources beyond `tags`. */
const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'];
/** Query parameters that are never filters. */
const NOT_FILTERS = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse', 'verbose']);

// ---------------------------------------------------------------- decoding rows

function decode(attr: Attr, v: unknown): unknown {
  switch (attr.codec) {
    case 'bool':
      return v === null || v === undefined ? null : fromBool(v);
    case 'json':
      return fromJson(v, null);
    case 'int':
      return v === null || v === undefined ? null : Number(v);
    default:
      return v ?? null;
  }
}

function encode(attr: Attr, v: unknown): unknown {
  switch (attr.codec) {
    case 'bool':
      return v === null || v === undefined ? null : v ? 1 : 0;
    case 'json':
      return JSON.stringify(v ?? null);
    default:
      return v;
  }
}

// ---------------------------------------------------------------- policy

/**
 * oslo.policy's refusal as Neutron builds the check: the action's rule and, one by one, a rule
 * per attribute the request sets that enforces policy, each AND nested around the last
 * (`((rule:a and rule:a:x) and rule:a:y)`).
 */
export function policyError(action: string, attrs: string[] = []): DomainError {
  let text = `rule:${action}`;
  for (const a of attrs) text = `(${text} and rule:${action}:${a})`;
  return new DomainError('forbidden', 'PolicyNotAuthorized', `${text} is disallowed by policy`);
}

function canRead(ctx: RequestContext, row: { project_id?: unknown }, shared = false): boolean {
  return ctx.isAdmin || row.project_id === ctx.projectId || shared;
}

// ---------------------------------------------------------------- request bodies

export interface Prepared {
  /** Converted, validated values, defaults filled (NOT_SPECIFIED attributes absent). */
  values: Record<string, unknown>;
  /** Attribute names the client sent explicitly. */
  given: Set<string>;
  /** A sub-resource's parent id (from the URL). */
  parent?: string;
  /**
   * Set by a create: computed attributes of its answer it already knows from what it wrote
   * (`__`-prefixed, as `load` sets them), so rendering the answer need not read them back.
   */
  known?: Record<string, unknown>;
}

/** Unwrap `{"network": {...}}` or, for bulk-capable resources, `{"networks": [...]}`. */
export function unwrapBody(def: DefCore, body: unknown, forCreate: boolean): Record<string, unknown>[] {
  if (body === undefined || body === null) throw httpBadRequest('Resource body required');
  if (typeof body !== 'object' || Array.isArray(body)) throw httpBadRequest('Body contains invalid data');
  const b = body as Record<string, unknown>;
  if (forCreate && def.collection in b) {
    if (!def.bulk) throw httpBadRequest('Bulk operation not supported');
    const items = b[def.collection];
    if (!Array.isArray(items) || items.length === 0) throw httpBadRequest('Resources required');
    return items.map((it) => {
      if (!it || typeof it !== 'object' || Array.isArray(it)) throw httpBadRequest('Body contains invalid data');
      const inner = (it as Record<string, unknown>)[def.name];
      // Bulk items may be given wrapped ({"network": {...}}) or bare.
      const obj = inner && typeof inner === 'object' && !Array.isArray(inner) ? inner : it;
      return obj as Record<string, unknown>;
    });
  }
  if (!(def.name in b)) throw httpBadRequest(`Unable to find '${def.name}' in request body`);
  const item = b[def.name];
  if (!item || typeof item !== 'object' || Array.isArray(item)) {
    throw httpBadRequest(`Object '${def.name}' contains invalid data`);
  }
  return [item as Record<string, unknown>];
}

function checkKnown(def: DefCore, item: Record<string, unknown>): void {
  const extra = Object.keys(item).filter((k) => !Object.hasOwn(def.attrs, k));
  if (extra.length) throw httpBadRequest(`Unrecognized attribute(s) '${extra.join(', ')}'`);
}

function convertAndValidate(name: string, attr: Attr, value: unknown): unknown {
  let v = value;
  if (attr.convert) v = attr.convert(v);
  if (attr.validate) {
    const reason = attr.validate(v);
    if (reason) throw httpBadRequest(`Invalid input for ${name}. Reason: ${reason}.`);
  }
  return v;
}

/** prepare_request_body for POST: unknown, not-allowed, required, project and conversion checks. */
export function prepareCreate(def: DefCore, ctx: RequestContext, item: Record<string, unknown>): Prepared {
  checkKnown(def, item);
  const given = new Set(Object.keys(item));
  const body: Record<string, unknown> = { ...item };

  // project_id and tenant_id are the same thing; a member may only name its own project.
  if ('tenant_id' in def.attrs) {
    const p = body.project_id;
    const t = body.tenant_id;
    if (p !== undefined && t !== undefined && p !== t) throw httpBadRequest("'project_id' and 'tenant_id' do not match");
    const project = (p ?? t) as string | undefined;
    if (project !== undefined && !ctx.isAdmin && project !== ctx.projectId) {
      throw httpBadRequest("Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges");
    }
    const value = project ?? ctx.projectId;
    if (value === null || value === undefined) {
      throw httpBadRequest('Running without keystone AuthN requires that tenant_id is specified');
    }
    body.tenant_id = value;
    body.project_id = value;
  }

  const values: Record<string, unknown> = {};
  for (const [name, attr] of Object.entries(def.attrs)) {
    const has = name in body;
    if (!attr.post) {
      if (has && given.has(name)) throw httpBadRequest(`Attribute '${name}' not allowed in POST`);
      continue;
    }
    if (!has) {
      if (attr.default === undefined) throw httpBadRequest(`Failed to parse request. Required attribute '${name}' not specified`);
      if (attr.default === NOT_SPECIFIED) continue;
      values[name] = structuredClone(attr.default);
      continue;
    }
    values[name] = convertAndValidate(name, attr, body[name]);
  }

  if (!ctx.isAdmin) {
    const denied = Object.entries(def.attrs)
      .filter(([n, a]) => a.adminOnly && given.has(n) && !sameAsDefault(a, values[n]))
      .map(([n]) => n);
    if (denied.length) throw policyError(`create_${def.name}`, denied);
  }
  return { values, given };
}

function sameAsDefault(attr: Attr, v: unknown): boolean {
  if (attr.default === undefined || attr.default === NOT_SPECIFIED) return false;
  return JSON.stringify(attr.default) === JSON.stringify(v);
}

/** prepare_request_body for PUT. */
export function prepareUpdate(def: DefCore, ctx: RequestContext, item: Record<string, unknown>): Prepared {
  checkKnown(def, item);
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) {
    const attr = def.attrs[name];
    if (!attr.put) throw httpBadRequest(`Cannot update read-only attribute ${name}`);
    values[name] = convertAndValidate(name, attr, value);
  }
  const given = new Set(Object.keys(values));
  if (!ctx.isAdmin) {
    const denied = [...given].filter((n) => def.attrs[n].adminOnly);
    if (denied.length) throw policyError(`update_${def.name}`, denied);
  }
  return { values, given };
}

// ---------------------------------------------------------------- reading

export function parseListOptions<T extends ResourceTable, C extends object>(def: ResourceDef<T, C>, query: Map<string, string[]>): ListOptions {
  const filters = new Map<string, string[]>();
  const invalid: string[] = [];
  for (const [k, vs] of query) {
    if (NOT_FILTERS.has(k)) continue;
    const values = vs.filter((v) => v !== '');
    const known = (own(def.attrs, k)?.filter ?? false) || (def.taggable && TAG_FILTERS.includes(k)) || own(def.specialFilters, k) !== undefined;
    if (!known) {
      invalid.push(k);
      continue;
    }
    if (values.length) filters.set(k, values);
  }
  if (invalid.length) throw httpBadRequest(`${pyRepr(invalid)} is invalid attribute for filtering`);

  const sortKeys = (query.get('sort_key') ?? []).filter(Boolean);
  const sortDirs = (query.get('sort_dir') ?? []).filter(Boolean);
  if (sortKeys.length !== sortDirs.length) throw httpBadRequest('The number of sort_keys and sort_dirs must be same');
  const badKeys = sortKeys.filter((k) => !own(def.attrs, k)?.sort);
  if (badKeys.length) throw httpBadRequest(`${pyRepr(badKeys)} is invalid attribute for sort_keys`);
  const badDirs = sortDirs.filter((d) => d !== 'asc' && d !== 'desc');
  if (badDirs.length) {
    throw httpBadRequest(`${pyRepr(badDirs)} is invalid value for sort_dirs, valid value is 'asc' and 'desc'`);
  }

  let limit: number | undefined;
  const rawLimit = query.get('limit')?.[0];
  if (rawLimit !== undefined) {
    const n = /^\d+$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!Number.isInteger(n) || n < 0) {
      throw new DomainError('bad_request', 'BadRequest', `Bad limit request: Limit must be an integer 0 or greater and not '${rawLimit}'.`);
    }
    // Beyond 2^53 (Neutron takes up to 2^63 - 1 on MySQL) a limit is no limit: bind one SQLite holds.
    limit = n === 0 ? undefined : Math.min(n, Number.MAX_SAFE_INTEGER);
  }
  const fields = (query.get('fields') ?? []).filter(Boolean);
  return {
    filters,
    fields: fields.length ? fields : undefined,
    sorts: sortKeys.map((k, i) => [k, sortDirs[i] === 'asc']),
    limit,
    marker: query.get('marker')?.[0] || undefined,
    pageReverse: (query.get('page_reverse')?.[0] ?? 'False').toLowerCase() === 'true',
  };
}

/** Rows visible to ctx: own project, plus what the resource shares (admins see all). */
function visibleWhere<T extends ResourceTable, C extends object>(def: ResourceDef<T, C>, ctx: RequestContext, eb: EngineEb): Expression<SqlBool> | undefined {
  if (ctx.isAdmin) return undefined;
  if (def.adminOnly) return FALSE;
  const table: string = def.table;
  const own = eb(`${table}.project_id`, '=', ctx.projectId ?? '');
  const shared = def.sharedWhere?.(tableEb<T>(eb), ctx);
  return shared ? eb.or([own, shared]) : own;
}

function tagWhere(def: DefCore, eb: EngineEb, kind: string, values: string[]): Expression<SqlBool> {
  const tags = [...new Set(values.flatMap((v) => v.split(',')).filter(Boolean))];
  // "Has every tag" as one count over an IN list, not one EXISTS per tag: a client may name
  // thousands, and a chain of thousands of conditions is deeper than SQLite's parser allows.
  const hasAll = tags.length
    ? sql<SqlBool>`(select count(distinct tags.tag) from tags where tags.resource_type = ${def.name} and tags.resource_id = ${sql.ref(`${def.table}.id`)} and tags.tag in (${sql.join(tags)})) = ${tags.length}`
    : TRUE;
  const hasAny = eb.exists(
    eb
      .selectFrom('tags')
      .select(sql`1`.as('one'))
      .where('tags.resource_type', '=', def.name)
      .whereRef('tags.resource_id', '=', `${def.table}.id`)
      .where('tags.tag', 'in', tags.length ? tags : ['']),
  );
  switch (kind) {
    case 'tags':
      return hasAll;
    case 'tags-any':
      return hasAny;
    case 'not-tags':
      return eb.not(hasAll);
    default:
      return eb.not(hasAny);
  }
}

/** Convert query strings for a column filter; conversion errors are the client's (400). */
function filterValues(attr: Attr, values: string[]): unknown[] {
  return values.map((v) => encode(attr, attr.convert ? attr.convert(v) : v));
}

/** One condition per filter parsed by parseListOptions (whose names are the resource's own). */
function filterWhere<T extends ResourceTable, C extends object>(
  def: ResourceDef<T, C>,
  ctx: RequestContext,
  eb: EngineEb,
  name: string,
  values: string[],
): Expression<SqlBool> {
  if (def.taggable && TAG_FILTERS.includes(name)) return tagWhere(def, eb, name, values);
  const special = own(def.specialFilters, name);
  if (special) return special(tableEb<T>(eb), values, ctx);
  const attr = def.attrs[name];
  if (!attr.column) return TRUE;
  const vs = filterValues(attr, values);
  const col = `${def.table}.${attr.column}`;
  const nonNull = vs.filter((v) => v !== null);
  return nonNull.length === vs.length ? eb(col, 'in', vs) : eb.or([eb(col, 'is', null), ...(nonNull.length ? [eb(col, 'in', nonNull)] : [])]);
}

/**
 * What a list reads by: the resource, the caller, the parsed query, a condition of the caller's
 * own (a parent's scope) and `after`: a row this list already read, to go on after (a list read
 * in chunks, see NetworkService.listEach), which takes the marker's place.
 */
type ListArgs<T extends ResourceTable, C extends object> = [
  q: Q,
  def: ResourceDef<T, C>,
  ctx: RequestContext,
  opts: ListOptions,
  extraWhere?: (eb: EngineEb) => Expression<SqlBool>,
  after?: RowOf<T>,
];

/**
 * List rows with filters, keyset pagination (`marker` + sort keys + id) and `page_reverse`,
 * as Neutron's native pagination does.
 */
export async function listRows<T extends ResourceTable, C extends object>(...args: ListArgs<T, C>): Promise<Array<RowOf<T>>> {
  const [, def, , opts] = args;
  const rows = rowsOf<T>(await (await listQuery(...args)).selectAll(def.table).execute());
  if (opts.pageReverse) rows.reverse();
  return rows;
}

/** The ids listRows would answer, in its order: what a long list reads before its rows (NetworkService.listEach). */
export async function listIds<T extends ResourceTable, C extends object>(...args: ListArgs<T, C>): Promise<string[]> {
  const [, def, , opts] = args;
  const ids = (await (await listQuery(...args)).select(sql<string>`${sql.ref(`${def.table}.id`)}`.as('id')).execute()).map((r) => r.id);
  if (opts.pageReverse) ids.reverse();
  return ids;
}

/** listRows' statement before it says which columns: filters, visibility, keyset, order and limit. */
async function listQuery<T extends ResourceTable, C extends object>(...[q, def, ctx, opts, extraWhere, after]: ListArgs<T, C>) {
  const db = engineDb(q);
  const table: string = def.table;
  let qb = db.selectFrom(table);
  qb = qb.where((eb) => visibleWhere(def, ctx, eb) ?? TRUE);
  if (extraWhere) qb = qb.where(extraWhere);
  for (const [name, values] of opts.filters) qb = qb.where((eb) => filterWhere(def, ctx, eb, name, values));

  // A key named twice sorts as once (the first); thousands of repeats must not become thousands of terms.
  const sorts: Array<[string, boolean]> = [];
  for (const [k, asc] of opts.sorts) {
    const col = def.attrs[k].column ?? k;
    if (!sorts.some(([c]) => c === col)) sorts.push([col, asc]);
  }
  if (!sorts.some(([c]) => c === 'id')) sorts.push(['id', sorts.length ? sorts[sorts.length - 1][1] : true]);
  const dirs = sorts.map(([c, asc]) => [c, opts.pageReverse ? !asc : asc] as [string, boolean]);

  let m: EngineRow | undefined = after as EngineRow | undefined;
  if (!m && opts.marker) {
    m = await db.selectFrom(table).selectAll().where('id', '=', opts.marker).executeTakeFirst();
    if (!m || !canRead(ctx, m, true)) throw notFoundOf(def, opts.marker);
  }
  if (m) {
    const mark = m;
    qb = qb.where((eb) =>
      eb.or(
        dirs.map(([col, asc], i) =>
          eb.and([...dirs.slice(0, i).map(([c]) => eb(`${table}.${c}`, '=', mark[c])), eb(`${table}.${col}`, asc ? '>' : '<', mark[col])]),
        ),
      ),
    );
  }
  for (const [col, asc] of dirs) qb = qb.orderBy(`${table}.${col}`, asc ? 'asc' : 'desc');
  if (opts.limit) qb = qb.limit(opts.limit);
  return qb;
}

/** What `pageLinks` needs of a page: how many rows, and its first and last ids. */
export interface PageSpan {
  count: number;
  first?: string;
  last?: string;
}

export const pageSpan = (rows: ReadonlyArray<{ id: string }>): PageSpan => ({ count: rows.length, first: rows[0]?.id, last: rows[rows.length - 1]?.id });

/** Neutron's `<collection>_links`: next unless the last page, previous unless the first. */
export function pageLinks(url: URL, page: PageSpan, opts: ListOptions): Array<{ rel: string; href: string }> | undefined {
  if (!opts.limit) return undefined;
  const links: Array<{ rel: string; href: string }> = [];
  const withMarker = (marker: string | undefined, reverse: boolean) => {
    const params = new URLSearchParams(url.search);
    params.delete('marker');
    params.delete('page_reverse');
    if (marker) params.set('marker', marker);
    if (reverse) params.set('page_reverse', 'True');
    return `${url.origin}${url.pathname}?${params.toString()}`;
  };
  if (!(page.count < opts.limit && !opts.pageReverse)) links.push({ rel: 'next', href: withMarker(page.last, false) });
  if (!(page.count < opts.limit && opts.pageReverse)) links.push({ rel: 'previous', href: withMarker(page.first, true) });
  return links;
}

/** What Neutron's API answers when its policy hides an object from the caller entirely. */
const hiddenByPolicy = () => new DomainError('not_found', 'HTTPNotFound', 'The resource could not be found.');

export async function getRow<T extends ResourceTable, C extends object>(q: Q, def: ResourceDef<T, C>, ctx: RequestContext, id: string): Promise<RowOf<T>> {
  if (def.adminOnly && !ctx.isAdmin) throw hiddenByPolicy();
  const table: string = def.table;
  const row = await engineDb(q)
    .selectFrom(table)
    .selectAll(table)
    .where(`${table}.id`, '=', id)
    .where((eb) => visibleWhere(def, ctx, eb) ?? TRUE)
    .executeTakeFirst();
  if (!row) throw notFoundOf(def, id);
  return rowsOf<T>([row])[0];
}

/** A show's statement (the row and its inline attributes, by `id`, as one kind of caller sees it) and those attributes. */
interface ShowQuery {
  query: PreparedQuery<'id' | 'project', EngineRow>;
  inline: ReadonlyArray<readonly [key: string, attr: InlineAttr]>;
}

/** Show statements by resource, then by dialect and kind of caller (see showRow). */
const showQueries = new WeakMap<object, Map<string, ShowQuery>>();

/** The kind of caller a show statement is compiled for: what visibility depends on. */
const callerKind = (ctx: RequestContext) => (ctx.isAdmin ? 'admin' : ctx.projectId === null ? 'unscoped' : 'project');

/**
 * A taggable resource's tags, in the order loadTags gives them (the primary key's, SQLite's
 * BINARY collation; PostgreSQL's C). Without an ORDER BY in the aggregate: a GET port ran two
 * temporary b-trees (its tags and its trunk's subports), 3 % of its requests a second.
 */
function tagsInline(def: DefCore): InlineAttr {
  return {
    rows: (eb) =>
      (eb as unknown as ExpressionBuilder<DB, 'tags'>)
        .selectFrom('tags')
        .select('tags.tag')
        .where('tags.resource_type', '=', def.name)
        .whereRef('tags.resource_id', '=', sql.ref<string>(`${def.table}.id`)),
    columns: ['tag'],
    value: (rows) => {
      const tags = rows.map((r) => r[0] as string);
      return tags.length > 1 ? tags.sort(codePointOrder) : tags;
    },
  };
}

function showQuery<T extends ResourceTable, C extends object>(q: Q, dialect: Dialect, def: ResourceDef<T, C>, kind: string): ShowQuery {
  let byKind = showQueries.get(def);
  if (!byKind) {
    byKind = new Map();
    showQueries.set(def, byKind);
  }
  const key = `${dialect}|${kind}`;
  let show = byKind.get(key);
  if (!show) {
    const table: string = def.table;
    const inline: Array<readonly [string, InlineAttr]> = Object.entries(def.inline ?? {}).map(([name, attr]) => [`__${name}`, attr as unknown as InlineAttr]);
    if (def.taggable && !Object.hasOwn(def.inline ?? {}, 'tags')) inline.push(['__tags', tagsInline(def)]);
    const query = PreparedQuery.of(['id', 'project'], (a) => {
      // The caller it is compiled for: its project is an argument of the statement.
      const ctx: RequestContext = { ...systemContext(), roles: [], isAdmin: kind === 'admin', projectId: kind === 'project' ? a.project : null };
      return engineDb(q)
        .selectFrom(table)
        .selectAll(table)
        .select((eb) =>
          inline.map(([k, attr]) =>
            jsonRowsOf(dialect, attr.rows(eb as unknown as ExpressionBuilder<DB, ResourceTable>, { project: a.project }), attr.columns).as(k),
          ),
        )
        .where(`${table}.id`, '=', a.id)
        .where((eb) => visibleWhere(def, ctx, eb) ?? TRUE);
    });
    show = { query, inline };
    byKind.set(key, show);
  }
  return show;
}

/**
 * One object as `ctx` sees it, with its inline attributes (`ResourceDef.inline`, and its tags),
 * in one statement compiled once per resource, dialect and kind of caller: a GET of one object
 * costs one query, not one for the row and one per child table (issue 17's profile: a GET port
 * ran seven, each built and compiled by Kysely per request).
 */
export async function showRow<T extends ResourceTable, C extends object>(
  q: Q,
  dialect: Dialect,
  def: ResourceDef<T, C>,
  ctx: RequestContext,
  id: string,
): Promise<Loaded<T, C>> {
  if (def.adminOnly && !ctx.isAdmin) throw hiddenByPolicy();
  const show = showQuery(q, dialect, def, callerKind(ctx));
  const [row] = await show.query.execute(q, { id, project: ctx.projectId ?? '' });
  if (!row) throw notFoundOf(def, id);
  for (const [key, attr] of show.inline) row[key] = attr.value(fromJson<unknown[][]>(row[key], []));
  return rowsOf<T>([row])[0] as Loaded<T, C>;
}

/** Same as getRow inside a unit of work, locking the row where the store has row locks. */
export async function getRowForUpdate<T extends ResourceTable, C extends object>(
  w: Work,
  def: ResourceDef<T, C>,
  ctx: RequestContext,
  id: string,
): Promise<RowOf<T>> {
  if (def.adminOnly && !ctx.isAdmin) throw hiddenByPolicy();
  const table: string = def.table;
  const qb = engineDb(w.trx)
    .selectFrom(table)
    .selectAll(table)
    .where(`${table}.id`, '=', id)
    .where((eb) => visibleWhere(def, ctx, eb) ?? TRUE);
  const row = await w.forUpdate(qb).executeTakeFirst();
  if (!row) throw notFoundOf(def, id);
  return rowsOf<T>([row])[0];
}

/** The one-row read of rowsById by resource (every create and update answers with it): compiled once. */
const rowByIdQueries = new WeakMap<object, PreparedStatement<'id', EngineRow>>();

/**
 * Rows of `def.table` by id, in the order of `ids`, an id whose row is gone left out. No visibility
 * check: the ids are ones the caller just wrote, or a list's that it just read as the caller sees it.
 */
export async function rowsById<T extends ResourceTable, C extends object>(q: Q, def: ResourceDef<T, C>, ids: string[]): Promise<Array<RowOf<T>>> {
  const table: string = def.table;
  if (ids.length !== 1) return inIdOrder(ids, rowsOf<T>(await engineDb(q).selectFrom(table).selectAll().where('id', 'in', ids).execute()));
  let byId = rowByIdQueries.get(def);
  if (!byId) {
    byId = prepared(['id'], (p, a) => engineDb(p).selectFrom(table).selectAll().where('id', '=', a.id));
    rowByIdQueries.set(def, byId);
  }
  return rowsOf<T>(await byId.execute(q, { id: ids[0] }));
}

/** `rows` (as a statement answers them, in no order) in the order of `ids`; an id whose row is gone is left out. */
function inIdOrder<R extends { id: string }>(ids: readonly string[], rows: R[]): R[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out: R[] = [];
  for (const id of ids) {
    const row = byId.get(id);
    if (row) out.push(row);
  }
  return out;
}

/** Only the owner (or an admin) may change what it can see. */
export function assertOwner(def: DefCore, ctx: RequestContext, row: { project_id: string }, action: 'update' | 'delete'): void {
  if (ctx.isAdmin || row.project_id === ctx.projectId) return;
  if (action === 'update' && def.sharedHiddenOnUpdate) throw hiddenByPolicy();
  throw policyError(`${action}_${def.name}`);
}

async function loadTags(q: Q, def: DefCore, rows: ReadonlyArray<{ id: string; __tags?: string[] }>, view: View): Promise<void> {
  // A create that wrote the tags (or none) said so (Prepared.known).
  if (!def.taggable || rows.length === 0 || rows.every((r) => r.__tags !== undefined)) return;
  const byId = new Map<string, string[]>();
  for (const r of rows) {
    const tags: string[] = [];
    r.__tags = tags;
    byId.set(r.id, tags);
  }
  // Tags come with a create only where the resource takes them in its body (ports'
  // tag-ports-during-bulk-creation); anywhere else a row just made has none yet.
  if (isFresh(view) && !def.attrs.tags?.post) return;
  for (const chunk of chunks([...byId.keys()], IN_CHUNK)) {
    const tags = await q
      .selectFrom('tags')
      .select(['resource_id', 'tag'])
      .where('resource_type', '=', def.name)
      .where('resource_id', 'in', chunk)
      // Each resource's tags in order, as the primary key (type, resource, tag) holds them: no sort.
      .orderBy('resource_id')
      .orderBy('tag')
      .execute();
    for (const t of tags) byId.get(t.resource_id)?.push(t.tag);
  }
}

// ---------------------------------------------------------------- rendering

interface RenderStep {
  name: string;
  computed: string;
  column?: string;
  attr: Attr;
}

/** One loaded row → its API dict. */
type RenderFn = (row: object) => Record<string, unknown>;

interface RenderPlan {
  steps: RenderStep[];
  /** Generated from the steps (see compileRender). */
  render: RenderFn;
}

/** Plans by attribute map (one per resource), then by caller kind, view and `fields`. */
const plans = new WeakMap<Record<string, Attr>, Map<string, RenderPlan>>();

/** Attribute names in the order a view renders them (see ResourceDef.order). */
function orderedNames(def: Pick<DefCore, 'attrs' | 'order'>, view: View): string[] {
  const names = Object.keys(def.attrs);
  const order = def.order?.[view] ?? def.order?.show;
  if (!order) return names;
  const named = order.filter((n) => Object.hasOwn(def.attrs, n));
  return [...named, ...names.filter((n) => !named.includes(n))];
}

/** The attributes to show for one kind of caller, view and `fields`, computed once. */
function renderPlan(def: Pick<DefCore, 'attrs' | 'order'>, admin: boolean, view: View, fields?: string[]): RenderPlan {
  const attrs = def.attrs;
  let byKey = plans.get(attrs);
  if (!byKey) {
    byKey = new Map();
    plans.set(attrs, byKey);
  }
  const key = `${admin}|${view}|${fields?.join(',') ?? ''}`;
  let plan = byKey.get(key);
  if (!plan) {
    const steps = orderedNames(def, view)
      .map((name) => [name, attrs[name]] as const)
      .filter(([name, attr]) => attr.visible !== false && !(attr.adminOnlyRead && !admin) && (!fields || fields.includes(name)))
      .map(([name, attr]) => ({ name, attr, computed: `__${name}`, column: attr.column }));
    plan = { steps, render: compileRender(steps) };
    byKey.set(key, plan);
  }
  return plan;
}

/**
 * Straight-line code per plan: constant keys in a fixed order give every rendered row one V8
 * shape, which a loop of keyed stores does not (a 2,000-port list renders in a third of the
 * time). Attribute and column names come from our own attribute maps, never from requests.
 */
function compileRender(steps: RenderStep[]): RenderFn {
  const decoders = steps.map((st) => (v: unknown) => decode(st.attr, v));
  const body = steps.map((st, i) => {
    const key = JSON.stringify(st.name);
    const get = `v = row[${JSON.stringify(st.computed)}];`;
    const fallback = st.name === 'tags' ? '[]' : st.column ? `dec[${i}](row[${JSON.stringify(st.column)}])` : undefined;
    return fallback ? `${get} if (v !== omit) o[${key}] = v !== undefined ? v : ${fallback};` : `${get} if (v !== undefined && v !== omit) o[${key}] = v;`;
  });
  const make = new Function('dec', 'omit', `return function render(row) { const o = {}; let v; ${body.join('\n')} return o; };`) as (
    dec: Array<(v: unknown) => unknown>,
    omit: symbol,
  ) => RenderFn;
  return make(decoders, OMIT);
}

/** Row → API dict in the view's order; computed attributes come from `row.__<name>`. */
export function render(def: DefCore, ctx: RequestContext, row: object, fields?: string[], view: View = 'show'): Record<string, unknown> {
  return renderPlan(def, ctx.isAdmin, view, fields).render(row);
}

export async function renderRows<T extends ResourceTable, C extends object>(
  q: Q,
  def: ResourceDef<T, C>,
  ctx: RequestContext,
  rows: Array<Loaded<T, C>>,
  fields?: string[],
  view: View = 'show',
  known?: ReadonlyMap<string, Record<string, unknown>>,
): Promise<Record<string, unknown>[]> {
  if (known?.size) for (const r of rows) Object.assign(r, known.get(r.id));
  if (def.load) await def.load(q, rows, ctx, view);
  await loadTags(q, def, rows, view);
  const plan = renderPlan(def, ctx.isAdmin, view, fields);
  return rows.map(plan.render);
}

// ---------------------------------------------------------------- writing

/** Columns and values for an insert or update from prepared attribute values. */
export function toColumns<T extends ResourceTable, C extends object>(def: ResourceDef<T, C>, values: Record<string, unknown>): Partial<RowOf<T>> {
  const cols: EngineRow = {};
  for (const [name, v] of Object.entries(values)) {
    const attr = def.attrs[name];
    if (!attr?.column || name === 'tenant_id') continue;
    cols[attr.column] = encode(attr, v);
  }
  return columnsOf<T>(cols);
}

/** Insert statements by resource, then by the list of columns they write (see insertRow). */
const insertQueries = new WeakMap<object, Map<string, PreparedStatement<string, unknown, Bound>>>();
/** Column lists kept per resource: a create writes the same few (what its body may leave out varies little). */
const INSERT_SHAPES = 32;

const isBound = (v: unknown): v is Bound => v === null || typeof v === 'string' || typeof v === 'bigint' || (typeof v === 'number' && Number.isFinite(v));

/** Insert a row with standard attributes filled in. */
export async function insertRow<T extends RevisedTable, C extends object>(trx: Tx, def: ResourceDef<T, C>, id: string, cols: Partial<RowOf<T>>): Promise<void> {
  const now = isoSeconds();
  const values: EngineRow = { created_at: now, updated_at: now, revision_number: def.initialRevision ?? 0, ...cols, id };
  const table: string = def.table;
  // Kysely leaves undefined values out of an INSERT; so does the prepared statement's column list.
  const names = Object.keys(values).filter((k) => values[k] !== undefined);
  const bound: Record<string, Bound> = {};
  for (const k of names) {
    const v = values[k];
    // An SQL expression (or anything else Kysely would write into the text) takes Kysely's way.
    if (!isBound(v)) return void (await engineDb(trx).insertInto(table).values(values).execute());
    bound[k] = v;
  }
  // A port create's INSERT was about 80 µs of Kysely building and compiling (issue 17's profile):
  // the statement for a column list is compiled once.
  let byColumns = insertQueries.get(def);
  if (!byColumns) {
    byColumns = new Map();
    insertQueries.set(def, byColumns);
  }
  const key = names.join(',');
  let insert = byColumns.get(key);
  if (!insert) {
    if (byColumns.size >= INSERT_SHAPES) byColumns.clear();
    insert = prepared<string, unknown, Bound>(names, (q, a) => engineDb(q).insertInto(table).values(a));
    byColumns.set(key, insert);
  }
  await insert.run(trx, bound);
}

/**
 * Apply column changes and bump the revision. Neutron bumps on every update that touches the
 * object, an update to the same values included (its revision plugin counts dirty rows, and
 * setting an attribute dirties the row).
 */
export async function updateRow<T extends RevisedTable, C extends object>(
  trx: Tx,
  def: ResourceDef<T, C>,
  row: RowOf<T>,
  cols: Partial<RowOf<T>>,
): Promise<void> {
  const stamp = { revision_number: (row.revision_number ?? 0) + 1, updated_at: isoSeconds() };
  Object.assign(row, cols, stamp);
  const values: EngineRow = { ...cols, ...stamp };
  const table: string = def.table;
  await engineDb(trx).updateTable(table).set(values).where('id', '=', row.id).execute();
}

/** Bump the revision of a parent whose derived attributes changed (a network gaining a subnet). */
export async function bumpRevision(trx: Tx, table: RevisedTable, id: string): Promise<void> {
  await engineDb(trx).updateTable(table).set({ revision_number: sql`revision_number + 1`, updated_at: isoSeconds() }).where('id', '=', id).execute();
}

/** Tables whose rows carry a status a driver reports (port ACTIVE, floating IP DOWN …). */
export type StatusTable = { [K in RevisedTable]: DB[K] extends { status: string } ? K : never }[RevisedTable];

/**
 * A driver's status report, bumping the revision as Neutron does when an agent reports. Returns
 * the row's project, or undefined when nothing changed (same status, or the row is gone).
 */
export async function writeStatus(trx: Tx, table: StatusTable, id: string, status: string, revision?: number): Promise<string | undefined> {
  let q = engineDb(trx)
    .updateTable(table)
    .set({ status, revision_number: sql`revision_number + 1`, updated_at: isoSeconds() })
    .where('id', '=', id)
    .where('status', '!=', status);
  if (revision !== undefined) q = q.where('revision_number', '=', revision);
  const row = await q.returning('project_id').executeTakeFirst();
  return row ? String(row.project_id) : undefined;
}

/** `If-Match: revision_number=N` → 412 when the resource moved on (or has no revisions: metering). */
export function checkRevision(expected: number | undefined, row: object): void {
  if (expected === undefined) return;
  const current = 'revision_number' in row ? row.revision_number : undefined;
  if (current !== expected) {
    throw new DomainError('precondition_failed', 'RevisionNumberConstraintFailed', `Constrained to ${expected}, but current revision is ${current}`);
  }
}

export async function deleteTags(trx: Tx, def: DefCore, id: string): Promise<void> {
  if (!def.taggable) return;
  await trx.deleteFrom('tags').where('resource_type', '=', def.name).where('resource_id', '=', id).execute();
}
