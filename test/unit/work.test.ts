import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Change, ChangeBus, Operation, UnitOfWork } from '../../src/core/work.js';
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
    operation.end();
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
    operation.end();
    expect(heard).toEqual([]);
    await uow.run(write('late'), { operation });
    expect(heard).toEqual(['network/late/create']);
    expect(await store.db.selectFrom('tags').select('resource_id').execute()).toEqual([{ resource_id: 'late' }]);
  });
});
