import { type Kysely, sql } from 'kysely';

/**
 * Port extensions DevStack's ML2 serves (`dns-integration`/`dns-domain-ports`,
 * `uplink-status-propagation`, `port-device-profile`, `port-numa-affinity-policy`,
 * `data-plane-status`, `ip_allocation`), a subnet's `dns_publish_fixed_ip`, and security group
 * rules as Neutron keeps them: a description that may be NULL (the rules Neutron makes itself
 * have none) and the standard attribute id it renders for rules embedded in their group.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('ports')
    .addColumn('dns_domain', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .alterTable('ports')
    .addColumn('propagate_uplink_status', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('ports').addColumn('device_profile', 'varchar(255)').execute();
  await db.schema.alterTable('ports').addColumn('numa_affinity_policy', 'varchar(16)').execute();
  await db.schema.alterTable('ports').addColumn('data_plane_status', 'varchar(16)').execute();
  await db.schema
    .alterTable('ports')
    .addColumn('ip_allocation', 'varchar(16)', (c) => c.notNull().defaultTo('immediate'))
    .execute();
  await db.schema
    .alterTable('subnets')
    .addColumn('dns_publish_fixed_ip', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .alterTable('security_group_rules')
    .addColumn('standard_attr_id', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update security_group_rules set standard_attr_id = (select count(*) from security_group_rules r2 where r2.id <= security_group_rules.id)`.execute(
    db,
  );
  // The description becomes nullable: PostgreSQL alters the column, SQLite copies the table.
  const isPostgres = await sql`select version() as v`
    .execute(db)
    .then((r) => String((r.rows[0] as { v?: unknown } | undefined)?.v ?? '').includes('PostgreSQL'))
    .catch(() => false);
  if (isPostgres) {
    await sql`alter table security_group_rules alter column description drop not null`.execute(db);
    await sql`alter table security_group_rules alter column description drop default`.execute(db);
    await sql`create index security_group_rules_standard_attr on security_group_rules (standard_attr_id)`.execute(db);
    return;
  }
  await sql`create table security_group_rules_new (
    id varchar(36) primary key,
    project_id varchar(255) not null,
    security_group_id varchar(36) not null references security_groups(id) on delete cascade,
    direction varchar(16) not null,
    ethertype varchar(8) not null,
    protocol varchar(40),
    port_range_min integer,
    port_range_max integer,
    remote_ip_prefix varchar(64),
    remote_group_id varchar(36),
    remote_address_group_id varchar(36),
    normalized_cidr varchar(64),
    description varchar(255),
    created_at varchar(32) not null,
    updated_at varchar(32) not null,
    revision_number integer not null default 0,
    standard_attr_id integer not null default 0
  )`.execute(db);
  await sql`insert into security_group_rules_new select id, project_id, security_group_id, direction, ethertype, protocol, port_range_min, port_range_max,
    remote_ip_prefix, remote_group_id, remote_address_group_id, normalized_cidr, description, created_at, updated_at, revision_number, standard_attr_id
    from security_group_rules`.execute(db);
  await sql`drop table security_group_rules`.execute(db);
  await sql`alter table security_group_rules_new rename to security_group_rules`.execute(db);
  await sql`create index security_group_rules_group on security_group_rules (security_group_id)`.execute(db);
  await sql`create index security_group_rules_address_group on security_group_rules (remote_address_group_id)`.execute(db);
  await sql`create index security_group_rules_standard_attr on security_group_rules (standard_attr_id)`.execute(db);
}
