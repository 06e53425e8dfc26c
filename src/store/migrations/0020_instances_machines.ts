import type { Kysely } from 'kysely';

/**
 * Instances as machines: `servers.rebuild_seq`, bumped by a rebuild; an instance host that booted
 * an older value starts the server from a fresh root file system (its image, without the old
 * writes). (What the guest posts to the metadata service's `password` is kept where Nova keeps it,
 * in the system metadata of migration 0010.)
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('servers')
    .addColumn('rebuild_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
