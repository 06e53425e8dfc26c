import { type Kysely, sql } from 'kysely';

/**
 * OS-INHERIT: a grant on a domain or project may be inherited by the projects below it instead of
 * applying to the target itself. Keystone keeps the flag in the assignment's primary key (an
 * inherited and a direct grant of one role to one actor on one target coexist), so the table is
 * made again with it, on both stores.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('role_assignments_new')
    .addColumn('actor_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('target_type', 'varchar(16)', (c) => c.notNull())
    .addColumn('target_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('role_id', 'varchar(64)', (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('actor_type', 'varchar(8)', (c) => c.notNull().defaultTo('user'))
    // 1: inherited to the projects below the target (Keystone's `inherited` column), not the target's own.
    .addColumn('inherited', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('role_assignments_key', ['actor_id', 'target_type', 'target_id', 'role_id', 'inherited'])
    .execute();
  await sql`INSERT INTO role_assignments_new (actor_id, target_type, target_id, role_id, actor_type, inherited)
    SELECT actor_id, target_type, target_id, role_id, actor_type, 0 FROM role_assignments`.execute(db);
  await db.schema.dropTable('role_assignments').execute();
  await db.schema.alterTable('role_assignments_new').renameTo('role_assignments').execute();
  await db.schema.createIndex('role_assignments_target').on('role_assignments').columns(['target_id']).execute();
  await db.schema.createIndex('role_assignments_actor').on('role_assignments').columns(['actor_id']).execute();
}
