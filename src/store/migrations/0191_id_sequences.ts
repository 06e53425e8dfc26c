import { type Kysely, sql } from 'kysely';

/**
 * Nova's aggregate ids are the API database's autoincrement: an id is never given again after
 * its aggregate is deleted. "max + 1" gave the last one's id to the next aggregate, so a client
 * still holding the deleted one's id acted on the new one (Tempest, running its aggregate tests
 * side by side: one test's host added to another's fresh aggregate, whose delete then failed
 * "Host aggregate is not empty"). Sequences keep the highest id handed out.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('id_sequences')
    .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('last', 'integer', (c) => c.notNull())
    .execute();
  await sql`INSERT INTO id_sequences (name, last) SELECT 'aggregates', COALESCE(MAX(id), 0) FROM aggregates`.execute(db);
}
