import type { Kysely } from 'kysely';

/**
 * Trunks (Neutron's `trunk` service plugin): a parent port and its subports, each a port of its
 * own with a segmentation (type, id) unique on its trunk. A port is the parent of at most one
 * trunk and the subport of at most one; ports in a trunk cannot be deleted (checked first, as
 * Neutron's PortInUseAsTrunkParent / PortInUseAsSubPort; the foreign keys are the backstop).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('trunks')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('admin_state_up', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('port_id', 'varchar(36)', (c) => c.notNull().unique().references('ports.id'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('trunks_project').on('trunks').columns(['project_id']).execute();

  await db.schema
    .createTable('trunk_subports')
    .addColumn('port_id', 'varchar(36)', (c) => c.primaryKey().references('ports.id'))
    .addColumn('trunk_id', 'varchar(36)', (c) => c.notNull().references('trunks.id').onDelete('cascade'))
    .addColumn('segmentation_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('segmentation_id', 'integer', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addUniqueConstraint('trunk_subports_segmentation', ['trunk_id', 'segmentation_type', 'segmentation_id'])
    .execute();
}
