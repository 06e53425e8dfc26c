import type { Kysely } from 'kysely';

/**
 * Issue 17, server create at 5,000 servers within 1.2× of an empty cloud. Three reads each create
 * makes scanned every server's row, so a create's cost grew with the cloud:
 *   - the compute manager's work list (`vm_state = building OR task_state IN (…)`): servers_state
 *     leads with vm_state, so the task states' half scanned the table; an index on task_state lets
 *     both halves be index lookups;
 *   - Placement's usage per host and flavor, and the quota count per project and flavor: indexes
 *     that hold every column those aggregates read, so each is a walk of a narrow index instead
 *     of every server row (the flavor is a JSON text; Nova keeps vcpus and memory_mb as columns
 *     of instances for the same sums).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('servers_task_state').on('servers').column('task_state').execute();
  await db.schema.createIndex('servers_host_usage').on('servers').columns(['host', 'flavor', 'vm_state', 'task_state']).execute();
  await db.schema.createIndex('servers_project_usage').on('servers').columns(['project_id', 'flavor', 'old_flavor', 'new_flavor']).execute();
}
