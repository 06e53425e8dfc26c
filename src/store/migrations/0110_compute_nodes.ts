import type { Kysely } from 'kysely';

/**
 * Issue 18, several hosts: the compute node of each nova-compute host (Nova's compute_nodes), with
 * the capacity its host reports (the resource tracker's vcpus, memory_mb and local_gb), so the API
 * servers and the scheduler read every host's own size instead of their own machine's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('compute_nodes')
    .addColumn('host', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('local_gb', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
}
