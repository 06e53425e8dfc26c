import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../../src/store/checkpoint.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(): { raw: Database.Database; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ps-checkpoint-'));
  dirs.push(dir);
  const path = join(dir, 'db.sqlite');
  const raw = new Database(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.exec('create table t (id integer primary key, body text)');
  return { raw, path };
}

/** `n` commits of one 4 KB row each, telling the checkpointer as the store does. */
function write(raw: Database.Database, cp: WalCheckpointer | null, n: number, from = 0): void {
  const insert = raw.prepare('insert into t (id, body) values (?, ?)');
  for (let i = from; i < from + n; i++) {
    raw.transaction(() => insert.run(i, 'x'.repeat(4000)))();
    cp?.wrote();
  }
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  return ok();
};

describe("SQLite's WAL checkpoints in a worker", () => {
  it('keeps checkpoints out of the connection, the log resetting between bursts', async () => {
    const { raw, path } = open();
    const cp = new WalCheckpointer(raw, path);
    expect(raw.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    for (let round = 0; round < 4; round++) {
      // About 10 MB of log a burst (three frames a commit).
      write(raw, cp, 800, round * 800);
      // Idle between bursts, as the event loop is between requests: the worker catches up.
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(cp.checkpoints).toBeGreaterThanOrEqual(4);
    expect(cp.inlineCheckpoints).toBe(0);
    // Each burst's log was reset at its first write: the file holds about one burst's frames
    // (without the resets it would hold all four, about 40 MB).
    expect(statSync(`${path}-wal`).size).toBeLessThan(14 * 1024 * 1024);
    const last = await cp.request();
    expect(last).toMatchObject({ ok: true, busy: 0 });
    expect(last.checkpointed).toBe(last.log);
    // The worker's connection ends before the store's, which closes last: SQLite removes the log
    // and the shared-memory file at that last close, before close() returns, not later.
    await cp.close();
    raw.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
    const again = new Database(path, { readonly: true });
    expect(again.prepare('select count(*) as n from t').get()).toEqual({ n: 3200 });
    again.close();
  });

  it('bounds the log under writes that never pause for long: the connection checkpoints past four times the mark', async () => {
    const { raw, path } = open();
    const cp = new WalCheckpointer(raw, path);
    // 12,000 commits, the event loop turning every 64 (a server under a steady load): the
    // worker's checkpoints race the commits.
    for (let i = 0; i < 12_000; i += 64) {
      write(raw, cp, 64, i);
      await new Promise((r) => setImmediate(r));
    }
    // About three frames (12 KB) a commit: 140 MB had the log never been reset. The connection's
    // own checkpoints past 16 MB bound it (it grows on while the worker finishes a checkpoint
    // with its syncs, which this loop, writing as fast as SQLite can, outruns).
    expect(statSync(`${path}-wal`).size).toBeLessThan(64 * 1024 * 1024);
    expect(cp.inlineCheckpoints).toBeGreaterThan(0);
    await cp.close();
    raw.close();
  });

  it('checkpoints between transactions, as the store tells of every write statement in one', async () => {
    const { raw, path } = open();
    const errors: string[] = [];
    const cp = new WalCheckpointer(raw, path, (m) => errors.push(m));
    const insert = raw.prepare('insert into t (id, body) values (?, ?)');
    const begin = raw.prepare('begin');
    const commit = raw.prepare('commit');
    // A port create's shape: BEGIN, four writes, COMMIT, the checkpointer told after each write
    // and after the COMMIT (a write too), the event loop turning now and then.
    let id = 0;
    for (let tx = 0; tx < 3_000; tx++) {
      begin.run();
      for (let w = 0; w < 4; w++) {
        insert.run(id++, 'x'.repeat(1000));
        cp.wrote();
      }
      commit.run();
      cp.wrote();
      if (tx % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    // Refused inside a transaction, a checkpoint was reported as failed and given up until the
    // log grew again: here it waits for the COMMIT.
    expect(errors).toEqual([]);
    expect(cp.inlineCheckpoints).toBeGreaterThan(0);
    expect(statSync(`${path}-wal`).size).toBeLessThan(64 * 1024 * 1024);
    await cp.close();
    raw.close();
  });

  it('gives the checkpoints back to the connection when the worker cannot run', async () => {
    const { raw } = open();
    const errors: string[] = [];
    // A path the worker's connection cannot open (fileMustExist): it dies before answering.
    const cp = new WalCheckpointer(raw, join(tmpdir(), 'ps-checkpoint-missing', 'none.sqlite'), (m) => errors.push(m));
    expect(existsSync(join(tmpdir(), 'ps-checkpoint-missing'))).toBe(false);
    expect((await cp.request()).ok).toBe(false);
    expect(await until(() => errors.length > 0)).toBe(true);
    expect(raw.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await cp.close();
    raw.close();
  });
});
