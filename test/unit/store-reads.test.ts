import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { codePointOrder } from '../../src/store/db.js';
import { memoryStore } from '../support/memstore.js';

// SQLite reads take three shortcuts (src/store/db.ts): rows of plain columns come through one JSON
// text per row, long IN lists of strings are bound as one JSON array, and a LIMIT is written into
// the SQL text. None may change what a query answers.
describe('SQLite reads', () => {
  const store = memoryStore();

  it('gives every value back with its type, in the query order, through the JSON rows', async () => {
    await sql`CREATE TABLE t (s varchar(16), n integer, big bigint, r double precision, x text)`.execute(store().db);
    const rows = [
      { s: 'é😀 "q" \\ \u2028 \u0000 end', n: 1, big: 2 ** 53 - 1, r: 0.1, x: null },
      { s: '[1, 2]', n: -7, big: 0, r: 1.0000000000000002, x: '{"a": 1}' },
      { s: '', n: 3, big: null, r: null, x: 'null' },
      { s: 'true', n: 0, big: 42, r: -0.5, x: '12' },
    ];
    for (const v of rows) await sql`INSERT INTO t VALUES (${v.s}, ${v.n}, ${v.big}, ${v.r}, ${v.x})`.execute(store().db);
    // The REAL column keeps its own path; the others come back as inserted, text that looks like
    // JSON included, ordered and limited as asked.
    const plain = await sql<{ s: string; n: number; big: number | null; x: string | null }>`SELECT s, n, big, x FROM t ORDER BY n DESC LIMIT 3`.execute(
      store().db,
    );
    expect(plain.rows).toEqual([rows[2], rows[0], rows[3]].map(({ s, n, big, x }) => ({ s, n, big, x })));
    const all = await sql`SELECT * FROM t ORDER BY n`.execute(store().db);
    expect(all.rows).toEqual([rows[1], rows[3], rows[0], rows[2]]);
    // A computed column and a repeated name read as they always did.
    const computed = await sql`SELECT n + 1 AS m, s AS n FROM t WHERE n = 1`.execute(store().db);
    expect(computed.rows).toEqual([{ m: 2, n: rows[0].s }]);
  });

  it('reads a BLOB held in a text column, which JSON cannot carry', async () => {
    await sql`CREATE TABLE b (v text)`.execute(store().db);
    await sql`INSERT INTO b VALUES ('a'), (X'00ff')`.execute(store().db);
    for (let i = 0; i < 2; i++) {
      const res = await sql<{ v: unknown }>`SELECT v FROM b ORDER BY rowid`.execute(store().db);
      expect(res.rows).toEqual([{ v: 'a' }, { v: Buffer.from([0, 255]) }]);
    }
  });

  it('answers IN and NOT IN over long lists of ids as over short ones', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `id-${String(i).padStart(3, '0')}`);
    for (const id of ids) await store().db.insertInto('tags').values({ resource_type: 'network', resource_id: id, tag: 't' }).execute();
    const find = async (list: string[], op: 'in' | 'not in') =>
      (await store().db.selectFrom('tags').select('resource_id').where('resource_id', op, list).orderBy('resource_id').execute()).map((r) => r.resource_id);
    const some = ids.filter((_, i) => i % 3 === 0);
    const unknown = Array.from({ length: 100 }, (_, i) => `other-${i}`);
    expect(await find([...some, ...unknown], 'in')).toEqual(some);
    expect(await find([...some, ...unknown], 'not in')).toEqual(ids.filter((_, i) => i % 3 !== 0));
    expect(await find(ids.slice(0, 5), 'in')).toEqual(ids.slice(0, 5));
    // Lengths differ, answers stay right (one statement serves every length).
    expect(await find(ids.slice(0, 200), 'in')).toEqual(ids.slice(0, 200));
  });

  it('sorts text in JavaScript as SQLite orders it (BINARY: UTF-8 bytes)', async () => {
    // Characters around where UTF-16 and UTF-8 orders part: below U+D800, U+E000–U+FFFF, beyond U+FFFF.
    const alphabet = ['a', 'B', 'é', '\u07ff', '\ud7ff', '\ue000', '\uffff', '😀', '𐀀', '\u{10ffff}', ''];
    const words = Array.from({ length: 400 }, (_, i) => {
      let w = '';
      for (let n = (i * 7) % 5, k = i; n >= 0; n--, k = Math.floor(k / 3) + n * 13) w += alphabet[k % alphabet.length];
      return w;
    });
    await sql`CREATE TABLE w (v text)`.execute(store().db);
    for (const v of words) await sql`INSERT INTO w VALUES (${v})`.execute(store().db);
    const ordered = (await sql<{ v: string }>`SELECT v FROM w ORDER BY v`.execute(store().db)).rows.map((r) => r.v);
    expect([...words].sort(codePointOrder)).toEqual(ordered);
    // JavaScript's own order is not SQLite's for these.
    expect([...words].sort()).not.toEqual(ordered);
  });

  it('limits as asked, with the LIMIT in the SQL text (a bound one makes SQLite compile the statement again on every run)', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids) await store().db.insertInto('tags').values({ resource_type: 'port', resource_id: id, tag: 't' }).execute();
    const page = (limit: number, offset = 0) =>
      store().db.selectFrom('tags').select('resource_id').where('resource_type', '=', 'port').orderBy('resource_id').limit(limit).offset(offset);
    expect(page(64).compile().sql).toMatch(/ limit 64 offset \?$/);
    expect(page(64).compile().parameters).toEqual(['port', 0]);
    const read = async (limit: number, offset?: number) => (await page(limit, offset).execute()).map((r) => r.resource_id);
    expect(await read(2)).toEqual(['a', 'b']);
    expect(await read(2, 2)).toEqual(['c', 'd']);
    expect(await read(0)).toEqual([]);
    // SQLite's "no limit".
    expect(await read(-1)).toEqual(ids);
    // Not a safe integer: bound as before, and SQLite's answer is its own (a LIMIT must be an integer).
    expect(page(0.5).compile().sql).toMatch(/ limit \? offset \?$/);
    await expect(read(0.5)).rejects.toThrow(/datatype mismatch/);
  });
});
