/**
 * The seam between the control plane (the store) and the machine. A driver reconciles desired
 * state into the kernel (or, for `noop`, only records what a real one would report) and writes
 * status back through the services: port ACTIVE/DOWN, floating IP ACTIVE, server ACTIVE…
 * The API never waits on it: `kick()` asks for a pass soon, and drivers also run periodically.
 */
export interface DataPlaneDriver {
  readonly kind: string;
  /** Begin reconciling: an initial pass, then on every kick and periodically. */
  start(): Promise<void>;
  /** Ask for a reconcile pass soon (coalesced). */
  kick(reason?: string): void;
  /** Resolve when no pass is running or pending (tests and shutdown use it). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export { Reconciler } from '../util/reconciler.js';
