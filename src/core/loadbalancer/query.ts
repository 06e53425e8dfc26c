/**
 * Octavia's list semantics (api/common/pagination.py): filters on model attributes (anything
 * unknown is refused), tag filters, `sort=k:dir,…` or `sort_key`/`sort_dir`, default order
 * created_at (where the object has one) then id ascending, keyset pagination on `marker` with a
 * default page size of 1000, and `<plural>_links` with `next`/`previous`.
 */
import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { Q } from '../../store/db.js';
import type { DB, LbBase } from '../../store/schema.js';
import { boolFromString } from '../../util/bool.js';
import type { RequestContext } from '../context.js';
import { listScope } from './access.js';
import { lbErrors } from './errors.js';
import type { LbResource, LbRows, TAG_TYPES } from './model.js';

const DEFAULT_PAGE_SIZE = 1000;
const AUX = new Set(['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'fields', 'page_reverse']);
const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'];

export type ColType = 'str' | 'int' | 'bool';

/** Tables the Octavia API lists. */
export type ListTable = keyof LbRows | 'lb_flavor_profiles' | 'lb_flavors' | 'lb_az_profiles' | 'lb_availability_zones' | 'lb_amphorae';
type ColumnOf<T extends ListTable> = keyof DB[T] & string;
/** A listed row: load-balancing objects with their status vocabulary (model.ts), the others as stored. */
export type ListRow<T extends ListTable> = T extends keyof LbRows ? LbRows[T] : DB[T];

export interface ListSpec<T extends ListTable> {
  table: T;
  /** API attribute → column and type, for filtering and sorting. */
  columns: Record<string, { column: ColumnOf<T>; type?: ColType }>;
  /** `tags` table resource type when the resource carries tags. */
  tagType?: (typeof TAG_TYPES)[LbResource];
  /** The unique key markers name (availability zones have names, not ids). */
  idColumn?: ColumnOf<T>;
}

/** What a caller may further restrict a list to (the parent object), over the listed table. */
export type ListWhere<T extends ListTable> = (eb: ExpressionBuilder<DB, T>) => Expression<SqlBool>;

/**
 * The list query names its table and columns at run time (the spec's, and the client's filter
 * and sort keys once checked against it), which Kysely's static schema cannot follow; it is
 * built over this view of the same database, with tables and columns as plain names.
 */
type NamedDb = Record<string, Record<string, unknown>>;
type NamedWhere = (eb: ExpressionBuilder<NamedDb, string>) => Expression<SqlBool>;

/** Columns every load-balancing object lists, filters and sorts by. */
export const OBJECT_COLUMNS: Record<string, { column: keyof LbBase & string; type?: ColType }> = {
  id: { column: 'id' },
  provisioning_status: { column: 'provisioning_status' },
  operating_status: { column: 'operating_status' },
  admin_state_up: { column: 'admin_state_up', type: 'bool' },
  project_id: { column: 'project_id' },
  created_at: { column: 'created_at' },
  updated_at: { column: 'updated_at' },
};

export interface Link {
  href: string;
  rel: string;
}

export interface Page<R> {
  rows: R[];
  links: Link[];
  fields?: string[];
}

/** A rendered page: the objects, and the `<plural>_links` to the pages around it. */
export interface Listing<O> {
  items: O[];
  links: Link[];
}

const first = (params: Map<string, string[]>, k: string) => params.get(k)?.[0];

/**
 * A filter value as its column holds it, or undefined when no row can hold it: an integer
 * column's value that is not a 32-bit integer matches nothing (MySQL, Octavia's database,
 * compares and finds no row; PostgreSQL would refuse the query).
 */
function convert(type: ColType | undefined, v: string): string | number | undefined {
  if (type === 'bool') return boolFromString(v) ? 1 : 0;
  if (type === 'int') return /^-?\d{1,10}$/.test(v) && Math.abs(Number(v)) <= 2 ** 31 - 1 ? Number(v) : undefined;
  return v;
}

export function fieldsParam(params: Map<string, string[]>): string[] | undefined {
  const f = (params.get('fields') ?? []).flatMap((x) => x.split(',')).filter(Boolean);
  return f.length ? f : undefined;
}

/**
 * One page of rows. `where` restricts to what the caller may see (parent object …).
 */
export function listPage<T extends ListTable>(
  q: Q,
  spec: ListSpec<T>,
  params: Map<string, string[]>,
  url: URL,
  where?: ListWhere<T>,
): Promise<Page<ListRow<T>>> {
  // The same builder, seen with the listed table's static schema.
  return page(q, spec, params, url, where && ((eb) => where(eb as unknown as ExpressionBuilder<DB, T>)));
}

async function page<T extends ListTable>(q: Q, spec: ListSpec<T>, params: Map<string, string[]>, url: URL, where?: NamedWhere): Promise<Page<ListRow<T>>> {
  const db = q as unknown as Kysely<NamedDb>;
  const t: string = spec.table;
  // Filter and sort keys come from the client: looked up in a Map, never on the spec's object.
  const columns = new Map(Object.entries(spec.columns));
  let qb = db.selectFrom(t).selectAll(t);
  if (where) qb = qb.where(where);

  // Filters.
  for (const [k, values] of params) {
    if (AUX.has(k)) continue;
    if (TAG_FILTERS.includes(k)) {
      if (!spec.tagType) throw lbErrors.invalidFilter();
      const tags = [...new Set(values.flatMap((v) => v.split(',')).filter(Boolean))];
      // "Has every tag" as one count over an IN list: thousands of EXISTS terms are deeper than SQLite parses.
      const hasAll = sql<SqlBool>`(select count(distinct tags.tag) from tags where tags.resource_type = ${spec.tagType} and tags.resource_id = ${sql.ref(`${t}.id`)} and tags.tag in (${sql.join(tags.length ? tags : [''])})) = ${tags.length}`;
      const anyOf = (eb: ExpressionBuilder<NamedDb, string>) =>
        eb.exists(
          eb
            .selectFrom('tags')
            .select(sql`1`.as('one'))
            .where('tags.resource_type', '=', spec.tagType!)
            .whereRef('tags.resource_id', '=', `${t}.id`)
            .where('tags.tag', 'in', tags.length ? tags : ['']),
        );
      if (k === 'tags') qb = qb.where(hasAll);
      else if (k === 'tags-any') qb = qb.where((eb) => anyOf(eb));
      else if (k === 'not-tags') qb = qb.where((eb) => eb.not(hasAll));
      else qb = qb.where((eb) => eb.not(anyOf(eb)));
      continue;
    }
    const col = columns.get(k);
    if (!col) throw lbErrors.invalidFilter();
    const vs = values.map((v) => convert(col.type, v)).filter((v) => v !== undefined);
    const ref = `${t}.${col.column}`;
    if (vs.length === 0) qb = qb.where(sql<SqlBool>`1 = 0`);
    else qb = vs.length === 1 ? qb.where(ref, '=', vs[0]) : qb.where(ref, 'in', vs);
  }

  // Sorting.
  const sorts: Array<[string, 'asc' | 'desc']> = [];
  const dir = (d: string): 'asc' | 'desc' => {
    const x = d.toLowerCase();
    if (x !== 'asc' && x !== 'desc') throw lbErrors.invalidSortDir(x);
    return x;
  };
  const sortParam = first(params, 'sort');
  const sortKey = first(params, 'sort_key');
  if (sortParam) {
    for (const part of sortParam.split(',')) {
      const comps = part.split(':');
      if (comps.length === 1) sorts.push([comps[0], 'asc']);
      else if (comps.length === 2) sorts.push([comps[0], dir(comps[1])]);
      else throw lbErrors.invalidSortKey(`[${comps.map((c) => `'${c}'`).join(', ')}]`);
    }
  } else if (sortKey) {
    const keys = sortKey.split(',');
    const dirs = (first(params, 'sort_dir') ?? '').split(',').filter(Boolean);
    keys.forEach((k, i) => {
      sorts.push([k, dir(dirs[i] ?? 'asc')]);
    });
  }
  // Octavia appends its default keys (created_at, id) only where the model has the attribute
  // (PaginationHelper.apply: `hasattr(model, key)`), and refuses a sort key it lacks: flavors,
  // flavor profiles and zone profiles sort by id alone, and a created_at sort is a 400 there.
  // Zones have neither; their name is the key (idColumn), as their primary key orders them.
  for (const k of ['created_at', 'id']) if (!sorts.some(([s]) => s === k) && (k === 'id' || columns.has(k))) sorts.push([k, 'asc']);
  const idCol: string = spec.idColumn ?? 'id';
  const resolved: Array<[string, 'asc' | 'desc']> = [];
  for (const [k, d] of sorts) {
    const col = k === 'id' ? { column: idCol } : columns.get(k);
    if (!col) throw lbErrors.invalidSortKey(k);
    // A key named twice sorts as once: thousands of repeats must not become thousands of terms.
    if (!resolved.some(([c]) => c === col.column)) resolved.push([col.column, d]);
  }

  // Pagination.
  const rawLimit = first(params, 'limit');
  let limit = DEFAULT_PAGE_SIZE;
  if (rawLimit !== undefined) {
    if (rawLimit === 'infinite') limit = DEFAULT_PAGE_SIZE;
    else if (!/^-?\d+$/.test(rawLimit.trim())) throw lbErrors.invalidLimit(rawLimit);
    else {
      const n = Number(rawLimit);
      limit = n < 1 ? DEFAULT_PAGE_SIZE : Math.min(n, DEFAULT_PAGE_SIZE);
    }
  }
  const marker = first(params, 'marker');
  const reverse = first(params, 'page_reverse') === 'True';
  if (marker !== undefined) {
    const m = await db.selectFrom(t).selectAll().where(idCol, '=', marker).executeTakeFirst();
    if (!m) throw lbErrors.invalidMarker(marker);
    // NULLs compare as Octavia's defaults: 0 for integers, '' for text.
    const intCols = new Set<string>([...columns.values()].filter((x) => x.type === 'int' || x.type === 'bool').map((x) => x.column));
    const val = (c: string) => m[c] ?? (intCols.has(c) ? 0 : '');
    const coalesce = (c: string) => sql`coalesce(${sql.ref(`${t}.${c}`)}, ${intCols.has(c) ? 0 : ''})`;
    qb = qb.where((eb) =>
      eb.or(
        resolved.map(([c, d], i) => {
          const greater = (d === 'asc') !== reverse;
          return eb.and([...resolved.slice(0, i).map(([pc]) => eb(coalesce(pc), '=', val(pc))), eb(coalesce(c), greater ? '>' : '<', val(c))]);
        }),
      ),
    );
  }
  for (const [c, d] of resolved) qb = qb.orderBy(`${t}.${c}`, d);
  qb = qb.limit(limit);
  const rows = await qb.execute();

  // Links (Octavia echoes limit, sort and sort_key, never sort_dir).
  const links: Link[] = [];
  if (rows.length) {
    const base = [`limit=${limit}`];
    if (sortParam) base.push(`sort=${sortParam}`);
    if (sortKey) base.push(`sort_key=${sortKey}`);
    const path = `${url.origin}${url.pathname}`;
    if (marker !== undefined) links.push({ href: `${path}?${[...base, `marker=${rows[0][idCol]}`, 'page_reverse=True'].join('&')}`, rel: 'previous' });
    if (rows.length >= limit) links.push({ href: `${path}?${[...base, `marker=${rows[rows.length - 1][idCol]}`].join('&')}`, rel: 'next' });
  }
  // Every column of `t`, as selected: the rows of the spec's table.
  return { rows: rows as ListRow<T>[], links, fields: fieldsParam(params) };
}

/**
 * A page of one kind of Octavia v2 object (LBaaS v1 rows share the tables) that the caller may
 * see: an admin all (or `project_id`'s), anyone else their own project's.
 */
export function listV2Page<T extends keyof LbRows>(
  q: Q,
  ctx: RequestContext,
  spec: ListSpec<T>,
  params: Map<string, string[]>,
  url: URL,
): Promise<Page<ListRow<T>>> {
  const project = listScope(ctx, params.get('project_id')?.[0]);
  const t: string = spec.table;
  return page(q, spec, params, url, (eb) => eb.and([eb(`${t}.api`, '=', 'v2'), ...(project !== undefined ? [eb(`${t}.project_id`, '=', project)] : [])]));
}
