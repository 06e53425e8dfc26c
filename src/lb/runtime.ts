/**
 * The seam between the engine manager and what actually carries traffic (HAProxy processes or
 * the built-in proxy). An instance serves one load balancer at one place.
 */
import type { Health } from '../core/loadbalancer/status.js';
import type { ListenerCounters } from '../core/loadbalancer/stats.js';
import type { RtLoadBalancer } from './config.js';

/** Where a load balancer runs: an address to bind listeners to, in the host or a namespace. */
export interface Placement {
  /** Address listeners bind to (the VIP inside a namespace, a loopback address otherwise). */
  address: string;
  /** Network namespace to run in; absent means the host's. */
  netns?: string;
  /** Unprivileged user the proxy runs as (when PocketStack runs as root); absent: as PocketStack. */
  user?: { uid: number; gid: number };
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
  /** Processes serving it, when it has its own (the benchmark reads their CPU time). */
  processIds?(): number[];
}

export interface LbRuntime {
  readonly name: 'haproxy' | 'builtin';
  create(lbId: string, placement: Placement): LbInstance;
  /** Release shared resources at shutdown. */
  close?(): Promise<void>;
  /** At start: stop what an earlier run left for load balancers not in `keep`. */
  cleanup?(keep: Set<string>): Promise<void>;
}

export const ZERO_COUNTERS: ListenerCounters = { bytes_in: 0, bytes_out: 0, active_connections: 0, total_connections: 0, request_errors: 0 };

export function addCounters(a: ListenerCounters, b: ListenerCounters): ListenerCounters {
  return {
    bytes_in: a.bytes_in + b.bytes_in,
    bytes_out: a.bytes_out + b.bytes_out,
    active_connections: a.active_connections + b.active_connections,
    total_connections: a.total_connections + b.total_connections,
    request_errors: a.request_errors + b.request_errors,
  };
}
