import type { Kysely } from 'kysely';

/**
 * Floating IP port forwardings (Neutron's `port_forwarding` service plugin): a floating IP's
 * port, or range of ports, forwarded to an address and port (or range) of an internal port.
 * Ports are kept as ranges (start, end), as Neutron keeps them; a single port is a range of one.
 * They go with their floating IP and with their internal port.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('port_forwardings')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('floatingip_id', 'varchar(36)', (c) => c.notNull().references('floating_ips.id').onDelete('cascade'))
    // The floating IP's project: who may see a forwarding is who may see its floating IP.
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('protocol', 'varchar(40)', (c) => c.notNull())
    .addColumn('internal_port_id', 'varchar(36)', (c) => c.notNull().references('ports.id').onDelete('cascade'))
    .addColumn('internal_ip_address', 'varchar(64)', (c) => c.notNull())
    .addColumn('internal_port_start', 'integer', (c) => c.notNull())
    .addColumn('internal_port_end', 'integer', (c) => c.notNull())
    .addColumn('external_port_start', 'integer', (c) => c.notNull())
    .addColumn('external_port_end', 'integer', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('port_forwardings_external', ['floatingip_id', 'protocol', 'external_port_start', 'external_port_end'])
    .execute();
  await db.schema.createIndex('port_forwardings_fip').on('port_forwardings').columns(['floatingip_id']).execute();
  await db.schema.createIndex('port_forwardings_internal').on('port_forwardings').columns(['internal_port_id']).execute();
}
