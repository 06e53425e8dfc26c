/**
 * Image rows as every part of the image service reads and writes them: who may see an image
 * (Glance's is_image_visible), who may change it, an image loaded with its tags, extra properties
 * and locations, and the unit of work a change runs in (recording the `image` change).
 */
import type { Q, Tx } from '../../store/db.js';
import type { ImagesTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import { DomainError } from '../errors.js';
import type { ChangeOp, UnitOfWork, Work } from '../work.js';

/** Where an image's data lives, as Glance's API shows it (`metadata.store` names the store). */
export interface ImageLocation {
  url: string;
  metadata: Record<string, unknown>;
  status: string;
}

/** An image with its tags, extra properties and locations, as the API renders it. */
export interface Image extends Omit<ImagesTable, 'size' | 'virtual_size'> {
  size: number | null;
  virtual_size: number | null;
  tags: string[];
  properties: Record<string, string>;
  locations: ImageLocation[];
}

// Glance's exceptions, worded as Glance words them.
export const bad = (msg: string) => new DomainError('bad_request', 'HTTPBadRequest', msg);
export const forbidden = (msg: string) => new DomainError('forbidden', 'HTTPForbidden', msg);
export const conflict = (msg: string) => new DomainError('conflict', 'HTTPConflict', msg);
export const notFound = (msg = 'The resource could not be found.') => new DomainError('not_found', 'HTTPNotFound', msg);
export const imageNotFound = (id: string) => notFound(`No image found with ID ${id}`);

export const nowIso = () => new Date().toISOString();
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A JSON object read back from a text column; anything else (or nothing) is {}. */
export function jsonObject(text: string | null): Record<string, unknown> {
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export class ImageRecords {
  constructor(readonly uow: UnitOfWork) {}

  /** One unit of work changing image `id`; its change (with the owner) is published once committed. */
  write<T>(id: string, op: ChangeOp, fn: (trx: Tx, w: Work) => Promise<T>): Promise<T> {
    return this.uow.run(async (w) => {
      const before = await w.trx.selectFrom('images').select('owner').where('id', '=', id).executeTakeFirst();
      const out = await fn(w.trx, w);
      const after = op === 'delete' ? before : await w.trx.selectFrom('images').select('owner').where('id', '=', id).executeTakeFirst();
      if (before || after) w.changed('image', id, after?.owner ?? before?.owner ?? null, op);
      return out;
    });
  }

  /** Glance's is_image_visible: admins, owners, public/community, and members of shared images. */
  async visible(q: Q, ctx: RequestContext, row: ImagesTable): Promise<boolean> {
    if (ctx.isAdmin || row.owner === null) return true;
    if (row.visibility === 'public' || row.visibility === 'community') return true;
    if (ctx.projectId === null) return false;
    if (row.owner === ctx.projectId) return true;
    if (row.visibility !== 'shared') return false;
    const m = await q.selectFrom('image_members').select('member').where('image_id', '=', row.id).where('member', '=', ctx.projectId).executeTakeFirst();
    return m !== undefined;
  }

  async getRow(q: Q, ctx: RequestContext, id: string): Promise<ImagesTable> {
    const row = await q.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || !(await this.visible(q, ctx, row))) throw imageNotFound(id);
    return row;
  }

  /** Owner-or-admin for changes; a visible image the caller does not own is a 403, an invisible one a 404. */
  mustOwn(ctx: RequestContext, row: ImagesTable): void {
    if (ctx.isAdmin) return;
    if (row.owner === null || ctx.projectId === null || row.owner !== ctx.projectId) throw forbidden('You do not own this image');
  }

  async load(q: Q, rows: ImagesTable[]): Promise<Image[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const tags = await q.selectFrom('image_tags').select(['image_id', 'tag']).where('image_id', 'in', ids).orderBy('position').execute();
    const props = await q.selectFrom('image_properties').select(['image_id', 'name', 'value']).where('image_id', 'in', ids).orderBy('name').execute();
    const locs = await q.selectFrom('image_locations').selectAll().where('image_id', 'in', ids).orderBy('image_id').orderBy('position').execute();
    return rows.map((r) => ({
      ...r,
      size: num(r.size),
      virtual_size: num(r.virtual_size),
      tags: tags.filter((t) => t.image_id === r.id).map((t) => t.tag),
      properties: Object.fromEntries(props.filter((p) => p.image_id === r.id).map((p) => [p.name, p.value])),
      locations: locs.filter((l) => l.image_id === r.id).map((l) => ({ url: l.url, metadata: jsonObject(l.metadata), status: l.status })),
    }));
  }

  /** The image `id` loaded, whoever may see it (the system's own reads: tasks, recovery). */
  async find(q: Q, id: string): Promise<Image | undefined> {
    const row = await q.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? (await this.load(q, [row]))[0] : undefined;
  }

  /** Replace the image's locations with `locs`, in order. */
  async saveLocations(trx: Tx, id: string, locs: readonly ImageLocation[]): Promise<void> {
    await trx.deleteFrom('image_locations').where('image_id', '=', id).execute();
    let position = 0;
    for (const l of locs) {
      await trx
        .insertInto('image_locations')
        .values({ image_id: id, position: position++, url: l.url, metadata: JSON.stringify(l.metadata), status: l.status })
        .execute();
    }
  }

  /** Set (or, with `null`, remove) extra properties of image `id`. */
  async setProperties(trx: Tx, id: string, props: ReadonlyMap<string, string | null>): Promise<void> {
    for (const [name, value] of props) {
      await trx.deleteFrom('image_properties').where('image_id', '=', id).where('name', '=', name).execute();
      if (value !== null) await trx.insertInto('image_properties').values({ image_id: id, name, value }).execute();
    }
  }
}
