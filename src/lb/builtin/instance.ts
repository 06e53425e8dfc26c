/**
 * One load balancer served by the built-in engine, in this process. A new configuration is
 * applied in place: listeners that stay keep their sockets (no connection is dropped), new ones
 * are bound first so that a refused bind leaves the running configuration untouched.
 */
import type { Health } from '../../core/loadbalancer/status.js';
import type { ListenerCounters } from '../../core/loadbalancer/stats.js';
import type { RtListener, RtLoadBalancer } from '../config.js';
import { type LbInstance, type LbRuntime, type Placement, addCounters } from '../runtime.js';
import type { Logger } from 'pino';
import type { BuiltinListener } from './common.js';
import { HttpListener } from './http.js';
import { PoolState } from './pool.js';
import { WorkerInstance } from './remote.js';
import { TcpListener } from './tcp.js';
import { UdpListener } from './udp.js';

type AnyListener = BuiltinListener & { destroy(): void };

/** Listeners with the same key can be reconfigured in place. */
const KIND = new Map<RtListener['protocol'], string>([
  ['HTTP', 'http'],
  ['TERMINATED_HTTPS', 'https'],
  ['UDP', 'udp'],
]);
const keyOf = (l: RtListener) => `${KIND.get(l.protocol) ?? 'tcp'}/${l.port}`;

export class BuiltinInstance implements LbInstance {
  private readonly pools = new Map<string, PoolState>();
  private readonly listeners = new Map<string, { key: string; l: AnyListener }>();
  /** Counters of listeners that were closed, so totals never go backwards. */
  private readonly retired = new Map<string, ListenerCounters>();
  private stopped = false;

  constructor(
    readonly lbId: string,
    private readonly placement: Placement,
    private readonly onHealthChange: () => void = () => undefined,
    /** Only serve some listener protocols (HAProxy hands UDP to this engine). */
    private readonly only?: (l: RtListener) => boolean,
  ) {}

  private lookup = (id: string | null) => (id ? this.pools.get(id) : undefined);

  private async open(l: RtListener): Promise<AnyListener> {
    const address = this.placement.address;
    if (l.protocol === 'HTTP' || l.protocol === 'TERMINATED_HTTPS') return HttpListener.open(l, address, this.lookup);
    if (l.protocol === 'UDP') return UdpListener.open(l, address, this.lookup);
    return TcpListener.open(l, address, this.lookup);
  }

  async apply(cfg: RtLoadBalancer): Promise<void> {
    if (this.stopped) throw new Error('instance stopped');
    const wanted = cfg.listeners.filter((l) => (this.only ? this.only(l) : true));
    // 1. Bind what is new; on failure close those and leave everything as it was.
    const opened: Array<{ cfg: RtListener; l: AnyListener }> = [];
    for (const l of wanted) {
      const cur = this.listeners.get(l.id);
      if (cur && cur.key === keyOf(l)) continue;
      // A listener whose port moved, or a replaced one on the same port: free the old socket first.
      const samePort = [...this.listeners.entries()].find(([id, x]) => x.key === keyOf(l) && id !== l.id);
      if (samePort && !wanted.some((w) => w.id === samePort[0])) await this.retire(samePort[0]);
      if (cur) await this.retire(l.id);
      try {
        opened.push({ cfg: l, l: await this.open(l) });
      } catch (e) {
        for (const o of opened) {
          await o.l.close();
          o.l.destroy();
        }
        throw new Error(`listener ${l.id} cannot listen on ${this.placement.address}:${l.port}/${l.protocol}: ${(e as Error).message}`);
      }
    }
    // 2. Pools: update in place (health state and persistence survive), add new, drop removed.
    const poolIds = new Set(cfg.pools.map((p) => p.id));
    for (const p of cfg.pools) {
      const cur = this.pools.get(p.id);
      if (cur) cur.update(p);
      else this.pools.set(p.id, new PoolState(p, this.onHealthChange));
    }
    for (const [id, p] of this.pools) {
      if (!poolIds.has(id)) {
        p.stop();
        this.pools.delete(id);
      }
    }
    // 3. Listeners: reconfigure kept ones, add the new, retire the rest (gracefully).
    for (const l of wanted) this.listeners.get(l.id)?.l.update(l);
    for (const o of opened) this.listeners.set(o.cfg.id, { key: keyOf(o.cfg), l: o.l });
    const keep = new Set(wanted.map((l) => l.id));
    for (const id of [...this.listeners.keys()]) if (!keep.has(id)) await this.retire(id);
  }

  private async retire(id: string): Promise<void> {
    const cur = this.listeners.get(id);
    if (!cur) return;
    this.listeners.delete(id);
    const c = cur.l.counters();
    const prev = this.retired.get(id);
    this.retired.set(id, prev ? addCounters(prev, { ...c, active_connections: 0 }) : { ...c, active_connections: 0 });
    await cur.l.close();
  }

  async health(): Promise<Health> {
    const members = new Map<string, 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOCHECK'>();
    for (const p of this.pools.values()) for (const [id, s] of p.memberStates()) members.set(id, s);
    const listeners = new Map<string, 'OPEN' | 'FULL' | 'STOPPED'>();
    for (const [id, x] of this.listeners) listeners.set(id, x.l.state());
    return { members, listeners };
  }

  async counters(): Promise<Map<string, ListenerCounters>> {
    const out = new Map<string, ListenerCounters>(this.retired);
    for (const [id, x] of this.listeners) {
      const c = x.l.counters();
      const prev = this.retired.get(id);
      out.set(id, prev ? addCounters(prev, c) : c);
    }
    return out;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.pools.values()) p.stop();
    this.pools.clear();
    for (const { l } of this.listeners.values()) {
      l.destroy();
      await l.close();
    }
    this.listeners.clear();
  }
}

/**
 * The built-in engine: in this process on loopback; in a worker process inside the load
 * balancer's namespace in netns mode (as an unprivileged user when PocketStack is root).
 */
export class BuiltinRuntime implements LbRuntime {
  readonly name = 'builtin' as const;
  constructor(
    private readonly log: Logger,
    private readonly onHealthChange: (lbId: string) => void = () => undefined,
    private readonly onLost: (lbId: string) => void = () => undefined,
  ) {}
  create(lbId: string, placement: Placement): LbInstance {
    if (placement.netns || placement.user) {
      return new WorkerInstance(lbId, placement, { onHealthChange: () => this.onHealthChange(lbId), onLost: () => this.onLost(lbId) }, this.log);
    }
    return new BuiltinInstance(lbId, placement, () => this.onHealthChange(lbId));
  }
}
