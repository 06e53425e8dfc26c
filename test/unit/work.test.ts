import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Change, ChangeBus, Operation, UnitOfWork, decodeChanges, encodeChanges } from '../../src/core/work.js';
import { Store } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';

describe('unit of work: when changes are published', () => {
  let dir: string;
  let store: Store;
  let uow: UnitOfWork;
  let heard: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uow-'));
    store = await Store.open({ url: `sqlite:${join(dir, 'db.sqlite')}` });
    await migrate(store);
    uow = new UnitOfWork(store, new ChangeBus());
    heard = [];
    uow.changes.subscribe({ status: true }, (c: Change) => heard.push(`${c.kind}/${c.id}/${c.op}`));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (id: string) => async (w: Parameters<Parameters<UnitOfWork['run']>[0]>[0]) => {
    await w.trx.insertInto('tags').values({ resource_type: 'network', resource_id: id, tag: 't' }).execute();
    w.changed('network', id, 'p1', 'create');
  };

  it('publishes at once after the commit when nobody owns an operation (a driver, start-up work)', async () => {
    await uow.run(write('a'));
    expect(heard).toEqual(['network/a/create']);
  });

  it("holds an API caller's changes until its operation ends, across its transactions, then publishes them in order", async () => {
    const operation = new Operation();
    const caller = { operation };
    await uow.run(write('a'), caller);
    await uow.run(write('b'), caller);
    uow.announce([{ kind: 'server', id: 's', projectId: 'p1', op: 'status' }], caller);
    expect(heard).toEqual([]);
    // A concurrent request (another caller) is not held by this one.
    await uow.run(write('c'), { operation: new Operation() });
    await uow.run(write('d'));
    expect(heard).toEqual(['network/d/create']);
    await operation.end();
    expect(heard).toEqual(['network/d/create', 'network/a/create', 'network/b/create', 'server/s/status']);
  });

  it('publishes nothing for a transaction that rolled back, and at once for one that commits after its operation ended', async () => {
    const operation = new Operation();
    await expect(
      uow.run(
        async (w) => {
          await write('x')(w);
          throw new Error('refused');
        },
        { operation },
      ),
    ).rejects.toThrow('refused');
    await operation.end();
    expect(heard).toEqual([]);
    await uow.run(write('late'), { operation });
    expect(heard).toEqual(['network/late/create']);
    expect(await store.db.selectFrom('tags').select('resource_id').execute()).toEqual([{ resource_id: 'late' }]);
  });
});

describe("an operation's end and the awaited listeners' work", () => {
  const change: Change = { kind: 'router', id: 'r1', projectId: 'p1', op: 'create' };

  it("settles once what the awaited listeners started is done, not waiting for the others', and never rejects", async () => {
    const reported: unknown[] = [];
    const bus = new ChangeBus((e) => reported.push(e));
    const done: string[] = [];
    const later = (what: string, ms: number, fail = false) =>
      new Promise<void>((resolve, reject) =>
        setTimeout(() => {
          done.push(what);
          if (fail) reject(new Error(what));
          else resolve();
        }, ms),
      );
    bus.subscribe({ awaited: true }, () => later('scheduled', 20));
    bus.subscribe({ awaited: true }, () => later('failed', 10, true));
    bus.subscribe({}, () => later('data plane', 200));
    const operation = new Operation();
    operation.defer(() => bus.publish([change]));
    await operation.end();
    expect(done).toEqual(['failed', 'scheduled']);
    expect(reported).toEqual([new Error('failed')]);
  });

  it('answers no promise when no awaited listener heard anything (most requests)', () => {
    const bus = new ChangeBus();
    bus.subscribe({}, () => Promise.resolve());
    bus.subscribe({ kinds: ['port'], awaited: true }, () => Promise.resolve());
    const operation = new Operation();
    operation.defer(() => bus.publish([change]));
    expect(operation.end()).toBeUndefined();
  });
});

describe('changes across processes: the NOTIFY payloads', () => {
  const c = (i: number): Change => ({ kind: 'port', id: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, projectId: 'p1', op: 'update' });

  it('carries kind, id, project and op, and reads back the same changes with their origin', () => {
    const changes: Change[] = [c(1), { kind: 'identity', id: 'u1', projectId: null, op: 'delete' }];
    const [payload, ...more] = encodeChanges('proc-a', changes);
    expect(more).toEqual([]);
    expect(decodeChanges(payload)).toEqual({ origin: 'proc-a', changes });
  });

  it('splits a large transaction into payloads PostgreSQL accepts (under 8000 bytes), losing none', () => {
    const many = Array.from({ length: 500 }, (_, i) => c(i));
    const payloads = encodeChanges('proc-a', many);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(8000);
    expect(payloads.flatMap((p) => decodeChanges(p)?.changes ?? [])).toEqual(many);
  });

  it('ignores what is not one of its payloads (anyone may NOTIFY on the channel)', () => {
    for (const bad of [
      '',
      'x',
      '[]',
      '{"o":1,"c":[]}',
      '{"o":"a","c":[["port","i","p"]]}',
      '{"o":"a","c":[["port","i","p","drop"]]}',
      '{"o":"a","c":[["port",1,"p","update"]]}',
    ]) {
      expect(decodeChanges(bad)).toBeNull();
    }
  });
});
