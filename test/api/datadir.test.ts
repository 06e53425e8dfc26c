import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/db.js';
import { serviceClients, startCloud } from '../support/cloud.js';

/**
 * The data directory holds every password hash, token hash and project's data: 0700, and every
 * file in it 0600, from the first start on; a directory left open to other users is closed at
 * start, and the log says so.
 */

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

/** Every path under `dir` (itself included) with its mode. */
function modes(dir: string): Map<string, string> {
  const out = new Map<string, string>([[dir, mode(dir)]]);
  for (const name of readdirSync(dir, { recursive: true }) as string[]) out.set(join(dir, name), mode(join(dir, name)));
  return out;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(process.env.POCKETSTACK_TEST_DATABASE_URL)('the data directory (SQLite store)', () => {
  it('is 0700 with every file 0600 after a fresh start, the database, its WAL and image data included', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'pocketstack-modes-')), 'data');
    dirs.push(dirname(dir));
    const tc = await startCloud({ dir });
    try {
      const { demo } = await serviceClients(tc, 'image');
      const id = (await demo.post('/v2/images', { name: 'm', disk_format: 'raw', container_format: 'bare' })).body.id;
      expect((await demo.put(`/v2/images/${id}/file`, Buffer.from('data'))).status).toBe(204);
      const all = modes(dir);
      for (const f of ['pocketstack.db', 'pocketstack.db-wal', 'pocketstack.db-shm', 'openrc-admin.sh', 'openrc-demo.sh', 'clouds.yaml', `images/${id}`]) {
        expect(all.get(join(dir, f)), f).toBe('600');
      }
      for (const [p, m] of all) expect(m, p).toBe(statSync(p).isDirectory() ? '700' : '600');
    } finally {
      await tc.stop();
    }
  });

  it('closes a directory other users could read at start, and logs what it changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pocketstack-modes-'));
    dirs.push(dir);
    const first = await startCloud({ dir });
    const { demo } = await serviceClients(first, 'image');
    const id = (await demo.post('/v2/images', { name: 'm', disk_format: 'raw', container_format: 'bare' })).body.id;
    await demo.put(`/v2/images/${id}/file`, Buffer.from('data'));
    await first.stop();
    // As an older PocketStack (or a umask of 022) left it.
    for (const [p] of modes(dir)) chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);

    const lines: Array<{ msg: string; changed?: number; dataDir?: string }> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    const again = await startCloud({ dir, logger: pino({ level: 'warn' }, sink) });
    try {
      for (const [p, m] of modes(dir)) expect(m, p).toBe(statSync(p).isDirectory() ? '700' : '600');
      const warned = lines.find((l) => /readable by other users/.test(l.msg));
      expect(warned?.dataDir).toBe(dir);
      expect(warned?.changed).toBeGreaterThanOrEqual(5);
    } finally {
      await again.stop();
    }
  });

  it('leaves the mode of an existing directory a database is given in (sqlite:/tmp/x.db), the file 0600', async () => {
    // A shared directory, as /tmp is: a store opened there must not close it to other users.
    const shared = mkdtempSync(join(tmpdir(), 'pocketstack-shared-'));
    dirs.push(shared);
    chmodSync(shared, 0o1777);
    const made = join(shared, 'made', 'here');
    for (const url of [`sqlite:${join(shared, 'cloud.db')}`, `sqlite:${join(made, 'cloud.db')}`]) {
      const store = await Store.open({ url });
      await store.ping();
      await store.close();
    }
    expect((statSync(shared).mode & 0o7777).toString(8)).toBe('1777');
    expect(mode(join(shared, 'cloud.db'))).toBe('600');
    // One it makes is the owner's.
    expect(mode(made)).toBe('700');
    expect(mode(join(made, 'cloud.db'))).toBe('600');
  });
});
