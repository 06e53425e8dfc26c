import { describe, expect, it } from 'vitest';
import { PreparedQuery, type Tx, UnbindableValue, prepared } from '../../src/store/db.js';
import { memoryStore } from '../support/memstore.js';

// Statements built and compiled once (src/store/db.ts, `prepared`): every run binds its own
// arguments, inside a transaction as outside, and a write reports what it changed.
describe('prepared statements', () => {
  const store = memoryStore();

  const insertTag = prepared<'type' | 'id' | 'tag', unknown>(['type', 'id', 'tag'], (q, a) =>
    q.insertInto('tags').values({ resource_type: a.type, resource_id: a.id, tag: a.tag }),
  );
  const tagsOf = prepared(['id'], (q, a) => q.selectFrom('tags').select('tag').where('resource_id', '=', a.id).orderBy('tag'));
  const retag = prepared(['id', 'from', 'to'], (q, a) => q.updateTable('tags').set({ tag: a.to }).where('resource_id', '=', a.id).where('tag', '=', a.from));

  it('binds each run its own arguments, in and out of a transaction, and counts what a write changed', async () => {
    await insertTag.run(store().db, { type: 'port', id: 'p1', tag: 'b' });
    await store()
      .db.transaction()
      .execute(async (trx) => {
        await insertTag.run(trx, { type: 'port', id: 'p1', tag: 'a' });
        await insertTag.run(trx, { type: 'port', id: 'p2', tag: 'c' });
        // The transaction sees its own writes through the same statement.
        expect(await tagsOf.execute(trx, { id: 'p1' })).toEqual([{ tag: 'a' }, { tag: 'b' }]);
      });
    expect(await tagsOf.execute(store().db, { id: 'p2' })).toEqual([{ tag: 'c' }]);
    expect(await tagsOf.execute(store().db, { id: 'none' })).toEqual([]);
    expect((await retag.run(store().db, { id: 'p1', from: 'a', to: 'z' })).numAffectedRows).toBe(1n);
    expect((await retag.run(store().db, { id: 'p1', from: 'a', to: 'y' })).numAffectedRows).toBe(0n);
    expect(await tagsOf.execute(store().db, { id: 'p1' })).toEqual([{ tag: 'b' }, { tag: 'z' }]);
  });

  it('runs inside Store.tx on the transaction: its writes seen there, gone with a rollback, refused after it ends', async () => {
    let ended: Tx | undefined;
    await store().tx(async (trx) => {
      await insertTag.run(trx, { type: 'port', id: 'p1', tag: 'a' });
      expect(await tagsOf.execute(trx, { id: 'p1' })).toEqual([{ tag: 'a' }]);
      // A query built by Kysely in the same transaction sees the prepared statement's write, and the other way round.
      await trx.insertInto('tags').values({ resource_type: 'port', resource_id: 'p1', tag: 'b' }).execute();
      expect(await tagsOf.execute(trx, { id: 'p1' })).toEqual([{ tag: 'a' }, { tag: 'b' }]);
      ended = trx;
    });
    await expect(
      store().tx(async (trx) => {
        await insertTag.run(trx, { type: 'port', id: 'p2', tag: 'c' });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await tagsOf.execute(store().db, { id: 'p1' })).toEqual([{ tag: 'a' }, { tag: 'b' }]);
    expect(await tagsOf.execute(store().db, { id: 'p2' })).toEqual([]);
    // A transaction that ended runs nothing more (Kysely's own refusal), not on the connection directly.
    await expect(insertTag.run(ended!, { type: 'port', id: 'p3', tag: 'd' })).rejects.toThrow(/committed/);
    expect(await tagsOf.execute(store().db, { id: 'p3' })).toEqual([]);
  });

  it('checks what it binds as every query does, inside a transaction too', async () => {
    await expect(store().tx((trx) => tagsOf.execute(trx, { id: Number.NaN as unknown as string }))).rejects.toThrow(UnbindableValue);
  });

  it('checks what it binds as every query does', async () => {
    await expect(tagsOf.execute(store().db, { id: Number.NaN as unknown as string })).rejects.toThrow(UnbindableValue);
  });

  it('refuses a query that writes an argument into its SQL text rather than binding it', () => {
    expect(() =>
      PreparedQuery.of(['t'], (a) =>
        store()
          .db.selectFrom('tags')
          .select('tag')
          .where('tag', '=', a.t)
          .orderBy(a.t as 'tag'),
      ),
    ).toThrow(/wrote an argument into its SQL text/);
  });
});
