import type { Kysely } from 'kysely';

/**
 * Instances as machines:
 * - `servers.rebuild_seq`: bumped by a rebuild; an instance host that booted an older value
 *   starts the server from a fresh root file system (its image, without the old writes).
 * - `server_passwords`: what the instance posted to the metadata service's `password` (Nova keeps
 *   it in system_metadata `password_0…3`; os-server-password reads and clears it).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('servers')
    .addColumn('rebuild_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('server_passwords')
    .addColumn('server_id', 'varchar(36)', (c) => c.primaryKey().references('servers.id').onDelete('cascade'))
    .addColumn('password', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
}
