/** Server metadata: the key/value pairs users keep on a server (counted against metadata_items). */
import { fromJson } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { type ComputeCore, now } from './core.js';
import { novaForbidden, novaNotFound } from './errors.js';
import { computeQuotaLimits } from './quotas.js';

export class ServerMetadata {
  constructor(private readonly core: ComputeCore) {}

  async get(ctx: RequestContext, id: string): Promise<Record<string, string>> {
    return fromJson((await this.core.row(ctx, id)).metadata, {});
  }

  /** One item, or Nova's 404. */
  async item(ctx: RequestContext, id: string, key: string): Promise<string> {
    const md = await this.get(ctx, id);
    if (!Object.hasOwn(md, key)) throw novaNotFound('Metadata item was not found');
    return md[key];
  }

  /** Replace (PUT) or merge (POST) metadata, or set one key (a merge of one). */
  async set(ctx: RequestContext, id: string, items: Record<string, string>, replace: boolean): Promise<Record<string, string>> {
    return this.core.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.core.row(ctx, id, w);
      this.core.checkLocked(ctx, row);
      const merged = replace ? { ...items } : { ...fromJson<Record<string, string>>(row.metadata, {}), ...items };
      const limits = await computeQuotaLimits(trx, row.project_id);
      if (limits.metadata_items >= 0 && Object.keys(merged).length > limits.metadata_items) {
        throw novaForbidden(
          `Quota exceeded for metadata_items: Requested ${Object.keys(merged).length}, but already used 0 of ${limits.metadata_items} metadata_items`,
        );
      }
      await trx
        .updateTable('servers')
        .set({ metadata: JSON.stringify(merged), updated_at: now() })
        .where('id', '=', id)
        .execute();
      w.changed('server', id, row.project_id, 'update');
      return merged;
    }, ctx);
  }

  async delete(ctx: RequestContext, id: string, key: string): Promise<void> {
    await this.core.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.core.row(ctx, id, w);
      this.core.checkLocked(ctx, row);
      const md = fromJson<Record<string, string>>(row.metadata, {});
      if (!Object.hasOwn(md, key)) throw novaNotFound('Metadata item was not found');
      delete md[key];
      await trx
        .updateTable('servers')
        .set({ metadata: JSON.stringify(md), updated_at: now() })
        .where('id', '=', id)
        .execute();
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }
}
