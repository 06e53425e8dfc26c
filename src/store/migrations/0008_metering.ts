import type { Kysely } from 'kysely';

/** Metering labels and their rules (Neutron's `metering`). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('metering_labels')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(1024)', (c) => c.notNull().defaultTo(''))
    .addColumn('shared', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('metering_labels_project').on('metering_labels').columns(['project_id']).execute();
  await db.schema
    .createTable('metering_label_rules')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    // The label's project: rules are read and filtered with their label's visibility.
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('metering_label_id', 'varchar(36)', (c) => c.notNull().references('metering_labels.id').onDelete('cascade'))
    .addColumn('direction', 'varchar(16)', (c) => c.notNull())
    .addColumn('remote_ip_prefix', 'varchar(64)')
    .addColumn('excluded', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('metering_label_rules_label').on('metering_label_rules').columns(['metering_label_id']).execute();
}
