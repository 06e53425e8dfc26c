import { afterEach, beforeEach } from 'vitest';
import { Store } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';

/**
 * A fresh in-memory SQLite store with every migration for each test of the file (or describe
 * block) that calls this, closed after it; the returned function gives the current test's store.
 */
export function memoryStore(): () => Store {
  let store: Store | undefined;
  beforeEach(async () => {
    store = await Store.open({ url: ':memory:' });
    await migrate(store);
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });
  return () => {
    if (!store) throw new Error('no store outside a test');
    return store;
  };
}
