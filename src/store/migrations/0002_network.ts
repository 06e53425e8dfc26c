import type { CreateTableBuilder, Kysely } from 'kysely';

/** Standard attributes every Neutron resource carries. */
function std<T extends string>(t: CreateTableBuilder<T, never>) {
  return t
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0));
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await std(db.schema.createTable('networks'))
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('shared', 'integer', (c) => c.notNull())
    .addColumn('external', 'integer', (c) => c.notNull())
    .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('mtu', 'integer', (c) => c.notNull())
    .addColumn('port_security_enabled', 'integer', (c) => c.notNull())
    .addColumn('network_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('physical_network', 'varchar(64)')
    .addColumn('segmentation_id', 'integer')
    .addColumn('availability_zone_hints', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await db.schema.createIndex('networks_project').on('networks').columns(['project_id']).execute();
  await db.schema.createIndex('networks_name').on('networks').columns(['name']).execute();

  // A segmentation id belongs to one network: the primary key makes double allocation impossible.
  await db.schema
    .createTable('segment_allocations')
    .addColumn('network_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('physical_network', 'varchar(64)', (c) => c.notNull())
    .addColumn('segmentation_id', 'integer', (c) => c.notNull())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull().references('networks.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('segment_allocations_pk', ['network_type', 'physical_network', 'segmentation_id'])
    .execute();

  await std(db.schema.createTable('subnets'))
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull().references('networks.id'))
    .addColumn('ip_version', 'integer', (c) => c.notNull())
    .addColumn('cidr', 'varchar(64)', (c) => c.notNull())
    .addColumn('gateway_ip', 'varchar(64)')
    .addColumn('enable_dhcp', 'integer', (c) => c.notNull())
    .addColumn('ipv6_ra_mode', 'varchar(32)')
    .addColumn('ipv6_address_mode', 'varchar(32)')
    .addColumn('subnetpool_id', 'varchar(36)')
    .addColumn('segment_id', 'varchar(36)')
    .addColumn('dns_nameservers', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('host_routes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('allocation_pools', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('service_types', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await db.schema.createIndex('subnets_network').on('subnets').columns(['network_id']).execute();
  await db.schema.createIndex('subnets_project').on('subnets').columns(['project_id']).execute();

  await db.schema
    .createTable('ipam_ranges')
    .addColumn('subnet_id', 'varchar(36)', (c) => c.notNull().references('subnets.id').onDelete('cascade'))
    .addColumn('first_key', 'varchar(32)', (c) => c.notNull())
    .addColumn('last_key', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('ipam_ranges_pk', ['subnet_id', 'first_key'])
    .execute();

  await std(db.schema.createTable('ports'))
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull().references('networks.id'))
    .addColumn('mac_address', 'varchar(32)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('device_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('device_owner', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('port_security_enabled', 'integer', (c) => c.notNull())
    .addColumn('binding_host_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('binding_vif_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('binding_vnic_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('binding_profile', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('binding_vif_details', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('allowed_address_pairs', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('extra_dhcp_opts', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('dns_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addUniqueConstraint('ports_network_mac', ['network_id', 'mac_address'])
    .execute();
  await db.schema.createIndex('ports_project').on('ports').columns(['project_id']).execute();
  await db.schema.createIndex('ports_device').on('ports').columns(['device_id']).execute();
  await db.schema.createIndex('ports_network').on('ports').columns(['network_id', 'device_owner']).execute();
  await db.schema.createIndex('ports_name').on('ports').columns(['name']).execute();

  await db.schema
    .createTable('ip_allocations')
    .addColumn('port_id', 'varchar(36)', (c) => c.notNull().references('ports.id').onDelete('cascade'))
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('subnet_id', 'varchar(36)', (c) => c.notNull().references('subnets.id'))
    .addColumn('ip_address', 'varchar(64)', (c) => c.notNull())
    .addColumn('ip_key', 'varchar(32)', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    // The last line of defence against handing one address out twice.
    .addPrimaryKeyConstraint('ip_allocations_pk', ['subnet_id', 'ip_key'])
    .execute();
  await db.schema.createIndex('ip_allocations_port').on('ip_allocations').columns(['port_id']).execute();
  await db.schema.createIndex('ip_allocations_address').on('ip_allocations').columns(['ip_address']).execute();

  await std(db.schema.createTable('security_groups'))
    .addColumn('stateful', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.createIndex('security_groups_project').on('security_groups').columns(['project_id']).execute();

  await db.schema
    .createTable('default_security_groups')
    .addColumn('project_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('security_group_id', 'varchar(36)', (c) => c.notNull().references('security_groups.id').onDelete('cascade'))
    .execute();

  await db.schema
    .createTable('security_group_rules')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('security_group_id', 'varchar(36)', (c) => c.notNull().references('security_groups.id').onDelete('cascade'))
    .addColumn('direction', 'varchar(16)', (c) => c.notNull())
    .addColumn('ethertype', 'varchar(8)', (c) => c.notNull())
    .addColumn('protocol', 'varchar(40)')
    .addColumn('port_range_min', 'integer')
    .addColumn('port_range_max', 'integer')
    .addColumn('remote_ip_prefix', 'varchar(64)')
    .addColumn('remote_group_id', 'varchar(36)')
    .addColumn('remote_address_group_id', 'varchar(36)')
    .addColumn('normalized_cidr', 'varchar(64)')
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('security_group_rules_group').on('security_group_rules').columns(['security_group_id']).execute();

  await db.schema
    .createTable('port_security_groups')
    .addColumn('port_id', 'varchar(36)', (c) => c.notNull().references('ports.id').onDelete('cascade'))
    .addColumn('security_group_id', 'varchar(36)', (c) => c.notNull().references('security_groups.id'))
    .addPrimaryKeyConstraint('port_security_groups_pk', ['port_id', 'security_group_id'])
    .execute();
  await db.schema.createIndex('port_security_groups_group').on('port_security_groups').columns(['security_group_id']).execute();

  await db.schema
    .createTable('tags')
    .addColumn('resource_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('resource_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('tag', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('tags_pk', ['resource_type', 'resource_id', 'tag'])
    .execute();
  await db.schema.createIndex('tags_tag').on('tags').columns(['tag']).execute();

  await db.schema
    .createTable('quotas')
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource', 'varchar(64)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('quotas_pk', ['project_id', 'resource'])
    .execute();
}
