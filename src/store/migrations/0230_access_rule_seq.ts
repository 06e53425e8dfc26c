import { type Kysely, sql } from 'kysely';

/**
 * Keystone's access_rule table has an autoincrement `id` beside the `external_id` users see, and
 * an application credential's rules come back in that order (the association table's primary key
 * is (application_credential_id, access_rule_id)), as do a user's rules: the order they were first
 * made in. Rules here were keyed by their random external id alone and listed in its order, so a
 * credential made with GET then PUT could come back PUT then GET (Gophercloud's
 * TestApplicationCredentialsAccessRules compares them in order). `seq` is that autoincrement, from
 * the id_sequences row `access_rules`; existing rules keep the order they were listed in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('access_rules')
    .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`UPDATE access_rules SET seq = (SELECT COUNT(*) FROM access_rules r WHERE r.id <= access_rules.id)`.execute(db);
  await sql`INSERT INTO id_sequences (name, last) SELECT 'access_rules', COALESCE(MAX(seq), 0) FROM access_rules`.execute(db);
}
