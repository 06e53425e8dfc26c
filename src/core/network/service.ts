import { EventEmitter } from 'node:events';
import type { Store, Tx } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { DomainError, httpBadRequest, notFound } from '../errors.js';
import { uniqueStrings } from './attributes.js';
import type { ChangeEvent, ResourceOps } from './registry.js';
import {
  type ListOptions,
  type ResourceDef,
  type Row,
  assertOwner,
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
  unwrapBody,
  bumpRevision,
} from './resource.js';
import { checkQuota } from './quotas.js';
import { isoSeconds } from '../../util/time.js';

export const MAX_TAG_LEN = 255;
export const MAX_TAGS = 50;

/** Neutron operations inside one caller-owned transaction (see NetworkService.batch). */
export interface NetworkBatch {
  readonly trx: Tx;
  /** Create one object (or a bulk body); returns the new ids. */
  create(ctx: RequestContext, collection: string, body: unknown): Promise<string[]>;
  update(ctx: RequestContext, collection: string, id: string, body: unknown, ifMatch?: number): Promise<void>;
  delete(ctx: RequestContext, collection: string, id: string, ifMatch?: number): Promise<void>;
}

export interface ListResult {
  items: Record<string, unknown>[];
  links?: Array<{ rel: string; href: string }>;
}

/**
 * The Neutron API as operations on the store, independent of HTTP. Every write runs in one
 * transaction: a refused or failed request leaves nothing behind. Changes are announced on
 * `events` after commit so the data plane (or anything else) can react.
 */
export class NetworkService {
  readonly events = new EventEmitter();
  private readonly byCollection = new Map<string, ResourceOps>();

  constructor(readonly store: Store) {
    this.events.setMaxListeners(50);
  }

  register(ops: ResourceOps): void {
    this.byCollection.set(ops.def.path ?? ops.def.collection, ops);
  }

  /** The resource served at URL segment `path` (`networks`, `security-groups` …). */
  resource(path: string): ResourceOps | undefined {
    return this.byCollection.get(path);
  }

  get collections(): string[] {
    return [...this.byCollection.keys()];
  }

  private emit(e: ChangeEvent): void {
    this.events.emit('change', e);
  }

  /** Announce changes made inside another service's transaction, after it committed. */
  announce(events: ChangeEvent[]): void {
    for (const e of events) this.emit(e);
  }

  /**
   * Create one object inside the caller's transaction, for services whose own writes include
   * Neutron objects (Octavia's VIP port). Quota and validation as for POST; call `announce`
   * with the returned event after commit.
   */
  async createInTx(trx: Tx, ctx: RequestContext, collection: string, item: Record<string, unknown>): Promise<{ id: string; event: ChangeEvent }> {
    const ops = this.mustGet(collection);
    if (!ops.create) throw new Error(`${collection} cannot be created`);
    const p = prepareCreate(ops.def, ctx, item);
    if (ops.quota) await checkQuota(trx, p.values.project_id as string, ops.quota);
    const id = await ops.create(trx, ctx, p);
    return { id, event: { resource: ops.def.name, id, op: 'create' } };
  }

  /** Delete one object inside the caller's transaction (see createInTx). */
  async deleteInTx(trx: Tx, ctx: RequestContext, collection: string, id: string): Promise<ChangeEvent> {
    const ops = this.mustGet(collection);
    if (!ops.delete) throw new Error(`${collection} cannot be deleted`);
    const row = await getRowForUpdate(trx, ops.def, ctx, id, this.store.dialect === 'postgres');
    await ops.delete(trx, ctx, row);
    await deleteTags(trx, ops.def, id);
    return { resource: ops.def.name, id, op: 'delete' };
  }

  async list(ctx: RequestContext, collection: string, query: Map<string, string[]>, url?: URL): Promise<ListResult> {
    const ops = this.mustGet(collection);
    const opts = parseListOptions(ops.def, query);
    if (ops.beforeList) await ops.beforeList(ctx, opts.filters);
    return this.listWith(ctx, ops.def, opts, url);
  }

