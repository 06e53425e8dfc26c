/**
 * What every load-balancing operation works with. Writes are units of work (core/work.ts): each
 * load balancer a write touches is recorded as a `loadbalancer` change (a v1 pool without a VIP
 * as `lb_pool`), which the engine hears of after the commit and applies.
 */
import type { Store } from '../../store/db.js';
import type { KeyManagerService } from '../keymanager/service.js';
import type { NetworkService } from '../network/service.js';
import type { UnitOfWork } from '../work.js';
import { DEFAULT_PROVIDER, PROVIDERS } from './constants.js';
import { lbErrors } from './errors.js';
import type { NetworkDriver } from './vip.js';

export interface LbDeps {
  uow: UnitOfWork;
  /** The unit of work's store, for reads. */
  store: Store;
  network: NetworkService;
  /** `noop` accepts VIP and member subnets Neutron does not know (Octavia's noop network driver). */
  networkDriver: NetworkDriver;
  /** This server's host: VIP ports are bound to it when no live host's agent reaches the VIP network (hosts.ts). */
  host: string;
  /** TLS certificates, CA certificates and CRLs by reference (Octavia's cert_manager). */
  keyManager: KeyManagerService;
}

/** The provider a load balancer names must be one this build serves. */
export function checkProvider(name: string | undefined | null): string {
  const p = name ?? DEFAULT_PROVIDER;
  if (!PROVIDERS.some((x) => x.name === p)) throw lbErrors.providerNotEnabled(p);
  return p;
}
