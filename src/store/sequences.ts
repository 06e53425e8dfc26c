import type { Q } from './db.js';

/**
 * The next id of sequence `name` (id_sequences, migration 0191): one more than the highest it has
 * handed out, never one given before, as an autoincrement column. Inside the caller's
 * transaction, so two creates take turns on the sequence's row (SQLite's one writer, PostgreSQL's
 * row lock) and an aborted create gives its id back.
 */
export async function nextId(q: Q, name: string): Promise<number> {
  const row = await q
    .updateTable('id_sequences')
    .set((eb) => ({ last: eb('last', '+', 1) }))
    .where('name', '=', name)
    .returning('last')
    .executeTakeFirst();
  if (row) return Number(row.last);
  await q.insertInto('id_sequences').values({ name, last: 1 }).execute();
  return 1;
}
