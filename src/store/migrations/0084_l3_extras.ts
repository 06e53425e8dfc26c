import type { CreateTableBuilder, Kysely } from 'kysely';

/** Standard attributes (description, revision, timestamps) of the tables below. */
function std<T extends string>(t: CreateTableBuilder<T, never>) {
  return t
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0));
}

/**
 * The rest of what DevStack's Neutron serves: a router's NDP proxy state and flavor, NDP proxies
 * (`l3-ndp-proxy`), conntrack helpers (`l3-conntrack-helper`), local IPs and their port
 * associations (`local_ip`), security group logs (`logging`) and the flavors framework
 * (`flavors`: flavors, service profiles and their bindings).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('routers')
    .addColumn('enable_ndp_proxy', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('routers').addColumn('flavor_id', 'varchar(36)').execute();

  await std(db.schema.createTable('ndp_proxies'))
    .addColumn('router_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('port_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('ip_address', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ndp_proxies_router').on('ndp_proxies').columns(['router_id']).execute();

  await db.schema
    .createTable('conntrack_helpers')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('router_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('protocol', 'varchar(40)', (c) => c.notNull())
    .addColumn('port', 'integer', (c) => c.notNull())
    .addColumn('helper', 'varchar(64)', (c) => c.notNull())
    .addUniqueConstraint('conntrack_helpers_unique', ['router_id', 'protocol', 'port', 'helper'])
    .execute();

  await std(db.schema.createTable('local_ips'))
    .addColumn('local_port_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('local_ip_address', 'varchar(64)', (c) => c.notNull())
    .addColumn('ip_mode', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('local_ip_associations')
    // The port's id: an association is found by its port under its local IP.
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('local_ip_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('fixed_ip', 'varchar(64)', (c) => c.notNull())
    .execute();

  await std(db.schema.createTable('logs'))
    .addColumn('resource_type', 'varchar(36)', (c) => c.notNull())
    .addColumn('resource_id', 'varchar(36)')
    .addColumn('target_id', 'varchar(36)')
    .addColumn('event', 'varchar(255)', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .execute();

  // Nova's flavors already have the name `flavors`.
  await db.schema
    .createTable('network_flavors')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(1024)', (c) => c.notNull().defaultTo(''))
    .addColumn('service_type', 'varchar(36)', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('service_profiles')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(1024)', (c) => c.notNull().defaultTo(''))
    .addColumn('driver', 'varchar(1024)', (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('metainfo', 'varchar(4096)', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .createTable('flavor_service_profiles')
    // The service profile's id, found under its flavor.
    .addColumn('id', 'varchar(36)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('flavor_id', 'varchar(36)', (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_service_profiles_pk', ['flavor_id', 'id'])
    .execute();
}
