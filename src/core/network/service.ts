import type { Store } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { DomainError, httpBadRequest, notFound } from '../errors.js';
import type { NetworkKind, UnitOfWork, Work } from '../work.js';
import { uniqueStrings } from './attributes.js';
import { checkQuota } from './quotas.js';
import type { ResourceOps } from './registry.js';
import {
  type ListOptions,
  type NeutronTable,
  type ResourceDef,
  type ResourceTable,
  type RevisedTable,
  type RowOf,
  type StatusTable,
  assertOwner,
  bumpRevision,
  checkRevision,
  deleteTags,
  getRow,
  getRowForUpdate,
  listRows,
  pageLinks,
  parseListOptions,
  prepareCreate,
  prepareUpdate,
  renderRows,
  rowsById,
  unwrapBody,
  writeStatus,
} from './resource.js';

export const MAX_TAG_LEN = 255;
export const MAX_TAGS = 50;

/** Neutron operations inside a caller's unit of work (see NetworkService.within). */
export interface NetworkOps {
  /** Create one object (or a bulk body); returns the new ids. */
  create(ctx: RequestContext, collection: string, body: unknown): Promise<string[]>;
  update(ctx: RequestContext, collection: string, id: string, body: unknown, ifMatch?: number): Promise<void>;
  delete(ctx: RequestContext, collection: string, id: string, ifMatch?: number): Promise<void>;
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

export interface ListResult {
  items: Record<string, unknown>[];
  links?: Array<{ rel: string; href: string }>;
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
    this.byCollection.set(ops.def.path ?? ops.def.collection, ops as ResourceOps);
  }

  /** The resource served at URL segment `path` (`networks`, `security-groups` …). */
  resource(path: string): ResourceOps | undefined {
    return this.byCollection.get(path);
  }

  get collections(): string[] {
    return [...this.byCollection.keys()];
  }

  async list(ctx: RequestContext, collection: string, query: Map<string, string[]>, url?: URL): Promise<ListResult> {
    const ops = this.mustGet(collection);
    const opts = parseListOptions(ops.def, query);
    if (ops.beforeList) await ops.beforeList(ctx, opts.filters);
    return this.listWith(ctx, ops.def, opts, url);
  }

  async listWith<T extends ResourceTable, C extends object>(ctx: RequestContext, def: ResourceDef<T, C>, opts: ListOptions, url?: URL): Promise<ListResult> {
    const db = this.store.db;
    const rows = await listRows(db, def, ctx, opts);
    const items = await renderRows(db, def, ctx, rows, opts.fields);
    return { items, links: url ? pageLinks(url, rows, opts) : undefined };
  }

  async show(ctx: RequestContext, collection: string, id: string, fields?: string[]): Promise<Record<string, unknown>> {
    const ops = this.mustGet(collection);
    const row = await getRow(this.store.db, ops.def, ctx, id);
    const [item] = await renderRows(this.store.db, ops.def, ctx, [row], fields);
    return item;
  }

  /** POST: one object or, for bulk-capable resources, many, all in one transaction. */
  async create(ctx: RequestContext, collection: string, body: unknown): Promise<{ bulk: boolean; items: Record<string, unknown>[] }> {
    const def = this.mustGet(collection).def;
    const bulk = typeof body === 'object' && body !== null && def.collection in body && def.bulk === true;
    const ids = await this.uow.run((w) => this.within(w).create(ctx, collection, body));
    return { bulk, items: await this.renderIds(ctx, def, ids) };
  }

  async update(ctx: RequestContext, collection: string, id: string, body: unknown, ifMatch?: number): Promise<Record<string, unknown>> {
    const def = this.mustGet(collection).def;
    await this.uow.run((w) => this.within(w).update(ctx, collection, id, body, ifMatch));
    const [out] = await this.renderIds(ctx, def, [id]);
    return out;
  }

  async delete(ctx: RequestContext, collection: string, id: string, ifMatch?: number): Promise<void> {
    await this.uow.run((w) => this.within(w).delete(ctx, collection, id, ifMatch));
  }

