/**
 * os-server-password: the encrypted password a guest posts to the metadata service (kept in the
 * instance's system metadata, password_0 … password_3). Instances here have no metadata service
 * client, so it is empty until someone sets one — exactly what Nova shows for such a guest.
 */
import { fromJson } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { type ComputeCore, now } from './core.js';
import { withSystemMetadata } from './tasks.js';

const CHUNKS = ['password_0', 'password_1', 'password_2', 'password_3'];

export class ServerPasswords {
  constructor(private readonly core: ComputeCore) {}

  async show(ctx: RequestContext, id: string): Promise<string> {
    const row = await this.core.row(ctx, id);
    const sys = fromJson<Record<string, string>>(row.system_metadata, {});
    return CHUNKS.map((k) => (Object.hasOwn(sys, k) ? sys[k] : '')).join('');
  }

  /** DELETE: the password is forgotten (the chunks emptied). */
  async clear(ctx: RequestContext, id: string): Promise<void> {
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      const set = Object.fromEntries(CHUNKS.map((k) => [k, null]));
      await w.trx
        .updateTable('servers')
        .set({ system_metadata: withSystemMetadata(row, set), updated_at: now() })
        .where('id', '=', id)
        .execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }
}
