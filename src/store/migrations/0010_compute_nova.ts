import type { Kysely } from 'kysely';

/**
 * Nova beyond booting: what servers keep for their actions (system metadata, personality, the
 * flavor before and after a resize, rescue), instance actions and their events, migrations,
 * server groups, host aggregates, the compute services and their heartbeats, and what is left of
 * a deleted server (Nova soft-deletes its rows: actions and usage of deleted servers stay readable).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('servers')
    // Nova's instance_system_metadata: locked_reason, shelved_*, old_vm_state, the password …
    .addColumn('system_metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  // Personality files (≤ 2.56): stored, never shown; the instance host writes them.
  await db.schema.alterTable('servers').addColumn('personality', 'text').execute();
  await db.schema.alterTable('servers').addColumn('trusted_certs', 'text').execute();
  // The request spec's availability zone (what the user asked for: pinned_availability_zone, 2.96).
  await db.schema.alterTable('servers').addColumn('pinned_az', 'varchar(255)').execute();
  await db.schema
    .alterTable('servers')
    .addColumn('scheduler_hints', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  // During a resize: the flavor it had and the one it goes to (instance.old_flavor / new_flavor).
  await db.schema.alterTable('servers').addColumn('old_flavor', 'text').execute();
  await db.schema.alterTable('servers').addColumn('new_flavor', 'text').execute();
  // Desired: boot the rescue image instead of the server's own (rescue/unrescue).
  await db.schema
    .alterTable('servers')
    .addColumn('rescue', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('instance_actions')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('action', 'varchar(255)', (c) => c.notNull())
    .addColumn('request_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('start_time', 'varchar(32)', (c) => c.notNull())
    .addColumn('finish_time', 'varchar(32)')
    .addColumn('message', 'varchar(255)')
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('instance_actions_instance').on('instance_actions').columns(['instance_uuid', 'id']).execute();
  await db.schema
    .createTable('instance_action_events')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('action_id', 'integer', (c) => c.notNull().references('instance_actions.id').onDelete('cascade'))
    .addColumn('event', 'varchar(255)', (c) => c.notNull())
    .addColumn('start_time', 'varchar(32)', (c) => c.notNull())
    .addColumn('finish_time', 'varchar(32)')
    .addColumn('result', 'varchar(255)')
    .addColumn('traceback', 'text')
    .addColumn('host', 'varchar(255)')
    .addColumn('details', 'text')
    .execute();
  await db.schema.createIndex('instance_action_events_action').on('instance_action_events').columns(['action_id', 'id']).execute();

  await db.schema
    .createTable('migrations')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('migration_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('status', 'varchar(32)', (c) => c.notNull())
    .addColumn('source_compute', 'varchar(255)')
    .addColumn('dest_compute', 'varchar(255)')
    .addColumn('source_node', 'varchar(255)')
    .addColumn('dest_node', 'varchar(255)')
    .addColumn('dest_host', 'varchar(255)')
    .addColumn('old_flavor_id', 'varchar(255)')
    .addColumn('new_flavor_id', 'varchar(255)')
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('migrations_instance').on('migrations').columns(['instance_uuid', 'id']).execute();

  await db.schema
    .createTable('server_groups')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('internal_id', 'integer', (c) => c.notNull().unique())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('policy', 'varchar(255)', (c) => c.notNull())
    .addColumn('rules', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('server_group_members')
    .addColumn('server_id', 'varchar(36)', (c) => c.primaryKey().references('servers.id').onDelete('cascade'))
    .addColumn('group_id', 'varchar(36)', (c) => c.notNull().references('server_groups.id').onDelete('cascade'))
    .execute();
  await db.schema.createIndex('server_group_members_group').on('server_group_members').columns(['group_id']).execute();

  await db.schema
    .createTable('aggregates')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .execute();
  await db.schema
    .createTable('aggregate_hosts')
    .addColumn('aggregate_id', 'integer', (c) => c.notNull().references('aggregates.id').onDelete('cascade'))
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_hosts_pk', ['aggregate_id', 'host'])
    .execute();
  await db.schema
    .createTable('aggregate_metadata')
    .addColumn('aggregate_id', 'integer', (c) => c.notNull().references('aggregates.id').onDelete('cascade'))
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_metadata_pk', ['aggregate_id', 'key'])
    .execute();

  await db.schema
    .createTable('compute_services')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('binary', 'varchar(255)', (c) => c.notNull())
    .addColumn('topic', 'varchar(255)')
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disabled_reason', 'varchar(255)')
    .addColumn('forced_down', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('report_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_seen_up', 'varchar(32)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .addUniqueConstraint('compute_services_host_binary', ['host', 'binary'])
    .execute();

  await db.schema
    .createTable('server_tombstones')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('deleted_at', 'varchar(32)', (c) => c.notNull())
    // The server row as it was when deleted (JSON), for usage reports and lists of deleted servers.
    .addColumn('row', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('server_tombstones_project').on('server_tombstones').columns(['project_id', 'deleted_at']).execute();
}
