import type { Store } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import type { Expression, SqlBool } from 'kysely';
import type { Q } from '../../store/db.js';
import { DomainError, invalidInput, notFound, resourceNotFound } from '../errors.js';
import type { NetworkKind, UnitOfWork, Work } from '../work.js';
import { string as stringV, uniqueStrings } from './attributes.js';
import { updatePortInternal } from './ports.js';
import { checkQuotaIn } from './quotas.js';
import { RbacTypes } from './rbac.js';
import type { AnswerExtras, ResourceOps } from './registry.js';
import {
  type EngineEb,
  type ListOptions,
  type NeutronTable,
  type PageSpan,
  type ResourceDef,
  type ResourceTable,
  type RevisedTable,
  type RowOf,
  type StatusTable,
  type View,
  assertOwner,
  policyError,
  bumpRevision,
  checkRevision,
  deleteTags,
  getRow,
  getRowForUpdate,
  listIds,
  listRows,
  pageLinks,
  parseListOptions,
  prepareCreate,
  prepareUpdate,
  renderRows,
  rowsById,
  showRow,
  unwrapBody,
  writeStatus,
} from './resource.js';

export const MAX_TAG_LEN = 255;
export const MAX_TAGS = 50;

/** Neutron operations inside a caller's unit of work (see NetworkService.within). */
export interface NetworkOps {
  /** Create one object (or a bulk body); returns the new ids. `parent`: a sub-resource's parent id. */
  create(ctx: RequestContext, collection: string, body: unknown, parent?: string): Promise<string[]>;
  update(ctx: RequestContext, collection: string, id: string, body: unknown, ifMatch?: number, parent?: string): Promise<void>;
  delete(ctx: RequestContext, collection: string, id: string, ifMatch?: number, parent?: string): Promise<void>;
}

/** Tagged resources carry all of Neutron's standard attributes, their revision included. */
type TaggedTable = Extract<NeutronTable, RevisedTable>;

/** The kinds whose status a driver reports, and where it is kept. */
const STATUS_TABLES: ReadonlyMap<NetworkKind, StatusTable> = new Map([
  ['network', 'networks'],
  ['port', 'ports'],
  ['router', 'routers'],
  ['floatingip', 'floating_ips'],
  ['trunk', 'trunks'],
]);

/** Rows a long list reads, loads and renders at a time (see NetworkService.listEach). */
export const LIST_CHUNK = 250;

export interface ListResult {
  items: Record<string, unknown>[];
  links?: Array<{ rel: string; href: string }>;
}

/** The tag extension's own not-found for an object the caller cannot see. */
const tagResourceNotFound = (def: ResourceDef, id: string) => notFound('TagResourceNotFound', `Resource ${def.collection} ${id} could not be found.`);

/** tagging.validate_tag: a string of at most 255 characters. */
function checkTag(tag: string): void {
  const reason = stringV(MAX_TAG_LEN)(tag);
  if (reason) throw invalidInput(reason);
}

/** Where a resource is registered: its URL segment, under its parent's for a sub-resource. */
export function collectionKey(def: Pick<ResourceDef, 'path' | 'collection' | 'parent'>): string {
  const own = def.path ?? def.collection;
  return def.parent ? `${def.parent.path}/:parent/${own}` : own;
}

/** A sub-resource is found only under its own parent. */
function checkParent(def: ResourceDef, row: object, id: string, parent: string | undefined): void {
  if (!def.parent) return;
  const value = new Map(Object.entries(row)).get(def.parent.column);
  if (value !== parent) throw def.notFound ? def.notFound(id) : resourceNotFound(def.label, id);
}

/** An update's answer with the keys the resource echoes (see AnswerExtras). */
function withExtras(out: Record<string, unknown>, extras: AnswerExtras, order: readonly string[]): Record<string, unknown> {
  const inPlace = extras.inPlace ?? {};
  const merged: Record<string, unknown> = {};
  for (const k of order) {
    if (Object.hasOwn(inPlace, k)) merged[k] = inPlace[k];
    else if (Object.hasOwn(out, k)) merged[k] = out[k];
  }
  for (const [k, v] of Object.entries(out)) if (!Object.hasOwn(merged, k)) merged[k] = v;
  for (const [k, v] of Object.entries(inPlace)) if (!Object.hasOwn(merged, k)) merged[k] = v;
  for (const [k, v] of Object.entries(extras.end ?? {})) {
    delete merged[k];
    merged[k] = v;
  }
  return merged;
}

