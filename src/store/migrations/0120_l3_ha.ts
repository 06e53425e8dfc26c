import type { Kysely } from 'kysely';

/**
 * Issue 18, HA routers (`l3-ha`; neutron's l3_hamode models, Zed): a router's `ha` flag and its
 * VRRP id (router_extra_attributes.ha and ha_vr_id), each project's HA network
 * (ha_router_networks), the VRIDs allocated on it (ha_router_vrid_allocations) and the HA port
 * of each (router, L3 agent) pair with the state that agent reports
 * (ha_router_agent_port_bindings).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('routers')
    .addColumn('ha', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('routers').addColumn('ha_vr_id', 'integer').execute();
  await db.schema
    .createTable('ha_router_networks')
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull().references('networks.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('ha_router_networks_pk', ['project_id', 'network_id'])
    // One per project: Neutron counts after inserting and retries on a second (a concurrent
    // router create); here the key refuses it and the unit of work retries.
    .addUniqueConstraint('uniq_ha_router_networks0project_id', ['project_id'])
    .execute();
  await db.schema
    .createTable('ha_router_vrid_allocations')
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull().references('networks.id').onDelete('cascade'))
    .addColumn('vr_id', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('ha_router_vrid_allocations_pk', ['network_id', 'vr_id'])
    .execute();
  await db.schema
    .createTable('ha_router_agent_port_bindings')
    .addColumn('port_id', 'varchar(36)', (c) => c.primaryKey().references('ports.id').onDelete('cascade'))
    .addColumn('router_id', 'varchar(36)', (c) => c.notNull().references('routers.id').onDelete('cascade'))
    .addColumn('l3_agent_id', 'varchar(36)', (c) => c.references('agents.id').onDelete('cascade'))
    .addColumn('state', 'varchar(7)', (c) => c.notNull().defaultTo('standby'))
    .addUniqueConstraint('uniq_ha_router_agent_port_bindings0port_id0l3_agent_id', ['router_id', 'l3_agent_id'])
    .execute();
}
