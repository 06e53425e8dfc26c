import { type Kysely, SqliteAdapter, sql } from 'kysely';

/**
 * Identity beyond users and projects (issue 13): groups and their members, group grants, roles
 * owned by a domain, application credentials and access rules, trusts, credentials (blobs
 * encrypted), unified limits, and the catalog as data (services, endpoints, regions, endpoint
 * groups and their project associations). Tokens record the application credential or trust
 * they were issued through, so losing either stops the token.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;

  await db.schema
    .createTable('groups')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('groups_domain_name', ['domain_id', 'name'])
    .execute();
  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'varchar(64)', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
    .execute();
  await db.schema.createIndex('group_members_user').on('group_members').columns(['user_id']).execute();

  // Who an assignment is to: a user (as before) or a group.
  await db.schema
    .alterTable('role_assignments')
    .addColumn('actor_type', 'varchar(8)', (c) => c.notNull().defaultTo('user'))
    .execute();
  await db.schema.createIndex('role_assignments_actor').on('role_assignments').columns(['actor_id']).execute();

  // Role names were unique; with domain-specific roles a name is unique within its domain (or
  // among global roles), as Keystone's (name, domain_id) key with its '<<null>>' domain.
  if (sqlite) {
    // SQLite cannot drop a column's UNIQUE: rebuild the table. Migrations run outside a
    // transaction on SQLite, so foreign keys can be switched off for the swap (a DROP with them
    // on would cascade into implied_roles and role_assignments).
    await sql`PRAGMA foreign_keys = OFF`.execute(db);
    await sql`CREATE TABLE roles_new (id varchar(64) PRIMARY KEY, name varchar(255) NOT NULL, domain_id varchar(64), description text, extra text NOT NULL DEFAULT '{}', options text NOT NULL DEFAULT '{}')`.execute(
      db,
    );
    await sql`INSERT INTO roles_new (id, name, domain_id, description, extra, options) SELECT id, name, domain_id, description, extra, options FROM roles`.execute(
      db,
    );
    await sql`DROP TABLE roles`.execute(db);
    await sql`ALTER TABLE roles_new RENAME TO roles`.execute(db);
    await sql`PRAGMA foreign_keys = ON`.execute(db);
  } else {
    await sql`ALTER TABLE roles DROP CONSTRAINT IF EXISTS roles_name_key`.execute(db);
  }
  await sql`CREATE UNIQUE INDEX roles_domain_name ON roles (name, (COALESCE(domain_id, '')))`.execute(db);

  await db.schema
    .createTable('application_credentials')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    // scrypt, as passwords: the secret is shown once and never stored.
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('expires_at', 'varchar(32)')
    .addColumn('unrestricted', 'integer', (c) => c.notNull().defaultTo(0))
    /** JSON list of role ids. */
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('application_credentials_user_name', ['user_id', 'name'])
    .execute();
  await db.schema
    .createTable('access_rules')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('service', 'varchar(64)', (c) => c.notNull())
    .addColumn('path', 'varchar(255)', (c) => c.notNull())
    .addColumn('method', 'varchar(16)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('access_rules_user').on('access_rules').columns(['user_id']).execute();
  await db.schema
    .createTable('application_credential_access_rules')
    .addColumn('application_credential_id', 'varchar(64)', (c) => c.notNull().references('application_credentials.id').onDelete('cascade'))
    .addColumn('access_rule_id', 'varchar(64)', (c) => c.notNull().references('access_rules.id'))
    .addPrimaryKeyConstraint('app_cred_access_rules_pk', ['application_credential_id', 'access_rule_id'])
    .execute();

  await db.schema
    .createTable('trusts')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('trustor_user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('trustee_user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)')
    .addColumn('impersonation', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)')
    .addColumn('remaining_uses', 'integer')
    .addColumn('redelegated_trust_id', 'varchar(64)')
    .addColumn('redelegation_count', 'integer')
    /** JSON list of role ids. */
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('deleted_at', 'varchar(32)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('trusts_trustor').on('trusts').columns(['trustor_user_id']).execute();
  await db.schema.createIndex('trusts_trustee').on('trusts').columns(['trustee_user_id']).execute();

  await db.schema
    .createTable('credentials')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)')
    .addColumn('type', 'varchar(255)', (c) => c.notNull())
    // AES-256-GCM under the data directory's credential key: iv, tag and ciphertext, base64.
    .addColumn('encrypted_blob', 'text', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('credentials_user').on('credentials').columns(['user_id']).execute();

  await db.schema
    .createTable('registered_limits')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('service_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('region_id', 'varchar(255)')
    .addColumn('resource_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('default_limit', 'integer', (c) => c.notNull())
    .addColumn('description', 'text')
    .execute();
  await db.schema
    .createTable('limits')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)')
    .addColumn('domain_id', 'varchar(64)')
    .addColumn('service_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('region_id', 'varchar(255)')
    .addColumn('resource_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource_limit', 'integer', (c) => c.notNull())
    .addColumn('description', 'text')
    .execute();

  await db.schema
    .createTable('catalog_regions')
    .addColumn('id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('parent_region_id', 'varchar(255)')
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema
    .createTable('catalog_services')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(255)', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('catalog_endpoints')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('service_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('interface', 'varchar(8)', (c) => c.notNull())
    .addColumn('region_id', 'varchar(255)')
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  /** PocketStack's own service types once put in the catalog: deleting one there is not undone by a restart. */
  await db.schema
    .createTable('catalog_seeded')
    .addColumn('type', 'varchar(255)', (c) => c.primaryKey())
    .execute();
  await db.schema
    .createTable('endpoint_groups')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('filters', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('project_endpoints')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('endpoint_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_endpoints_pk', ['project_id', 'endpoint_id'])
    .execute();
  await db.schema
    .createTable('project_endpoint_groups')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('endpoint_group_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_endpoint_groups_pk', ['project_id', 'endpoint_group_id'])
    .execute();

  // OS-FEDERATION's configuration (identity providers, their protocols, mappings, service
  // providers); federated authentication itself is not built.
  await db.schema
    .createTable('federation_idps')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('authorization_ttl', 'integer')
    /** JSON list of remote ids, unique across identity providers. */
    .addColumn('remote_ids', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('federation_protocols')
    .addColumn('idp_id', 'varchar(64)', (c) => c.notNull().references('federation_idps.id').onDelete('cascade'))
    .addColumn('id', 'varchar(64)', (c) => c.notNull())
    .addColumn('mapping_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('remote_id_attribute', 'varchar(64)')
    .addPrimaryKeyConstraint('federation_protocols_pk', ['idp_id', 'id'])
    .execute();
  await db.schema
    .createTable('federation_mappings')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    /** JSON rules, as given. */
    .addColumn('rules', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('federation_sps')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('auth_url', 'varchar(256)', (c) => c.notNull())
    .addColumn('sp_url', 'varchar(256)', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('relay_state_prefix', 'varchar(256)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();

  // The policy API's blobs (Keystone's deprecated policy store: kept and shown, read by no one).
  await db.schema
    .createTable('policies')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(255)', (c) => c.notNull())
    .addColumn('blob', 'text', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();

  // OS-OAUTH1: consumers, request tokens, access tokens. Their secrets take part in HMAC-SHA1
  // signatures, so they are kept (encrypted under the credential key), not hashed.
  await db.schema
    .createTable('oauth_consumers')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('description', 'text')
    .addColumn('encrypted_secret', 'text', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('oauth_request_tokens')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('encrypted_secret', 'text', (c) => c.notNull())
    .addColumn('consumer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('requested_project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('role_ids', 'text')
    .addColumn('authorizing_user_id', 'varchar(64)')
    .addColumn('verifier', 'varchar(64)')
    .addColumn('expires_at', 'varchar(32)')
    .execute();
  await db.schema
    .createTable('oauth_access_tokens')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('encrypted_secret', 'text', (c) => c.notNull())
    .addColumn('consumer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('authorizing_user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('role_ids', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)')
    .execute();

  /** Domain-specific configuration options (JSON values); sensitive ones are never shown. */
  await db.schema
    .createTable('domain_configs')
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('grp', 'varchar(255)', (c) => c.notNull())
    .addColumn('option', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('sensitive', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('domain_configs_pk', ['domain_id', 'grp', 'option'])
    .execute();

  await db.schema.alterTable('tokens').addColumn('oauth_access_token_id', 'varchar(64)').execute();
  await db.schema.alterTable('tokens').addColumn('app_cred_id', 'varchar(64)').execute();
  await db.schema.alterTable('tokens').addColumn('trust_id', 'varchar(64)').execute();
}
