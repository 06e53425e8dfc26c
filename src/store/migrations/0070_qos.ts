import type { Kysely } from 'kysely';

/**
 * QoS (Neutron's `qos` service plugin): policies, their rules (one table for the five kinds, as
 * a policy lists them together), each project's default policy, and the bindings of a policy to
 * networks, ports, floating IPs and router gateways (Neutron's qos_*_policy_bindings). A binding
 * goes with its object; a policy cannot go while bound (checked first, as Neutron's
 * QosPolicyInUse; the foreign key is the backstop).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('qos_policies')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('shared', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('qos_policies_project').on('qos_policies').columns(['project_id']).execute();

  await db.schema
    .createTable('qos_default_policies')
    .addColumn('project_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('policy_id', 'varchar(36)', (c) => c.notNull().references('qos_policies.id').onDelete('cascade'))
    .execute();

  await db.schema
    .createTable('qos_rules')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('policy_id', 'varchar(36)', (c) => c.notNull().references('qos_policies.id').onDelete('cascade'))
    // The policy's project: who may see the rule is who may see its policy.
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('direction', 'varchar(16)')
    .addColumn('max_kbps', 'integer')
    .addColumn('max_burst_kbps', 'integer')
    .addColumn('min_kbps', 'integer')
    .addColumn('dscp_mark', 'integer')
    .addColumn('max_kpps', 'integer')
    .addColumn('max_burst_kpps', 'integer')
    .addColumn('min_kpps', 'integer')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('qos_rules_policy').on('qos_rules').columns(['policy_id', 'type']).execute();

  for (const [table, column, target] of [
    ['qos_network_bindings', 'network_id', 'networks'],
    ['qos_port_bindings', 'port_id', 'ports'],
    ['qos_fip_bindings', 'fip_id', 'floating_ips'],
    ['qos_router_bindings', 'router_id', 'routers'],
  ] as const) {
    await db.schema
      .createTable(table)
      .addColumn(column, 'varchar(36)', (c) => c.primaryKey().references(`${target}.id`).onDelete('cascade'))
      .addColumn('policy_id', 'varchar(36)', (c) => c.notNull().references('qos_policies.id'))
      .execute();
    await db.schema.createIndex(`${table}_policy`).on(table).columns(['policy_id']).execute();
  }
}