const methodNotAllowed = () =>
  new DomainError(
    'method_not_allowed',
    'HTTPMethodNotAllowed',
    'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  );

/**
 * The Neutron API as operations on the store, independent of HTTP. Every write is one unit of
 * work: a refused or failed request leaves nothing behind, and its changes are published after
 * the commit for the data plane (or anything else) to react to.
 */
export class NetworkService {
  private readonly byCollection = new Map<string, ResourceOps>();
  /** The RBAC object types served (`rbac-policies`): each module registers its own. */
  readonly rbac = new RbacTypes();

  constructor(readonly uow: UnitOfWork) {}

  get store(): Store {
    return this.uow.store;
  }

  /**
   * Serve a resource. Every resource's operations share one table here, typed for any Neutron
   * row; the engine hands each only rows it read from that resource's own table (`def.table`),
   * so a `ResourceOps<'ports'>` may stand there (the one cast).
   */
  register<T extends NeutronTable, C extends object>(ops: ResourceOps<T, C>): void {
    this.byCollection.set(collectionKey(ops.def), ops as ResourceOps);
  }

  /**
   * The resource served at URL segment `path` (`networks`, `security-groups` …). Neutron finds a
   * collection's controller by its name with `_` turned into `-`, then with `-` turned into `_`
   * (NeutronManager.get_controller_for_resource), so `network_segment_ranges` and
   * `network-segment-ranges` are one collection, as `security_groups` and `security-groups` are.
   */
  resource(path: string): ResourceOps | undefined {
    return this.byCollection.get(path) ?? this.byCollection.get(path.replaceAll('_', '-')) ?? this.byCollection.get(path.replaceAll('-', '_'));
  }

  /**
   * The key of the taggable resource whose tags are at `/v2.0/{path}/{id}/tags`. Neutron's tagging
   * extension hangs them under each resource's collection name without its path prefix, so a QoS
   * policy's are at `/v2.0/policies/{id}/tags` (neutron/extensions/tagging.py); its own path
   * (`qos/policies`) is kept as well.
   */
  taggedCollection(path: string): string | undefined {
    const ops = this.resource(path) ?? [...this.byCollection.values()].find((o) => !o.def.parent && o.def.collection === path);
    return ops?.def.taggable ? collectionKey(ops.def) : undefined;
  }

  get collections(): string[] {
    return [...this.byCollection.keys()];
  }

  async list(ctx: RequestContext, collection: string, query: Map<string, string[]>, url?: URL, parent?: string): Promise<ListResult> {
    const items: Record<string, unknown>[] = [];
    const links = await this.listEach(
      ctx,
      collection,
      query,
      (chunk) => {
        for (const item of chunk) items.push(item);
      },
      url,
      parent,
    );
    return { items, links };
  }

  /**
   * A list handed to `sink` as it is rendered, a chunk of at most LIST_CHUNK objects at a time,
   * in the list's order; answers the page links. A long list ordered by id alone (what a list
   * without `sort_key` is) is loaded and rendered a chunk at a time: what is alive at once is one
   * chunk, not the whole list, so V8's young generation no longer copies and promotes a
   * 2,000-port list's objects (issue 17's profile: scavenges were ~16 ms of such a list with 4 MB
   * semi-spaces, see bin/pocketstack).
   *
   * The first chunk's rows are one statement, where most lists end. The rest is one statement of
   * ids, going on after the first chunk's last id, then each chunk's rows by id. Reading each
   * chunk's rows after the previous chunk's last id instead would cost the whole filter's rows
   * each time: a filter's index seldom gives id order (ports by network is a search of
   * `(network_id, mac_address)`), so SQLite reads and sorts every matching row for each chunk of
   * 250 (a 2,000-port network's list spent 20 of its 27 ms of SQL so). Ids never change, so an
   * object is never read twice or skipped; one created or deleted meanwhile may be in the answer
   * or not, as it may be in the whole list's one read. Other orders (by a name, which an update
   * may change between the two reads) and `page_reverse` are read in one statement.
   */
  async listEach(
    ctx: RequestContext,
    collection: string,
    query: Map<string, string[]>,
    sink: (items: Record<string, unknown>[]) => void,
    url?: URL,
    parent?: string,
  ): Promise<ListResult['links']> {
    const ops = this.mustGet(collection);
    const opts = parseListOptions(ops.def, query);
    const under = await this.parentScope(this.store.db, ops.def, ctx, parent);
    if (ops.beforeList) await ops.beforeList(ctx, opts.filters);
    return this.listEachWith(ctx, ops.def, opts, sink, url, under);
  }

  private async listEachWith<T extends ResourceTable, C extends object>(
    ctx: RequestContext,
    def: ResourceDef<T, C>,
    opts: ListOptions,
    sink: (items: Record<string, unknown>[]) => void,
    url?: URL,
    extraWhere?: (eb: EngineEb) => Expression<SqlBool>,
  ): Promise<ListResult['links']> {
    const db = this.store.db;
    const page: PageSpan = { count: 0 };
    const emit = async (rows: Array<RowOf<T>>) => {
      if (!rows.length) return;
      page.first ??= rows[0].id;
      page.last = rows[rows.length - 1].id;
      page.count += rows.length;
      sink(await renderRows(db, def, ctx, rows, opts.fields));
    };
    const byId = !opts.pageReverse && opts.sorts.every(([key]) => key === 'id');
    const first = byId ? Math.min(LIST_CHUNK, opts.limit ?? LIST_CHUNK) : opts.limit;
    const rows = await listRows(db, def, ctx, { ...opts, limit: first }, extraWhere);
    await emit(rows);
    if (first !== undefined && rows.length === first && page.count !== opts.limit) {
      const rest = opts.limit === undefined ? undefined : opts.limit - page.count;
      const ids = await listIds(db, def, ctx, { ...opts, limit: rest }, extraWhere, rows[rows.length - 1]);
      for (let i = 0; i < ids.length; i += LIST_CHUNK) {
        const chunk = ids.slice(i, i + LIST_CHUNK);
        await emit(await rowsById(db, def, chunk));
      }
    }
    return url ? pageLinks(url, page, opts) : undefined;
  }

  async show(ctx: RequestContext, collection: string, id: string, fields?: string[], parent?: string): Promise<Record<string, unknown>> {
    const ops = this.mustGet(collection);
    await this.parentScope(this.store.db, ops.def, ctx, parent);
    const row = await showRow(this.store.db, this.store.dialect, ops.def, ctx, id);
    checkParent(ops.def, row, id, parent);
    const [item] = await renderRows(this.store.db, ops.def, ctx, [row], fields);
    return item;
  }

  /** POST: one object or, for bulk-capable resources, many, all in one transaction. */
  async create(ctx: RequestContext, collection: string, body: unknown, parent?: string): Promise<{ bulk: boolean; items: Record<string, unknown>[] }> {
    const def = this.mustGet(collection).def;
    const bulk = typeof body === 'object' && body !== null && def.collection in body && def.bulk === true;
    // What each create knew of its answer (Prepared.known): the last attempt's, the one committed.
    let known: ReadonlyMap<string, Record<string, unknown>> | undefined;
    const ids = await this.uow.run(
      (w) =>
        this.createWithin(w, ctx, collection, body, parent, (k) => {
          known = k;
        }),
      ctx,
    );
    return { bulk, items: await this.renderIds(ctx, def, ids, bulk ? 'bulk' : 'create', known) };
  }

  async update(ctx: RequestContext, collection: string, id: string, body: unknown, ifMatch?: number, parent?: string): Promise<Record<string, unknown>> {
    const def = this.mustGet(collection).def;
    const extras = await this.uow.run((w) => this.updateEchoing(w, ctx, collection, id, body, ifMatch, parent), ctx);
    const [out] = await this.renderIds(ctx, def, [id], 'update');
    return extras ? withExtras(out, extras, def.order?.update ?? def.order?.show ?? Object.keys(def.attrs)) : out;
  }

  /** `within(w).update`, keeping what the resource's update echoes for the answer. */
  private async updateEchoing(w: Work, ctx: RequestContext, collection: string, id: string, body: unknown, ifMatch?: number, parent?: string) {
    let extras: AnswerExtras | undefined;
    await this.within(w, (e) => {
      extras = e;
    }).update(ctx, collection, id, body, ifMatch, parent);
    return extras;
  }

  async delete(ctx: RequestContext, collection: string, id: string, ifMatch?: number, parent?: string): Promise<void> {
    await this.uow.run((w) => this.within(w).delete(ctx, collection, id, ifMatch, parent), ctx);
  }

  /**
   * A sub-resource's parent must be the caller's to see; its children are listed under it. Returns
   * the list condition (none for top-level resources).
   */
  private async parentScope(
    q: Q,
    def: ResourceDef,
    ctx: RequestContext,
    parent: string | undefined,
  ): Promise<((eb: EngineEb) => Expression<SqlBool>) | undefined> {
    if (!def.parent) return undefined;
    const spec = def.parent;
    const parentOps = this.byCollection.get(spec.path);
    if (parent === undefined || !parentOps) throw notFound('HTTPNotFound', 'The resource could not be found.');
    try {
      await getRow(q, parentOps.def, ctx, parent);
    } catch (e) {
      if (spec.notFound && e instanceof DomainError && e.kind === 'not_found') throw spec.notFound(parent);
      throw e;
    }
    const column = `${def.table}.${spec.column}`;
    return (eb) => eb(column, '=', parent);
  }

  /**
   * Neutron operations inside another service's unit of work, for callers that must change ports
   * and their own rows together (Nova's server build and delete, Octavia's VIP port): all of it
   * commits or none of it does, with quota, validation and policy as for the API.
   */
  within(w: Work, onExtras?: (extras: AnswerExtras) => void): NetworkOps {
    return {
      create: (ctx, collection, body, parent) => this.createWithin(w, ctx, collection, body, parent),
      update: async (ctx, collection, id, body, ifMatch, parent) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.update) throw methodNotAllowed();
        await this.parentScope(w.trx, def, ctx, parent);
        const [item] = unwrapBody(def, body, false);
        const p = { ...prepareUpdate(def, ctx, item), parent };
        const row = await getRowForUpdate(w, def, ctx, id);
        checkParent(def, row, id, parent);
        assertOwner(def, ctx, row, 'update');
        checkRevision(ifMatch, row);
        const extras = await ops.update(w, ctx, row, p);
        if (extras && onExtras) onExtras(extras);
        w.changed(def.name, id, row.project_id, 'update');
      },
      delete: async (ctx, collection, id, ifMatch, parent) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.delete) throw methodNotAllowed();
        await this.parentScope(w.trx, def, ctx, parent);
        const row = await getRowForUpdate(w, def, ctx, id);
        checkParent(def, row, id, parent);
        if (!(await def.deleteAllowed?.(w.trx, ctx, row))) assertOwner(def, ctx, row, 'delete');
        checkRevision(ifMatch, row);
        await ops.delete(w, ctx, row);
        await deleteTags(w.trx, def, id);
        w.changed(def.name, id, row.project_id, 'delete');
      },
    };
  }

  /** A create inside `w`; `onKnown` hears what each new object's create knew of its answer, by id. */
  private async createWithin(
    w: Work,
    ctx: RequestContext,
    collection: string,
    body: unknown,
    parent: string | undefined,
    onKnown?: (known: ReadonlyMap<string, Record<string, unknown>>) => void,
  ): Promise<string[]> {
    const ops = this.mustGet(collection);
    const def = ops.def;
    if (!ops.create) throw methodNotAllowed();
    await this.parentScope(w.trx, def, ctx, parent);
    const prepared = unwrapBody(def, body, true).map((item) => ({ ...prepareCreate(def, ctx, item), parent }));
    const ids: string[] = [];
    for (const p of prepared) {
      const project = p.values.project_id as string;
      if (ops.quota) await checkQuotaIn(w, project, ops.quota);
      const id = await ops.create!(w, ctx, p);
      w.changed(def.name, id, project, 'create');
      ids.push(id);
    }
    onKnown?.(new Map(prepared.flatMap((p, i) => (p.known ? [[ids[i], p.known] as const] : []))));
    return ids;
  }

  async action(ctx: RequestContext, collection: string, id: string, action: string, body: unknown): Promise<unknown> {
    return this.uow.run((w) => this.actionWithin(w, ctx, collection, id, action, body), ctx);
  }

  /** A member action inside a caller's unit of work (auto-allocation plugs its router in). */
  async actionWithin(w: Work, ctx: RequestContext, collection: string, id: string, action: string, body: unknown): Promise<unknown> {
    const ops = this.mustGet(collection);
    const fn = ops.actions?.get(action);
    if (!fn) throw notFound('HTTPNotFound', 'The resource could not be found.');
    const row = await getRowForUpdate(w, ops.def, ctx, id);
    // Neutron checks a member action against the whole object under the action's own rule
    // (`rule:add_addresses is disallowed by policy`).
    if (!ctx.isAdmin && row.project_id !== ctx.projectId) throw policyError(action);
    const out = await fn(w, ctx, row, body);
    w.changed(ops.def.name, id, row.project_id, 'update');
    return out;
  }

  /**
   * Data-plane status write-back (port ACTIVE/DOWN, floating IP ACTIVE …). Bumps the revision as
   * Neutron does when an agent reports status; a vanished row is not an error (deleted meanwhile).
   * `revision`: the revision the status was decided on — a row updated since (its binding failed
   * meanwhile, say) is left for the pass that change wakes.
   */
  async setStatus(resource: NetworkKind, id: string, status: string, revision?: number): Promise<boolean> {
    const table = STATUS_TABLES.get(resource);
    if (!table) throw new Error(`${resource} has no status`);
    return this.uow.run(async (w) => {
      const projectId = await writeStatus(w.trx, table, id, status, revision);
      if (projectId !== undefined) w.changed(resource, id, projectId, 'status');
      return projectId !== undefined;
    });
  }

  /**
   * Several status reports in one transaction, each written as `setStatus` writes it (a data
   * plane's pass that found several ports or floating IPs to report: one commit, not one each).
   */
  async setStatuses(reports: ReadonlyArray<{ resource: NetworkKind; id: string; status: string; revision?: number }>): Promise<void> {
    if (!reports.length) return;
    const tables = reports.map((r) => {
      const table = STATUS_TABLES.get(r.resource);
      if (!table) throw new Error(`${r.resource} has no status`);
      return table;
    });
    await this.uow.run(async (w) => {
      for (const [i, r] of reports.entries()) {
        const projectId = await writeStatus(w.trx, tables[i], r.id, r.status, r.revision);
        if (projectId !== undefined) w.changed(r.resource, r.id, projectId, 'status');
      }
    });
  }

  /**
   * A trunk's subport bound to its parent's host, as the trunk driver's RPC does it
   * (TrunkSkeleton._handle_port_binding: `binding:host_id` and device owner `trunk:subport`), or
   * unbound again (host '') once it left its trunk. A port deleted meanwhile is no error.
   */
  async bindSubport(portId: string, host: string): Promise<void> {
    await this.uow.run(async (w) => {
      if (!(await w.trx.selectFrom('ports').select('id').where('id', '=', portId).executeTakeFirst())) return;
      await updatePortInternal(w, portId, { 'binding:host_id': host, device_owner: host ? 'trunk:subport' : '' });
    });
  }

  // ------------------------------------------------------------ tags (standard-attr-tag)

  async tags(ctx: RequestContext, collection: string, id: string): Promise<string[]> {
    const def = this.taggable(collection);
    await this.tagParent(ctx, def, id);
    const rows = await this.store.db
      .selectFrom('tags')
      .select('tag')
      .where('resource_type', '=', def.name)
      .where('resource_id', '=', id)
      .orderBy('tag')
      .execute();
    return rows.map((r) => r.tag);
  }

  async hasTag(ctx: RequestContext, collection: string, id: string, tag: string): Promise<boolean> {
    checkTag(tag);
    return (await this.tags(ctx, collection, id)).includes(tag);
  }

  /** PUT …/tags: Neutron answers the tags as the body gave them. */
  async replaceTags(ctx: RequestContext, collection: string, id: string, body: unknown): Promise<string[]> {
    const def = this.taggable(collection);
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !Object.hasOwn(body, 'tags')) throw invalidInput('Invalid tags body');
    const tags = (body as { tags?: unknown }).tags;
    const reason = uniqueStrings(MAX_TAG_LEN)(tags);
    if (reason) throw invalidInput(reason);
    const list = tags as string[];
    if (list.length > MAX_TAGS) throw invalidInput(`The number of tags exceeds the limit ${MAX_TAGS}`);
    await this.uow.run(async (w) => {
      const { trx } = w;
      await this.ownedForTags(w, ctx, def, id);
      await trx.deleteFrom('tags').where('resource_type', '=', def.name).where('resource_id', '=', id).execute();
      for (const t of list) await trx.insertInto('tags').values({ resource_type: def.name, resource_id: id, tag: t }).execute();
      await bumpRevision(trx, def.table, id);
    }, ctx);
    return [...list];
  }

  async addTag(ctx: RequestContext, collection: string, id: string, tag: string): Promise<void> {
    const def = this.taggable(collection);
    checkTag(tag);
    await this.uow.run(async (w) => {
      const { trx } = w;
      await this.ownedForTags(w, ctx, def, id);
      const exists = await trx
        .selectFrom('tags')
        .select('tag')
        .where('resource_type', '=', def.name)
        .where('resource_id', '=', id)
        .where('tag', '=', tag)
        .executeTakeFirst();
      if (exists) return;
      const n = await trx
        .selectFrom('tags')
        .select(({ fn }) => fn.countAll<number>().as('n'))
        .where('resource_type', '=', def.name)
        .where('resource_id', '=', id)
        .executeTakeFirst();
      if (Number(n?.n ?? 0) >= MAX_TAGS) throw invalidInput(`The number of tags exceeds the limit ${MAX_TAGS}`);
      await trx.insertInto('tags').values({ resource_type: def.name, resource_id: id, tag }).execute();
      await bumpRevision(trx, def.table, id);
    }, ctx);
  }

  async deleteTag(ctx: RequestContext, collection: string, id: string, tag?: string): Promise<void> {
    const def = this.taggable(collection);
    if (tag !== undefined) checkTag(tag);
    await this.uow.run(async (w) => {
      const { trx } = w;
      await this.ownedForTags(w, ctx, def, id);
      let q = trx.deleteFrom('tags').where('resource_type', '=', def.name).where('resource_id', '=', id);
      if (tag !== undefined) q = q.where('tag', '=', tag);
      const res = await q.executeTakeFirst();
      if (tag !== undefined && Number(res.numDeletedRows) === 0) {
        throw notFound('TagNotFound', `Tag ${tag} could not be found.`);
      }
      await bumpRevision(trx, def.table, id);
    }, ctx);
  }

  /** The tagged object as the caller sees it; one it cannot see is TagResourceNotFound. */
  private async tagParent(ctx: RequestContext, def: ResourceDef<TaggedTable>, id: string): Promise<void> {
    try {
      await getRow(this.store.db, def, ctx, id);
    } catch (e) {
      if (e instanceof DomainError && e.kind === 'not_found') throw tagResourceNotFound(def, id);
      throw e;
    }
  }

  /**
   * The object whose tags change, locked; its change is recorded. Whoever sees an object may tag
   * it, a shared network too: Zed's tagging controller enforces no policy of its own, and its
   * plugin only reads the object as the caller sees it.
   */
  private async ownedForTags(w: Work, ctx: RequestContext, def: ResourceDef<TaggedTable>, id: string): Promise<RowOf<TaggedTable>> {
    let row: RowOf<TaggedTable>;
    try {
      row = await getRowForUpdate(w, def, ctx, id);
    } catch (e) {
      if (e instanceof DomainError && e.kind === 'not_found') throw tagResourceNotFound(def, id);
      throw e;
    }
    w.changed(def.name, id, row.project_id, 'update');
    return row;
  }

  private taggable(collection: string): ResourceDef<TaggedTable> {
    const ops = this.byCollection.get(collection);
    if (!ops?.def.taggable) throw notFound('HTTPNotFound', 'The resource could not be found.');
    // Only resources with the standard attributes take tags (metering's have neither).
    return ops.def as ResourceDef<TaggedTable>;
  }

  // ------------------------------------------------------------ helpers

  async renderIds<T extends ResourceTable, C extends object>(
    ctx: RequestContext,
    def: ResourceDef<T, C>,
    ids: string[],
    view: View = 'show',
    known?: ReadonlyMap<string, Record<string, unknown>>,
  ): Promise<Record<string, unknown>[]> {
    if (ids.length === 0) return [];
    const rows = await rowsById(this.store.db, def, ids);
    // The caller just made or changed these: render them with its own rights.
    return renderRows(this.store.db, def, ctx, rows, undefined, view, known);
  }

  private mustGet(collection: string): ResourceOps {
    const ops = this.resource(collection);
    if (!ops) throw notFound('HTTPNotFound', 'The resource could not be found.');
    return ops;
  }
}
