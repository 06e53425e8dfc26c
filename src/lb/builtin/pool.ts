/**
 * One pool of the built-in engine: which members may take traffic (enabled, weight > 0, healthy;
 * backups only when no primary is), the balancing algorithms (smooth weighted round robin, least
 * connections, source IP / source IP and port hashing) and session persistence tables.
 */
import { createHash } from 'node:crypto';
import type { RtMember, RtPool } from '../config.js';
import { HealthChecker, type MemberCheckState } from './health.js';

export interface MemberState {
  cfg: RtMember;
  /** Connections (or in-flight requests) currently open to this member. */
  active: number;
  /** Smooth weighted round robin's running weight. */
  current: number;
}

export interface PickContext {
  clientIp: string;
  clientPort: number;
  /** Member id a persistence cookie or table points at. */
  sticky?: string;
}

const PERSISTENCE_TTL_MS = 30 * 60 * 1000;

export class PoolState {
  readonly members = new Map<string, MemberState>();
  readonly checker: HealthChecker;
  /** Persistence: key (client IP or application cookie value) → member id and expiry. */
  private readonly table = new Map<string, { member: string; expires: number }>();

  constructor(
    public cfg: RtPool,
    onChange: () => void,
  ) {
    this.checker = new HealthChecker(onChange);
    this.update(cfg);
  }

  /** Apply a new configuration in place: counters and health of kept members survive. */
  update(cfg: RtPool): void {
    this.cfg = cfg;
    const keep = new Set(cfg.members.map((m) => m.id));
    for (const id of this.members.keys()) if (!keep.has(id)) this.members.delete(id);
    for (const m of cfg.members) {
      const s = this.members.get(m.id);
      if (s) s.cfg = m;
      else this.members.set(m.id, { cfg: m, active: 0, current: 0 });
    }
    this.checker.configure(cfg.monitor, cfg.enabled ? cfg.members.filter((m) => m.enabled) : []);
  }

  stop(): void {
    this.checker.stop();
  }

  /** Is this member allowed to receive new traffic? */
  usable(m: MemberState): boolean {
    if (!this.cfg.enabled || !m.cfg.enabled) return false;
    return this.checker.isUp(m.cfg.id);
  }

  /** Usable primaries, or usable backups when there are none; in member order (one pass: this runs per request). */
  private candidates(exclude: ReadonlySet<string>): MemberState[] {
    const primaries: MemberState[] = [];
    const backups: MemberState[] = [];
    for (const m of this.members.values()) {
      if (exclude.has(m.cfg.id) || !this.usable(m) || !(m.cfg.weight > 0)) continue;
      if (m.cfg.backup) backups.push(m);
      else primaries.push(m);
    }
    return primaries.length ? primaries : backups;
  }

  /** Choose a member for a new connection or request, never one in `exclude`. */
  pick(ctx: PickContext, exclude: ReadonlySet<string> = new Set()): MemberState | undefined {
    const sticky = this.stickyMember(ctx, exclude);
    if (sticky) return sticky;
    const cands = this.candidates(exclude);
    if (cands.length === 0) return undefined;
    switch (this.cfg.algorithm) {
      case 'LEAST_CONNECTIONS': {
        let best = cands[0];
        for (const m of cands) if (m.active / m.cfg.weight < best.active / best.cfg.weight) best = m;
        // Ties rotate through round robin so equal servers share evenly.
        const ties = cands.filter((m) => m.active / m.cfg.weight === best.active / best.cfg.weight);
        return ties.length > 1 ? this.roundRobin(ties) : best;
      }
      case 'SOURCE_IP':
        return this.hashed(cands, ctx.clientIp);
      case 'SOURCE_IP_PORT':
        return this.hashed(cands, `${ctx.clientIp}:${ctx.clientPort}`);
      default:
        return this.roundRobin(cands);
    }
  }

  /** Smooth weighted round robin: equal weights alternate strictly. */
  private roundRobin(cands: MemberState[]): MemberState {
    let total = 0;
    let best: MemberState | undefined;
    for (const m of cands) {
      m.current += m.cfg.weight;
      total += m.cfg.weight;
      if (!best || m.current > best.current) best = m;
    }
    best!.current -= total;
    return best!;
  }

  private hashed(cands: MemberState[], key: string): MemberState {
    const sorted = [...cands].sort((a, b) => (a.cfg.id < b.cfg.id ? -1 : 1));
    const total = sorted.reduce((n, m) => n + m.cfg.weight, 0);
    const h = createHash('sha1').update(key).digest().readUInt32BE(0) % total;
    let acc = 0;
    for (const m of sorted) {
      acc += m.cfg.weight;
      if (h < acc) return m;
    }
    return sorted[sorted.length - 1];
  }

  private stickyMember(ctx: PickContext, exclude: ReadonlySet<string>): MemberState | undefined {
    const p = this.cfg.persistence;
    if (!p) return undefined;
    let id = ctx.sticky;
    if (!id && p.type === 'SOURCE_IP') {
      const e = this.table.get(ctx.clientIp);
      if (e && e.expires > Date.now()) id = e.member;
    }
    if (!id) return undefined;
    const m = this.members.get(id);
    return m && !exclude.has(id) && this.usable(m) ? m : undefined;
  }

  /** Remember where a client went (SOURCE_IP persistence). */
  remember(ctx: PickContext, member: MemberState): void {
    const p = this.cfg.persistence;
    if (p?.type !== 'SOURCE_IP') return;
    const ttl = p.timeout ? p.timeout * 1000 : PERSISTENCE_TTL_MS;
    this.table.set(ctx.clientIp, { member: member.cfg.id, expires: Date.now() + ttl });
    if (this.table.size > 10_000) this.expire();
  }

  /** APP_COOKIE persistence: the application's cookie value → member. */
  learnAppCookie(value: string, member: MemberState): void {
    this.table.set(`cookie:${value}`, { member: member.cfg.id, expires: Date.now() + PERSISTENCE_TTL_MS });
    if (this.table.size > 10_000) this.expire();
  }

  appCookieMember(value: string): string | undefined {
    const e = this.table.get(`cookie:${value}`);
    return e && e.expires > Date.now() ? e.member : undefined;
  }

  private expire(): void {
    const now = Date.now();
    for (const [k, v] of this.table) if (v.expires <= now) this.table.delete(k);
  }

  /** Member states as the stats socket of HAProxy would show them. */
  memberStates(): Map<string, MemberCheckState> {
    const out = new Map<string, MemberCheckState>();
    for (const m of this.members.values()) {
      if (!this.cfg.enabled || !m.cfg.enabled) out.set(m.cfg.id, 'MAINT');
      else if (!this.cfg.monitor) out.set(m.cfg.id, m.cfg.weight === 0 ? 'DRAIN' : 'NOCHECK');
      else {
        const up = this.checker.isUp(m.cfg.id);
        out.set(m.cfg.id, !up ? 'DOWN' : m.cfg.weight === 0 ? 'DRAIN' : 'UP');
      }
    }
    return out;
  }
}
