/** Server tags (2.26): a set of strings per server, at most 50 (Nova's MAX_TAGS_PER_INSTANCE). */
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import { type ComputeCore, now } from './core.js';
import { novaBadRequest, novaNotFound } from './errors.js';

const MAX_TAGS = 50;

export class ServerTags {
  constructor(private readonly core: ComputeCore) {}

  async list(ctx: RequestContext, id: string): Promise<string[]> {
    await this.core.row(ctx, id);
    return (await this.core.store.db.selectFrom('server_tags').select('tag').where('server_id', '=', id).orderBy('tag').execute()).map((t) => t.tag);
  }

  /** One tag, or Nova's 404. */
  async get(ctx: RequestContext, id: string, tag: string): Promise<string> {
    if (!(await this.list(ctx, id)).includes(tag)) throw novaNotFound(`Tag ${tag} could not be found.`);
    return tag;
  }

  /** Replace every tag (an empty list removes them all); the tags after. */
  async replace(ctx: RequestContext, id: string, tags: string[]): Promise<string[]> {
    await this.change(ctx, id, async ({ trx }) => {
      await trx.deleteFrom('server_tags').where('server_id', '=', id).execute();
      for (const t of new Set(tags)) await trx.insertInto('server_tags').values({ server_id: id, tag: t }).execute();
    });
    return this.list(ctx, id);
  }

  /** Add one tag; whether it is new (201) rather than there already (204). */
  async add(ctx: RequestContext, id: string, tag: string): Promise<boolean> {
    return this.change(ctx, id, async ({ trx }) => {
      const has = await trx.selectFrom('server_tags').select('tag').where('server_id', '=', id).where('tag', '=', tag).executeTakeFirst();
      if (has) return false;
      const n = await trx
        .selectFrom('server_tags')
        .select(({ fn }) => fn.countAll<number>().as('n'))
        .where('server_id', '=', id)
        .executeTakeFirst();
      if (Number(n?.n ?? 0) >= MAX_TAGS) throw novaBadRequest(`The number of tags exceeded the per-server limit ${MAX_TAGS}`);
      await trx.insertInto('server_tags').values({ server_id: id, tag }).execute();
      return true;
    });
  }

  async remove(ctx: RequestContext, id: string, tag: string): Promise<void> {
    await this.change(ctx, id, async ({ trx }) => {
      const res = await trx.deleteFrom('server_tags').where('server_id', '=', id).where('tag', '=', tag).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw novaNotFound(`Tag ${tag} could not be found.`);
    });
  }

  /** A change to a server's tags: the server touched (updated_at) and announced, whatever changed. */
  private change<T>(ctx: RequestContext, id: string, fn: (w: Work) => Promise<T>): Promise<T> {
    return this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      const out = await fn(w);
      await w.trx.updateTable('servers').set({ updated_at: now() }).where('id', '=', row.id).execute();
      w.changed('server', id, row.project_id, 'update');
      return out;
    }, ctx);
  }
}
