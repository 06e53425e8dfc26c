/**
 * Nova's metadata API as the guest sees it, without HTTP: a request that reached a metadata
 * proxy (a router's or a network's DHCP namespace) is answered for the instance the proxy's
 * network and the request's source address identify — never for anything the instance sends
 * (no header of its own counts). Also what an instance host writes for a server at boot: its
 * network_data.json and its config drive.
 */
import { type Store, fromJson } from '../../../store/db.js';
import type { UnitOfWork } from '../../work.js';
import { PASSWORD_MAX, configDriveFiles, lookup, networkData, pyJson } from './documents.js';
import { passwordChunks, storedPassword } from '../serverpassword.js';
import { type MetadataVia, findInstance, loadGuest } from './source.js';

export type MetadataReply = { status: 200; contentType: string; body: Buffer } | { status: 400 | 404 | 409 | 500 };

/** The files an instance host shows a server at boot (see InstanceRunner / GuestFiles). */
export interface BootFiles {
  networkData: string;
  configDrive: Map<string, Buffer> | null;
}

export class GuestMetadata {
  constructor(private readonly uow: UnitOfWork) {}

  private get store(): Store {
    return this.uow.store;
  }

  /**
   * One metadata request: `via` is where the proxy runs, `address` the request's source. GET
   * anything; POST only `password` (once, as Nova's handle_password).
   */
  async answer(via: MetadataVia, address: string, method: string, path: string, body: Buffer): Promise<MetadataReply> {
    const found = await findInstance(this.store.db, via, address);
    if (!found) return { status: 404 };
    const g = await loadGuest(this.store.db, found.serverId, address);
    if (!g) return { status: 404 };
    const a = lookup(g, path);
    if (a === null) return { status: 404 };
    if ('password' in a) {
      if (method === 'GET') return { status: 200, contentType: 'text/plain', body: Buffer.from(g.password ?? '') };
      if (method !== 'POST') return { status: 400 };
      if (g.password) return { status: 409 };
      if (body.length > PASSWORD_MAX) return { status: 400 };
      // Nova's handle_password: once (409 when one is set), kept in the system metadata's chunks.
      const stored = await this.uow.run(async (w) => {
        const row = await w.forUpdate(w.trx.selectFrom('servers').select(['system_metadata']).where('id', '=', g.uuid)).executeTakeFirst();
        if (!row || storedPassword(row.system_metadata)) return false;
        const sys = { ...fromJson<Record<string, string>>(row.system_metadata, {}), ...passwordChunks(body.toString('utf8')) };
        await w.trx
          .updateTable('servers')
          .set({ system_metadata: JSON.stringify(sys), updated_at: new Date().toISOString() })
          .where('id', '=', g.uuid)
          .execute();
        w.changed('server', g.uuid, g.projectId, 'update');
        return true;
      });
      return stored ? { status: 200, contentType: 'text/plain', body: Buffer.alloc(0) } : { status: 409 };
    }
    if (method !== 'GET' && method !== 'HEAD') return { status: 400 };
    return { status: 200, ...a };
  }

  /** What server `id` is shown at boot: network_data.json, and its config drive when it asked for one. */
  async bootFiles(id: string, configDrive: boolean): Promise<BootFiles | null> {
    const g = await loadGuest(this.store.db, id);
    if (!g) return null;
    return { networkData: pyJson(networkData(g)), configDrive: configDrive ? configDriveFiles(g) : null };
  }
}
