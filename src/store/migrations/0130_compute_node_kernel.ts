import type { Kysely } from 'kysely';

/**
 * Issue 18, live migration between hosts that share one kernel (the lab's simulated hosts): each
 * compute node says which kernel its instances run on (/proc/sys/kernel/random/boot_id) and where
 * its instance host keeps them (its data-plane prefix and data directory), so a live migration
 * between two hosts on the same kernel hands the running machine over instead of restarting it.
 * Null: the host runs no machines (the noop data plane, an API-only server).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('compute_nodes').addColumn('boot_id', 'varchar(64)').execute();
  await db.schema.alterTable('compute_nodes').addColumn('instance_prefix', 'varchar(8)').execute();
  await db.schema.alterTable('compute_nodes').addColumn('instance_dir', 'text').execute();
}
