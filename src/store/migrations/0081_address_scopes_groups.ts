import type { Kysely } from 'kysely';

/**
 * Address scopes (Neutron's `address-scope`: a subnet pool's `address_scope_id` already has its
 * column) and address groups (`address-group`: sets of CIDRs that security group rules name as
 * their remote).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('address_scopes')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('ip_version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('address_scopes_project').on('address_scopes').columns(['project_id']).execute();
  await db.schema.createIndex('subnetpools_address_scope').on('subnetpools').columns(['address_scope_id']).execute();
  await db.schema
    .createTable('address_groups')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(1024)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('address_groups_project').on('address_groups').columns(['project_id']).execute();
  await db.schema
    .createTable('address_group_addresses')
    .addColumn('address_group_id', 'varchar(36)', (c) => c.notNull().references('address_groups.id').onDelete('cascade'))
    .addColumn('address', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('address_group_addresses_pk', ['address_group_id', 'address'])
    .execute();
  await db.schema.createIndex('security_group_rules_address_group').on('security_group_rules').columns(['remote_address_group_id']).execute();
}
