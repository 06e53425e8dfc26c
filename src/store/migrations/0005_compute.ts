import type { Kysely } from 'kysely';

/** Nova: flavors (+ access), servers and their interfaces, key pairs, compute quotas. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('flavors')
    .addColumn('id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('root_gb', 'integer', (c) => c.notNull())
    .addColumn('ephemeral_gb', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('swap', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rxtx_factor', 'double precision', (c) => c.notNull().defaultTo(1))
    .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('description', 'text')
    .addColumn('extra_specs', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('flavor_projects')
    .addColumn('flavor_id', 'varchar(255)', (c) => c.notNull().references('flavors.id').onDelete('cascade'))
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_projects_pk', ['flavor_id', 'project_id'])
    .execute();

  await db.schema
    .createTable('servers')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    // Nova's integer instance id: names the instance (`instance-0000002a`) in admin views.
    .addColumn('internal_id', 'integer', (c) => c.notNull().unique())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('hostname', 'varchar(255)', (c) => c.notNull())
    // The flavor as it was at boot (Nova keeps a copy: flavors may change or go away).
    .addColumn('flavor_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('flavor', 'text', (c) => c.notNull())
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().defaultTo(''))
    .addColumn('key_name', 'varchar(255)')
    .addColumn('key_data', 'text')
    .addColumn('user_data', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('availability_zone', 'varchar(255)')
    .addColumn('access_ipv4', 'varchar(64)')
    .addColumn('access_ipv6', 'varchar(64)')
    .addColumn('config_drive', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('auto_disk_config', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('vm_state', 'varchar(32)', (c) => c.notNull())
    .addColumn('task_state', 'varchar(32)')
    .addColumn('power_state', 'integer', (c) => c.notNull().defaultTo(0))
    // Desired state the machine (an instance host) converges to; `reboot_seq` counts reboots asked for.
    .addColumn('power_desired', 'varchar(16)', (c) => c.notNull().defaultTo('running'))
    .addColumn('reboot_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('host', 'varchar(255)')
    .addColumn('locked_by', 'varchar(16)')
    .addColumn('reservation_id', 'varchar(32)', (c) => c.notNull())
    .addColumn('launch_index', 'integer', (c) => c.notNull().defaultTo(0))
    // What the create request asked for (networks, security groups), consumed by the build.
    .addColumn('requested_networks', 'text')
    .addColumn('security_groups', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('fault', 'text')
    .addColumn('launched_at', 'varchar(32)')
    .addColumn('terminated_at', 'varchar(32)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('servers_project').on('servers').columns(['project_id', 'created_at']).execute();
  await db.schema.createIndex('servers_state').on('servers').columns(['vm_state', 'task_state']).execute();

  await db.schema
    .createTable('server_interfaces')
    .addColumn('port_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('server_id', 'varchar(36)', (c) => c.notNull().references('servers.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    // 1 when the client passed the port in: deleting the server releases it instead of deleting it.
    .addColumn('preserve', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tag', 'varchar(60)')
    .execute();
  await db.schema.createIndex('server_interfaces_server').on('server_interfaces').columns(['server_id', 'position']).execute();

  await db.schema
    .createTable('server_tags')
    .addColumn('server_id', 'varchar(36)', (c) => c.notNull().references('servers.id').onDelete('cascade'))
    .addColumn('tag', 'varchar(60)', (c) => c.notNull())
    .addPrimaryKeyConstraint('server_tags_pk', ['server_id', 'tag'])
    .execute();

  await db.schema
    .createTable('keypairs')
    .addColumn('id', 'integer', (c) => c.notNull().unique())
    .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('type', 'varchar(16)', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('keypairs_pk', ['user_id', 'name'])
    .execute();

  await db.schema
    .createTable('compute_quotas')
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource', 'varchar(64)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('compute_quotas_pk', ['project_id', 'resource'])
    .execute();
}