  /**
   * Neutron operations inside another service's unit of work, for callers that must change ports
   * and their own rows together (Nova's server build and delete, Octavia's VIP port): all of it
   * commits or none of it does, with quota, validation and policy as for the API.
   */
  within(w: Work): NetworkOps {
    return {
      create: async (ctx, collection, body) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.create) throw methodNotAllowed();
        const prepared = unwrapBody(def, body, true).map((item) => prepareCreate(def, ctx, item));
        const ids: string[] = [];
        for (const p of prepared) {
          const project = p.values.project_id as string;
          if (ops.quota) await checkQuota(w.trx, project, ops.quota);
          const id = await ops.create!(w, ctx, p);
          w.changed(def.name, id, project, 'create');
          ids.push(id);
        }
        return ids;
      },
      update: async (ctx, collection, id, body, ifMatch) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.update) throw methodNotAllowed();
        const [item] = unwrapBody(def, body, false);
        const p = prepareUpdate(def, ctx, item);
        const row = await getRowForUpdate(w, def, ctx, id);
        assertOwner(def, ctx, row, 'update');
        checkRevision(ifMatch, row);
        await ops.update(w, ctx, row, p);
        w.changed(def.name, id, row.project_id, 'update');
      },
      delete: async (ctx, collection, id, ifMatch) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.delete) throw methodNotAllowed();
        const row = await getRowForUpdate(w, def, ctx, id);
        assertOwner(def, ctx, row, 'delete');
        checkRevision(ifMatch, row);
        await ops.delete(w, ctx, row);
        await deleteTags(w.trx, def, id);
        w.changed(def.name, id, row.project_id, 'delete');
      },
    };
  }

  async action(ctx: RequestContext, collection: string, id: string, action: string, body: unknown): Promise<unknown> {
    const ops = this.mustGet(collection);
    const fn = ops.actions?.get(action);
    if (!fn) throw notFound('HTTPNotFound', 'The resource could not be found.');
    return this.uow.run(async (w) => {
      const row = await getRowForUpdate(w, ops.def, ctx, id);
      assertOwner(ops.def, ctx, row, 'update');
      const out = await fn(w, ctx, row, body);
      w.changed(ops.def.name, id, row.project_id, 'update');
      return out;
    });
  }

  /**
   * Data-plane status write-back (port ACTIVE/DOWN, floating IP ACTIVE …). Bumps the revision as
   * Neutron does when an agent reports status; a vanished row is not an error (deleted meanwhile).
   */
  async setStatus(resource: NetworkKind, id: string, status: string): Promise<boolean> {
    const table = STATUS_TABLES.get(resource);
    if (!table) throw new Error(`${resource} has no status`);
    return this.uow.run(async (w) => {
      const projectId = await writeStatus(w.trx, table, id, status);
      if (projectId !== undefined) w.changed(resource, id, projectId, 'status');
      return projectId !== undefined;
    });
  }

  // ------------------------------------------------------------ tags (standard-attr-tag)

  async tags(ctx: RequestContext, collection: string, id: string): Promise<string[]> {
    const def = this.taggable(collection);
    await getRow(this.store.db, def, ctx, id);
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
    return (await this.tags(ctx, collection, id)).includes(tag);
  }

  async replaceTags(ctx: RequestContext, collection: string, id: string, body: unknown): Promise<string[]> {
    const def = this.taggable(collection);
    const tags = (body as { tags?: unknown } | undefined)?.tags;
    const reason = uniqueStrings(MAX_TAG_LEN)(tags);
    if (reason) throw httpBadRequest(`Invalid input for tags. Reason: ${reason}.`);
    const list = tags as string[];
    if (list.length > MAX_TAGS) throw httpBadRequest(`Invalid input for tags. Reason: The number of tags exceeds the limit ${MAX_TAGS}.`);
    await this.uow.run(async (w) => {
      const { trx } = w;
      await this.ownedForTags(w, ctx, def, id);
      await trx.deleteFrom('tags').where('resource_type', '=', def.name).where('resource_id', '=', id).execute();
      for (const t of list) await trx.insertInto('tags').values({ resource_type: def.name, resource_id: id, tag: t }).execute();
      await bumpRevision(trx, def.table, id);
    });
    return [...list].sort();
  }

  async addTag(ctx: RequestContext, collection: string, id: string, tag: string): Promise<void> {
    const def = this.taggable(collection);
    const reason = uniqueStrings(MAX_TAG_LEN)([tag]);
    if (reason || tag === '') throw httpBadRequest(`Invalid input for tag. Reason: ${reason ?? "'' Blank strings are not permitted"}.`);
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
      if (Number(n?.n ?? 0) >= MAX_TAGS) throw httpBadRequest(`Invalid input for tags. Reason: The number of tags exceeds the limit ${MAX_TAGS}.`);
      await trx.insertInto('tags').values({ resource_type: def.name, resource_id: id, tag }).execute();
      await bumpRevision(trx, def.table, id);
    });
  }

  async deleteTag(ctx: RequestContext, collection: string, id: string, tag?: string): Promise<void> {
    const def = this.taggable(collection);
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
    });
  }

  /** The object whose tags change, locked, after the owner check; its change is recorded. */
  private async ownedForTags(w: Work, ctx: RequestContext, def: ResourceDef<TaggedTable>, id: string): Promise<RowOf<TaggedTable>> {
    const row = await getRowForUpdate(w, def, ctx, id);
    assertOwner(def, ctx, row, 'update');
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

  async renderIds<T extends ResourceTable, C extends object>(ctx: RequestContext, def: ResourceDef<T, C>, ids: string[]): Promise<Record<string, unknown>[]> {
    if (ids.length === 0) return [];
    const rows = await rowsById(this.store.db, def, ids);
    const order = new Map(ids.map((id, i) => [id, i]));
    rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    // The caller just made or changed these: render them with its own rights.
    return renderRows(this.store.db, def, ctx, rows);
  }

  private mustGet(collection: string): ResourceOps {
    const ops = this.byCollection.get(collection);
    if (!ops) throw notFound('HTTPNotFound', 'The resource could not be found.');
    return ops;
  }
}
