import type { Kysely } from 'kysely';

/**
 * Issue 18, several hosts: every host's agents carry their availability zone (the DHCP and L3
 * agents report one, the L2 and metadata agents none), routers are scheduled to L3 agents
 * (neutron's routerl3agentbindings, binding_index 1 for a legacy router) and keep the
 * availability_zone_hints they were created with (router_availability_zone).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('availability_zone', 'varchar(255)').execute();
  await db.schema
    .createTable('router_l3_agent_bindings')
    .addColumn('router_id', 'varchar(36)', (c) => c.notNull().references('routers.id').onDelete('cascade'))
    .addColumn('l3_agent_id', 'varchar(36)', (c) => c.notNull().references('agents.id').onDelete('cascade'))
    .addColumn('binding_index', 'integer', (c) => c.notNull().defaultTo(1))
    .addPrimaryKeyConstraint('router_l3_agent_bindings_pk', ['router_id', 'l3_agent_id'])
    .addUniqueConstraint('uniq_router_l3_agent_binding0router_id0binding_index0', ['router_id', 'binding_index'])
    .execute();
  await db.schema
    .alterTable('routers')
    .addColumn('availability_zone_hints', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
}
