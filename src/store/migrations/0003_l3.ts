import type { Kysely } from 'kysely';

/** Routers, their ports and extra routes, and floating IPs (Neutron's L3 tables). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('routers')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    // The gateway port is a port like any other; the router points at it.
    .addColumn('gw_port_id', 'varchar(36)', (c) => c.references('ports.id').onDelete('set null'))
    .addColumn('enable_snat', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('routers_project').on('routers').columns(['project_id']).execute();

  // Which ports a router owns (gateway and interfaces), as Neutron's routerports table.
  await db.schema
    .createTable('router_ports')
    .addColumn('port_id', 'varchar(36)', (c) => c.primaryKey().references('ports.id').onDelete('cascade'))
    .addColumn('router_id', 'varchar(36)', (c) => c.notNull().references('routers.id').onDelete('cascade'))
    .addColumn('port_type', 'varchar(255)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('router_ports_router').on('router_ports').columns(['router_id', 'port_type']).execute();

  await db.schema
    .createTable('router_routes')
    .addColumn('router_id', 'varchar(36)', (c) => c.notNull().references('routers.id').onDelete('cascade'))
    .addColumn('destination', 'varchar(64)', (c) => c.notNull())
    .addColumn('nexthop', 'varchar(64)', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('router_routes_pk', ['router_id', 'destination', 'nexthop'])
    .execute();

  await db.schema
    .createTable('floating_ips')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('floating_network_id', 'varchar(36)', (c) => c.notNull().references('networks.id'))
    .addColumn('floating_ip_address', 'varchar(64)', (c) => c.notNull())
    // The address is held by a port on the external network; deleting that port removes the FIP.
    .addColumn('floating_port_id', 'varchar(36)', (c) => c.notNull().unique().references('ports.id').onDelete('cascade'))
    .addColumn('fixed_port_id', 'varchar(36)', (c) => c.references('ports.id').onDelete('set null'))
    .addColumn('fixed_ip_address', 'varchar(64)')
    .addColumn('router_id', 'varchar(36)', (c) => c.references('routers.id'))
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    // One fixed IP has at most one floating IP per external network, even under concurrent updates.
    .addUniqueConstraint('floating_ips_fixed_unique', ['floating_network_id', 'fixed_port_id', 'fixed_ip_address'])
    .execute();
  await db.schema.createIndex('floating_ips_project').on('floating_ips').columns(['project_id']).execute();
  await db.schema.createIndex('floating_ips_fixed_port').on('floating_ips').columns(['fixed_port_id']).execute();
  await db.schema.createIndex('floating_ips_router').on('floating_ips').columns(['router_id']).execute();
}
