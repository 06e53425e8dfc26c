import type { Kysely } from 'kysely';

/**
 * Issue 18, rescheduling a failed build and the BuildFailureWeigher: each compute node's count of
 * consecutive failed builds (Nova keeps it as `failed_builds` in the compute node's stats, reset
 * by a successful build), and a building server's retry state — Nova's filter_properties['retry']
 * (num_attempts, the hosts tried, the last failure's reason) with the alternate hosts the
 * scheduler returned beside the selected one (the conductor's host_list), kept in the store so a
 * restart resumes a reschedule.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('compute_nodes')
    .addColumn('failed_builds', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('servers').addColumn('build_retry', 'text').execute();
}
