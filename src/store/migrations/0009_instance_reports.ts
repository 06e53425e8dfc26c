import type { Kysely } from 'kysely';

/**
 * What an instance host last reported about a server beside its power state: the reboot request
 * it carried out. The compute manager completes a reboot when this reaches `reboot_seq`, from
 * the store, so a restart of either side loses nothing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('servers')
    .addColumn('reboot_done_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
