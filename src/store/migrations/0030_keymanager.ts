import type { Kysely } from 'kysely';

/**
 * The key manager (a Barbican v1 slice): secrets, containers of secrets, their consumers and
 * read ACLs. A secret's payload is stored sealed (AES-256-GCM under a key kept in the data
 * directory, see core/keymanager/seal.ts), never in clear.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('km_secrets')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('creator_id', 'varchar(255)')
    .addColumn('name', 'varchar(255)')
    .addColumn('secret_type', 'varchar(80)', (c) => c.notNull())
    .addColumn('algorithm', 'varchar(255)')
    .addColumn('bit_length', 'integer')
    .addColumn('mode', 'varchar(255)')
    .addColumn('expiration', 'varchar(32)')
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    // Barbican's internal content type of the payload (text/plain, application/octet-stream …).
    .addColumn('content_type', 'varchar(255)')
    // The sealed payload (base64 of version, nonce, tag and ciphertext); null until one is stored.
    .addColumn('payload', 'text')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('km_secrets_project').on('km_secrets').columns(['project_id']).execute();

  await db.schema
    .createTable('km_containers')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('creator_id', 'varchar(255)')
    .addColumn('name', 'varchar(255)')
    .addColumn('type', 'varchar(16)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('km_containers_project').on('km_containers').columns(['project_id']).execute();

  await db.schema
    .createTable('km_container_secrets')
    .addColumn('container_id', 'varchar(36)', (c) => c.notNull().references('km_containers.id'))
    .addColumn('name', 'varchar(255)')
    .addColumn('secret_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('km_container_secrets_pk', ['container_id', 'position'])
    .execute();

  await db.schema
    .createTable('km_container_consumers')
    .addColumn('container_id', 'varchar(36)', (c) => c.notNull().references('km_containers.id'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('url', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('km_container_consumers_pk', ['container_id', 'name', 'url'])
    .execute();

  // One row per entity and operation ('read' is the only one Barbican defines); users apart.
  await db.schema
    .createTable('km_acls')
    .addColumn('entity_type', 'varchar(16)', (c) => c.notNull())
    .addColumn('entity_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('operation', 'varchar(16)', (c) => c.notNull())
    .addColumn('project_access', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('km_acls_pk', ['entity_type', 'entity_id', 'operation'])
    .execute();
  await db.schema
    .createTable('km_acl_users')
    .addColumn('entity_type', 'varchar(16)', (c) => c.notNull())
    .addColumn('entity_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('operation', 'varchar(16)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('km_acl_users_pk', ['entity_type', 'entity_id', 'operation', 'user_id'])
    .execute();
}
