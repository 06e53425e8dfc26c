import type { Logger } from 'pino';
import { type Tables, applyToCache, planIptables } from './iptables.js';
import type { Kernel } from './machine.js';
import type { FilterTables } from './model.js';
import { SG_CHAIN } from './names.js';
import type { Owner } from './owners.js';

type Fail = (owner: Owner, reason: string) => void;
type FamilyTables = Record<'filter' | 'raw', Map<string, string[]>>;

/**
 * The security groups loaded into the switch namespace's iptables, and what this data plane
 * knows of them between passes: the tables as last read or written per family (an incremental
 * pass plans against them instead of reading back), and per port the rules that admitted its
 * traffic (a rule that goes away must also end the connections it admitted).
 */
export class SwitchFilter {
  private cache: Record<4 | 6, Tables | null> = { 4: null, 6: null };
  /** Inode of the switch namespace the cache describes. */
  private ino: number | undefined;
  private lastRuleSets: FilterTables['portRuleSets'] = new Map();

  constructor(
    private readonly kernel: Kernel,
    private readonly ns: string,
    private readonly log: Logger,
  ) {}

  /** The switch namespace about to be loaded: a new one holds no rules, so forget the old one's. */
  loading(created: boolean, ino: number | undefined): void {
    if (created || ino !== this.ino) this.cache = { 4: null, 6: null };
  }

  /** The switch namespace the cache now describes. */
  loaded(ino: number | undefined): void {
    this.ino = ino;
  }

  /**
   * Chains that differ are rewritten, in one atomic restore per family. If the kernel refuses the
   * batch, chains are applied one by one so only the ports whose rules cannot be loaded end in
   * ERROR — and their traffic is dropped, never passed unfiltered. Returns the changes made.
   */
  async apply(filter: FilterTables, full: boolean, fail: Fail): Promise<number> {
    let changes = 0;
    const removed: Array<{ zone: number; ips: string[] }> = [];
    await Promise.all(
      ([4, 6] as const).map(async (family) => {
        const want = family === 4 ? filter.v4 : filter.v6;
        try {
          if (full || !this.cache[family]) this.cache[family] = await this.kernel.iptablesSave(this.ns, family);
        } catch (e) {
          fail('switch', `iptables-save: ${(e as Error).message}`);
          return;
        }
        const cache = this.cache[family]!;
        const plan = planIptables(want, cache);
        if (!plan.text) return;
        try {
          changes++;
          await this.kernel.iptablesRestore(this.ns, family, plan.text);
          applyToCache(cache, want, plan);
        } catch (e) {
          this.cache[family] = null;
          await this.applyOneByOne(family, want, filter, fail, (e as Error).message);
        }
      }),
    );
    // A rule that went away also ends the connections it admitted (as Neutron does).
    for (const [port, before] of this.lastRuleSets) {
      const after = filter.portRuleSets.get(port);
      if (!after) continue;
      for (const r of before.rules) {
        if (!after.rules.has(r)) {
          removed.push(after);
          break;
        }
      }
    }
    this.lastRuleSets = filter.portRuleSets;
    for (const { zone, ips } of removed) {
      for (const ip of ips) await this.kernel.conntrackForget(this.ns, zone, ip);
      changes++;
    }
    return changes;
  }

  private async applyOneByOne(family: 4 | 6, want: FamilyTables, filter: FilterTables, fail: Fail, why: string): Promise<void> {
    const actual = await this.kernel.iptablesSave(this.ns, family);
    const failedPorts = new Set<Owner>();
    // Group chains first (port chains jump to them), then each port's chains together, each
    // after the chains it jumps to (a port's egress chain jumps to its anti-spoofing chain):
    // iptables-restore refuses a jump to a chain that does not exist yet.
    const chains = [...want.filter.keys()].filter((c) => c !== 'FORWARD' && c !== SG_CHAIN);
    chains.sort((a, b) => Number(filter.chainOwner.has(a)) - Number(filter.chainOwner.has(b)));
    for (const chain of targetsFirst(chains, want.filter)) {
      const owner = filter.chainOwner.get(chain);
      if (owner && failedPorts.has(owner)) continue;
      const plan = planIptables({ filter: want.filter }, actual, new Set([chain]));
      if (!plan.text) continue;
      try {
        await this.kernel.iptablesRestore(this.ns, family, plan.text);
        applyToCache(actual, { filter: want.filter }, plan);
      } catch (e) {
        const reason = `iptables: ${(e as Error).message}`;
        if (owner) {
          failedPorts.add(owner);
          fail(owner, reason);
        } else {
          // A group's chain: every port using it fails.
          for (const [c, o] of filter.chainOwner) if (want.filter.get(c)?.some((r) => r.endsWith(`-j ${chain}`))) failedPorts.add(o);
          for (const o of failedPorts) fail(o, reason);
        }
      }
    }
    // The dispatch chain: ports whose rules could not be loaded get DROP, not a free pass.
    const sg = (want.filter.get(SG_CHAIN) ?? []).map((r) => {
      const m = /-j (ps-[io][0-9a-z-]+)$/.exec(r);
      const owner = m ? filter.chainOwner.get(m[1]) : undefined;
      return owner && failedPorts.has(owner) ? r.replace(/-j ps-[io][0-9a-z-]+$/, '-j DROP') : r;
    });
    const patched = { filter: new Map(want.filter).set(SG_CHAIN, sg), raw: want.raw };
    for (const o of failedPorts) for (const [c, co] of filter.chainOwner) if (co === o) patched.filter.delete(c);
    const rest = planIptables(patched, actual);
    if (rest.text) {
      try {
        await this.kernel.iptablesRestore(this.ns, family, rest.text);
      } catch (e) {
        for (const o of new Set(filter.chainOwner.values())) fail(o, `iptables: ${(e as Error).message}`);
      }
    }
    this.log.warn({ family, reason: why, failed: [...failedPorts] }, 'security group rules applied one by one');
  }
}

/** `chains` in their order, except that each comes after the chains (among them) it jumps to. */
function targetsFirst(chains: string[], rules: Map<string, string[]>): string[] {
  const pending = new Set(chains);
  const out: string[] = [];
  const visit = (chain: string) => {
    if (!pending.delete(chain)) return;
    for (const r of rules.get(chain) ?? []) {
      const target = /(?:^|\s)-j (\S+)/.exec(r)?.[1];
      if (target) visit(target);
    }
    out.push(chain);
  };
  for (const c of chains) visit(c);
  return out;
}
