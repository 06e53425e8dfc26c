/**
 * Loopback placement, for the noop data plane: there are no namespaces, so each load balancer
 * listens on an address of its own in 127.0.0.0/8 (Linux routes the whole block to `lo`, no
 * set-up or privilege needed). Members are reached at their addresses as given, so this serves
 * members that the host itself can reach (typically servers on loopback).
 */
import { createHash } from 'node:crypto';
import type { LbGraph } from '../core/loadbalancer/model.js';
import type { PlacementProvider } from './engine.js';
import type { Placement } from './runtime.js';

export class LoopbackPlacement implements PlacementProvider {
  readonly kind = 'loopback';
  private readonly byLb = new Map<string, string>();
  private readonly used = new Set<string>();

  /** 127.x.y.z from the load balancer id (stable across restarts), probing on collisions. */
  addressFor(lbId: string): string {
    const cur = this.byLb.get(lbId);
    if (cur) return cur;
    const h = createHash('sha1').update(lbId).digest();
    for (let i = 0; ; i++) {
      const a = 1 + ((h[0] + i) % 254);
      const b = (h[1] + Math.floor(i / 254)) % 256;
      const c = 1 + (h[2] % 254);
      const addr = `127.${a}.${b}.${c}`;
      if (!this.used.has(addr)) {
        this.used.add(addr);
        this.byLb.set(lbId, addr);
        return addr;
      }
    }
  }

  async acquire(g: LbGraph): Promise<Placement> {
    return { address: this.addressFor(g.lb.id) };
  }

  async release(lbId: string): Promise<void> {
    const a = this.byLb.get(lbId);
    if (a) this.used.delete(a);
    this.byLb.delete(lbId);
  }
}