  async listWith(ctx: RequestContext, def: ResourceDef, opts: ListOptions, url?: URL): Promise<ListResult> {
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
    const { out: ids, announce } = await this.runBatch((b) => b.create(ctx, collection, body));
    // Render before announcing: the answer shows what this request committed, not what a data
    // plane reacting to the announcement may already have changed.
    const items = await this.renderIds(ctx, def, ids);
    announce();
    return { bulk, items };
  }

  async update(ctx: RequestContext, collection: string, id: string, body: unknown, ifMatch?: number): Promise<Record<string, unknown>> {
    const def = this.mustGet(collection).def;
    const { announce } = await this.runBatch((b) => b.update(ctx, collection, id, body, ifMatch));
    const [out] = await this.renderIds(ctx, def, [id]);
    announce();
    return out;
  }

  async delete(ctx: RequestContext, collection: string, id: string, ifMatch?: number): Promise<void> {
    await this.batch((b) => b.delete(ctx, collection, id, ifMatch));
  }

  /**
   * Several Neutron operations in ONE transaction, for callers that must change ports and their
   * own rows together (Nova's server build and delete): all of it commits or none of it does.
   * Change events are announced after the commit.
   */
  async batch<T>(fn: (b: NetworkBatch) => Promise<T>): Promise<T> {
    const { out, announce } = await this.runBatch(fn);
    announce();
    return out;
  }

  /** The batch's transaction; its change events are announced when the caller says so. */
  private async runBatch<T>(fn: (b: NetworkBatch) => Promise<T>): Promise<{ out: T; announce: () => void }> {
    const events: ChangeEvent[] = [];
    const out = await this.store.tx(async (trx) => {
      events.length = 0; // a retried transaction starts over
      return fn(this.batchOn(trx, events));
    });
    return { out, announce: () => events.forEach((e) => this.emit(e)) };
  }

