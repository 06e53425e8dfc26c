/**
 * What this machine can do at most, measured in the same run as PocketStack so that each figure
 * can be read as a ratio (issue 17): how many single-row SQLite transactions commit a second, the
 * bound under every write. (The bound over reads, plain Node answering a port's body, is measured
 * by the port-read scenario with the very body it reads.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Scenario } from '../scenario.js';
import { round } from '../stats.js';

/** Limits measured by this run, for the scenarios that report ratios to them. */
export interface Limits {
  /** Single-row transactions a second on SQLite in WAL mode, synchronous NORMAL (the server's setting). */
  sqliteCommits?: number;
}

export const limits: Limits = {};

/** Commits a second for `seconds`: one INSERT per transaction, as a port create's rows are one commit. */
function commitRate(synchronous: 'NORMAL' | 'FULL', seconds: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'pocketstack-bench-sqlite-'));
  try {
    const db = new Database(join(dir, 'limit.db'));
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.exec('create table t (id integer primary key, name text not null, value text not null)');
    const insert = db.prepare('insert into t (name, value) values (?, ?)');
    const one = db.transaction((i: number) => insert.run(`row-${i}`, 'x'.repeat(200)));
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let n = 0;
    while (performance.now() < deadline) {
      for (let k = 0; k < 100; k++) one(n++);
    }
    const rate = n / ((performance.now() - started) / 1000);
    db.close();
    return rate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const limitsScenario: Scenario = {
  name: 'limits',
  description: "this machine's bound on writes: SQLite single-row commits a second (WAL; synchronous NORMAL and FULL)",
  async run(ctx) {
    const seconds = ctx.quick ? 1 : 3;
    const normal = commitRate('NORMAL', seconds);
    const full = commitRate('FULL', seconds);
    limits.sqliteCommits = normal;
    return [
      { scenario: this.name, metric: 'SQLite single-row commits, WAL, synchronous NORMAL', value: round(normal, 0), unit: '/s' },
      { scenario: this.name, metric: 'SQLite single-row commits, WAL, synchronous FULL', value: round(full, 0), unit: '/s' },
    ];
  },
};
