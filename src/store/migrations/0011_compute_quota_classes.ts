import type { Kysely } from 'kysely';

/** Nova's quota classes (os-quota-class-sets): the `default` class sets every project's defaults. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('compute_quota_classes')
    .addColumn('class_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource', 'varchar(64)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('compute_quota_classes_pk', ['class_name', 'resource'])
    .execute();
}
