import type { Kysely } from 'kysely';

/** Auto-allocated topologies (Neutron's `auto-allocated-topology`): one network and router per project. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('auto_allocated_topologies')
    .addColumn('project_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('router_id', 'varchar(36)')
    .execute();
}
