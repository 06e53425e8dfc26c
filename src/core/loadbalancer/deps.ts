/**
 * What every load-balancing operation works with, and the one way writes happen: a single
 * transaction, after which the engine is told which load balancers changed and the Neutron
 * objects touched on the way (VIP ports) are announced.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Store, Tx } from '../../store/db.js';
import type { ChangeEvent } from '../network/registry.js';
import type { NetworkService } from '../network/service.js';
import { DEFAULT_PROVIDER, PROVIDERS } from './constants.js';
import { lbErrors } from './errors.js';
import type { NetworkDriver } from './vip.js';

export interface LbDeps {
  store: Store;
  network: NetworkService;
  /** `noop` accepts VIP and member subnets Neutron does not know (Octavia's noop network driver). */
  networkDriver: NetworkDriver;
  /** Host name VIP ports are bound to. */
  host: string;
  /** Tell the engine a load balancer (or a detached v1 pool) needs applying. */
  changed(target: { lbId?: string; poolId?: string }): void;
}

export interface TxEffects {
  lbIds: Set<string>;
  poolIds: Set<string>;
  events: ChangeEvent[];
}

const deferred = new AsyncLocalStorage<Array<() => void>>();

/**
 * Run one API operation: the engine hears of its writes only when the operation has finished
 * (its response rendered), so a create answers PENDING_CREATE however fast the engine is.
 */
export async function operation<T>(fn: () => Promise<T>): Promise<T> {
  const queue: Array<() => void> = [];
  try {
    return await deferred.run(queue, fn);
  } finally {
    for (const notify of queue) notify();
  }
}

export async function write<T>(deps: LbDeps, fn: (trx: Tx, fx: TxEffects) => Promise<T>): Promise<T> {
  const fx: TxEffects = { lbIds: new Set(), poolIds: new Set(), events: [] };
  const out = await deps.store.tx((trx) => {
    fx.lbIds.clear();
    fx.poolIds.clear();
    fx.events = [];
    return fn(trx, fx);
  });
  const notify = () => {
    if (fx.events.length) deps.network.announce(fx.events);
    for (const lbId of fx.lbIds) deps.changed({ lbId });
    for (const poolId of fx.poolIds) deps.changed({ poolId });
  };
  const queue = deferred.getStore();
  if (queue) queue.push(notify);
  else notify();
  return out;
}

/** The provider a load balancer names must be one this build serves. */
export function checkProvider(name: string | undefined | null): string {
  const p = name ?? DEFAULT_PROVIDER;
  if (!PROVIDERS.some((x) => x.name === p)) throw lbErrors.providerNotEnabled(p);
  return p;
}
