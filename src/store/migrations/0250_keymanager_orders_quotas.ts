import type { Kysely } from 'kysely';

/**
 * The rest of Barbican's v1 resources on the key manager: orders (a request for Barbican to
 * generate a key or a key pair; its `meta` is the request as validated, JSON), project quotas
 * (null: the default), secrets' user metadata and secret consumers (API microversion 1.1). A
 * container consumer now records the project that registered it, as Barbican's
 * container_consumer_metadata.project_id does: the `consumers` quota counts a project's own and
 * its deletion is allowed to that project or the container's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('km_orders')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('creator_id', 'varchar(255)')
    .addColumn('type', 'varchar(16)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('meta', 'text', (c) => c.notNull())
    .addColumn('secret_id', 'varchar(36)')
    .addColumn('container_id', 'varchar(36)')
    .addColumn('error_status_code', 'varchar(16)')
    .addColumn('error_reason', 'varchar(255)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('km_orders_project').on('km_orders').columns(['project_id', 'created_at']).execute();

  await db.schema
    .createTable('km_project_quotas')
    .addColumn('project_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('secrets', 'integer')
    .addColumn('orders', 'integer')
    .addColumn('containers', 'integer')
    .addColumn('consumers', 'integer')
    .addColumn('cas', 'integer')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('km_secret_metadata')
    .addColumn('secret_id', 'varchar(36)', (c) => c.notNull().references('km_secrets.id'))
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('km_secret_metadata_pk', ['secret_id', 'key'])
    .execute();

  await db.schema
    .createTable('km_secret_consumers')
    .addColumn('secret_id', 'varchar(36)', (c) => c.notNull().references('km_secrets.id'))
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('service', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource_type', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('km_secret_consumers_pk', ['secret_id', 'service', 'resource_type', 'resource_id'])
    .execute();
  await db.schema.createIndex('km_secret_consumers_project').on('km_secret_consumers').columns(['project_id']).execute();

  await db.schema.alterTable('km_container_consumers').addColumn('project_id', 'varchar(255)').execute();
}
