import type { Kysely } from 'kysely';

/** Subnet pools (Neutron's subnet_allocation): prefixes subnets are carved from. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('subnetpools')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('ip_version', 'integer', (c) => c.notNull())
    .addColumn('default_prefixlen', 'integer', (c) => c.notNull())
    .addColumn('min_prefixlen', 'integer', (c) => c.notNull())
    .addColumn('max_prefixlen', 'integer', (c) => c.notNull())
    .addColumn('default_quota', 'integer')
    .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('shared', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('address_scope_id', 'varchar(36)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('subnetpools_project').on('subnetpools').columns(['project_id']).execute();

  await db.schema
    .createTable('subnetpool_prefixes')
    .addColumn('subnetpool_id', 'varchar(36)', (c) => c.notNull().references('subnetpools.id').onDelete('cascade'))
    .addColumn('cidr', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('subnetpool_prefixes_pk', ['subnetpool_id', 'cidr'])
    .execute();

  await db.schema.createIndex('subnets_subnetpool').on('subnets').columns(['subnetpool_id']).execute();
}
