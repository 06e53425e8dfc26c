/**
 * The seam between the engine manager and what actually carries traffic (HAProxy processes or
 * the built-in proxy). An instance serves one load balancer at one place.
 */
import type { Health } from '../core/loadbalancer/status.js';
import type { ListenerCounters } from '../core/loadbalancer/service.js';
import type { RtLoadBalancer } from './config.js';

/** Where a load balancer runs: an address to bind listeners to, in the host or a namespace. */
export interface Placement {
  /** Address listeners bind to (the VIP inside a namespace, a loopback address otherwise). */
  address: string;
  /** Network namespace to run in; absent means the host's. */
  netns?: string;
}

export interface LbInstance {
  /**
   * Serve `cfg`. Throws when it cannot (a port is taken, the configuration is refused); the
   * previous configuration then keeps running unchanged. Connections in flight survive changes.
   */
  apply(cfg: RtLoadBalancer): Promise<void>;
  /** Members and listeners as last measured. */
  health(): Promise<Health>;
  /** Cumulative traffic counters per listener. */
  counters(): Promise<Map<string, ListenerCounters>>;
  /** Stop serving and release everything. */
  stop(): Promise<void>;
}

export interface LbRuntime {
  readonly name: 'haproxy' | 'builtin';
  create(lbId: string, placement: Placement): LbInstance;
  /** Release shared resources at shutdown. */
  close?(): Promise<void>;
}
