/**
 * os-server-password: the encrypted password a guest posts to the metadata service's `password`
 * (kept in the instance's system metadata, password_0 … password_3, as Nova's
 * password.convert_password does). Empty until the guest posts one (machines on the netns data
 * plane reach the metadata service; elsewhere nothing does).
 */
import { fromJson } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { type ComputeCore, now } from './core.js';
import { withSystemMetadata } from './tasks.js';

const CHUNKS = ['password_0', 'password_1', 'password_2', 'password_3'];
/** Nova's chunk size (system metadata values are at most 255 characters). */
const CHUNK = 255;

/** The password kept in a server's system metadata ('' when there is none). */
export function storedPassword(systemMetadata: string): string {
  const sys = fromJson<Record<string, string>>(systemMetadata, {});
  return CHUNKS.map((k) => (Object.hasOwn(sys, k) ? sys[k] : '')).join('');
}

/** Nova's convert_password: the password as system metadata chunks (the unused ones empty). */
export function passwordChunks(password: string): Record<string, string> {
  return Object.fromEntries(CHUNKS.map((k, i) => [k, password.slice(i * CHUNK, (i + 1) * CHUNK)]));
}

export class ServerPasswords {
  constructor(private readonly core: ComputeCore) {}

  async show(ctx: RequestContext, id: string): Promise<string> {
    const row = await this.core.row(ctx, id);
    return storedPassword(row.system_metadata);
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
    }, ctx);
  }
}