  private batchOn(trx: Tx, events: ChangeEvent[]): NetworkBatch {
    const lock = this.store.dialect === 'postgres';
    const notAllowed = () =>
      new DomainError(
        'method_not_allowed',
        'HTTPMethodNotAllowed',
        'The server could not comply with the request since it is either malformed or otherwise incorrect.',
      );
    return {
      trx,
      create: async (ctx, collection, body) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.create) throw notAllowed();
        const prepared = unwrapBody(def, body, true).map((item) => prepareCreate(def, ctx, item));
        const ids: string[] = [];
        for (const p of prepared) {
          if (ops.quota) await checkQuota(trx, p.values.project_id as string, ops.quota);
          ids.push(await ops.create(trx, ctx, p));
        }
        for (const id of ids) events.push({ resource: def.name, id, op: 'create' });
        return ids;
      },
      update: async (ctx, collection, id, body, ifMatch) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.update) throw notAllowed();
        const [item] = unwrapBody(def, body, false);
        const p = prepareUpdate(def, ctx, item);
        const row = await getRowForUpdate(trx, def, ctx, id, lock);
        assertOwner(def, ctx, row, 'update');
        checkRevision(ifMatch, row);
        await ops.update(trx, ctx, row, p);
        events.push({ resource: def.name, id, op: 'update' });
      },
      delete: async (ctx, collection, id, ifMatch) => {
        const ops = this.mustGet(collection);
        const def = ops.def;
        if (!ops.delete) throw notAllowed();
        const row = await getRowForUpdate(trx, def, ctx, id, lock);
        assertOwner(def, ctx, row, 'delete');
        checkRevision(ifMatch, row);
        await ops.delete(trx, ctx, row);
        await deleteTags(trx, def, id);
        events.push({ resource: def.name, id, op: 'delete' });
      },
    };
  }

  async action(ctx: RequestContext, collection: string, id: string, action: string, body: unknown): Promise<unknown> {
    const ops = this.mustGet(collection);
    const fn = ops.actions?.[action];
    if (!fn) throw notFound('HTTPNotFound', 'The resource could not be found.');
    const result = await this.store.tx(async (trx) => {
      const row = await getRowForUpdate(trx, ops.def, ctx, id, this.store.dialect === 'postgres');
      assertOwner(ops.def, ctx, row, 'update');
      return fn(trx, ctx, row, body);
    });
    this.emit({ resource: ops.def.name, id, op: 'action' });
    return result;
  }

  /**
   * Data-plane status write-back (port ACTIVE/DOWN, floating IP ACTIVE …). Bumps the revision as
   * Neutron does when an agent reports status; a vanished row is not an error (deleted meanwhile).
   */
  async setStatus(resource: string, id: string, status: string): Promise<boolean> {
    const ops = [...this.byCollection.values()].find((o) => o.def.name === resource);
    if (!ops) throw new Error(`unknown resource ${resource}`);
    const table = ops.def.table;
    const changed = await this.store.tx(async (trx) => {
      const q = trx as unknown as import('kysely').Kysely<Record<string, Row>>;
      const res = await q
        .updateTable(table)
        .set((eb: import('./resource.js').Eb) => ({ status, revision_number: eb('revision_number', '+', 1), updated_at: isoSeconds() }))
        .where('id', '=', id)
        .where('status', '!=', status)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    });
    if (changed) this.emit({ resource, id, op: 'status' });
    return changed;
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
    await this.store.tx(async (trx) => {
      await this.ownedForTags(trx, ctx, def, id);
      await trx.deleteFrom('tags').where('resource_type', '=', def.name).where('resource_id', '=', id).execute();
      for (const t of list) await trx.insertInto('tags').values({ resource_type: def.name, resource_id: id, tag: t }).execute();
      await bumpRevision(trx, def.table, id);
    });
    this.emit({ resource: def.name, id, op: 'update' });
    return [...list].sort();
  }

  async addTag(ctx: RequestContext, collection: string, id: string, tag: string): Promise<void> {
    const def = this.taggable(collection);
    const reason = uniqueStrings(MAX_TAG_LEN)([tag]);
    if (reason || tag === '') throw httpBadRequest(`Invalid input for tag. Reason: ${reason ?? "'' Blank strings are not permitted"}.`);
    await this.store.tx(async (trx) => {
      await this.ownedForTags(trx, ctx, def, id);
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
    this.emit({ resource: def.name, id, op: 'update' });
  }

  async deleteTag(ctx: RequestContext, collection: string, id: string, tag?: string): Promise<void> {
    const def = this.taggable(collection);
    await this.store.tx(async (trx) => {
      await this.ownedForTags(trx, ctx, def, id);
      let q = trx.deleteFrom('tags').where('resource_type', '=', def.name).where('resource_id', '=', id);
      if (tag !== undefined) q = q.where('tag', '=', tag);
      const res = await q.executeTakeFirst();
      if (tag !== undefined && Number(res.numDeletedRows) === 0) {
        throw notFound('TagNotFound', `Tag ${tag} could not be found.`);
      }
      await bumpRevision(trx, def.table, id);
    });
    this.emit({ resource: def.name, id, op: 'update' });
  }

  private async ownedForTags(trx: Tx, ctx: RequestContext, def: ResourceDef, id: string): Promise<Row> {
    const row = await getRowForUpdate(trx, def, ctx, id, this.store.dialect === 'postgres');
    assertOwner(def, ctx, row, 'update');
    return row;
  }

  private taggable(collection: string): ResourceDef {
    const ops = this.byCollection.get(collection);
    if (!ops?.def.taggable) throw notFound('HTTPNotFound', 'The resource could not be found.');
    return ops.def;
  }

  // ------------------------------------------------------------ helpers

  async renderIds(ctx: RequestContext, def: ResourceDef, ids: string[]): Promise<Record<string, unknown>[]> {
    if (ids.length === 0) return [];
    const rows = (await (this.store.db as unknown as import('kysely').Kysely<Record<string, Row>>)
      .selectFrom(def.table)
      .selectAll()
      .where('id', 'in', ids)
      .execute()) as Row[];
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
