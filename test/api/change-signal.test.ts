/**
 * Changes across processes (issue 18): on PostgreSQL a change committed through one store is
 * heard on another store's change bus (LISTEN/NOTIFY) — what wakes a host's agent when an API
 * server commits. Each side here is a Store and UnitOfWork of its own, as two processes have.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Change, ChangeBus, Operation, UnitOfWork } from '../../src/core/work.js';
import type { ChannelListener } from '../../src/store/db.js';
import { Store } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import pg from 'pg';
import { type ScratchDatabase, scratchDatabase } from '../support/cloud.js';

const PG = process.env.POCKETSTACK_TEST_DATABASE_URL;

async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

describe.skipIf(!PG)(
  `changes heard across processes on PostgreSQL${PG ? '' : ' — skipped: needs POCKETSTACK_TEST_DATABASE_URL (npm test provides it as root)'}`,
  () => {
    let db: ScratchDatabase;
    let writer: UnitOfWork;
    let reader: UnitOfWork;
    let listener: ChannelListener;
    let writerListener: ChannelListener;
    const heardByReader: Change[] = [];
    const heardByWriter: Change[] = [];

    beforeAll(async () => {
      db = await scratchDatabase(PG!);
      const a = await Store.open({ url: db.url });
      await migrate(a);
      const b = await Store.open({ url: db.url });
      writer = new UnitOfWork(a, new ChangeBus());
      reader = new UnitOfWork(b, new ChangeBus());
      writer.changes.subscribe({ status: true }, (c) => heardByWriter.push(c));
      reader.changes.subscribe({ status: true }, (c) => heardByReader.push(c));
      listener = await reader.listenToOthers();
      // The writer listens too: it must not hear its own changes twice.
      writerListener = await writer.listenToOthers();
    });

    afterAll(async () => {
      await listener?.close();
      await writerListener?.close();
      await writer?.store.close();
      await reader?.store.close();
      await db?.drop();
    });

    it("publishes another process's committed change on this process's bus, once, and the writer's own once", async () => {
      await writer.run(async (w) => {
        await w.trx.insertInto('tags').values({ resource_type: 'network', resource_id: 'n1', tag: 't' }).execute();
        w.changed('network', 'n1', 'p1', 'create');
        w.changed('port', 'x1', null, 'status');
      });
      await until(() => heardByReader.length >= 2);
      // Give a duplicate (the writer's own notification coming back) time to arrive.
      await new Promise((r) => setTimeout(r, 200));
      expect(heardByReader).toEqual([
        { kind: 'network', id: 'n1', projectId: 'p1', op: 'create' },
        { kind: 'port', id: 'x1', projectId: null, op: 'status' },
      ]);
      expect(heardByWriter.map((c) => `${c.kind}/${c.id}`)).toEqual(['network/n1', 'port/x1']);
    });

    it("holds an API caller's changes until its operation ends, as this process's own bus does", async () => {
      const before = heardByReader.length;
      const operation = new Operation();
      await writer.run(async (w) => w.changed('port', 'op1', 'p1', 'create'), { operation });
      await new Promise((r) => setTimeout(r, 300));
      expect(heardByReader.length).toBe(before);
      await operation.end();
      await until(() => heardByReader.length > before);
      expect(heardByReader.slice(before)).toEqual([{ kind: 'port', id: 'op1', projectId: 'p1', op: 'create' }]);
    });

    it('sends nothing for a transaction that rolled back', async () => {
      const before = heardByReader.length;
      await expect(
        writer.run(async (w) => {
          w.changed('network', 'n2', 'p1', 'create');
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      await writer.run(async (w) => w.changed('network', 'n3', 'p1', 'update'));
      await until(() => heardByReader.length > before);
      await new Promise((r) => setTimeout(r, 100));
      expect(heardByReader.slice(before).map((c) => c.id)).toEqual(['n3']);
    });

    it('hears again after PostgreSQL terminated the listening connection (and says changes may have been missed)', async () => {
      let missed = 0;
      const l = await reader.listenToOthers({ onMissed: () => missed++ });
      try {
        const admin = new pg.Client({ connectionString: PG });
        await admin.connect();
        await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'", [db.name]);
        await admin.end();
        await until(() => missed > 0, 10_000);
        expect(missed).toBeGreaterThan(0);
        const before = heardByReader.length;
        await writer.run(async (w) => w.changed('router', 'r1', 'p1', 'update'));
        await until(() => heardByReader.some((c, i) => i >= before && c.id === 'r1'));
        expect(heardByReader.slice(before).some((c) => c.id === 'r1')).toBe(true);
      } finally {
        await l.close();
      }
    });
  },
);
