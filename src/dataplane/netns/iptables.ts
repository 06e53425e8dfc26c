import { isOurChain } from './names.js';

/**
 * The difference between our iptables chains and the kernel's as one `iptables-restore --noflush`
 * input: declaring a chain (`:name - [0:0]`) creates or flushes it, so a changed chain is
 * rewritten whole and unchanged chains are not touched; stale chains of ours are flushed then
 * deleted. The whole input is one atomic transaction.
 */
export type Tables = Map<string, Map<string, string[]>>;

const BUILTIN = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']);

export interface IptablesPlan {
  text: string | null;
  /** Chains (re)written, per table. */
  changed: Array<{ table: string; chain: string }>;
  deleted: Array<{ table: string; chain: string }>;
}

const same = (a: string[] | undefined, b: string[]) => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

export function planIptables(desired: Record<string, Map<string, string[]>>, actual: Tables, only?: Set<string>): IptablesPlan {
  const out: string[] = [];
  const plan: IptablesPlan = { text: null, changed: [], deleted: [] };
  for (const [table, chains] of Object.entries(desired)) {
    const have = actual.get(table) ?? new Map<string, string[]>();
    const changed = [...chains].filter(([name, rules]) => (!only || only.has(name)) && !same(have.get(name), rules));
    const stale = only ? [] : [...have.keys()].filter((c) => isOurChain(c) && !chains.has(c));
    if (!changed.length && !stale.length) continue;
    out.push(`*${table}`);
    for (const [name] of changed) if (!BUILTIN.has(name)) out.push(`:${name} - [0:0]`);
    for (const [name] of changed) if (BUILTIN.has(name)) out.push(`-F ${name}`);
    for (const [name, rules] of changed) for (const r of rules) out.push(`-A ${name} ${r}`);
    for (const c of stale) out.push(`-F ${c}`);
    for (const c of stale) out.push(`-X ${c}`);
    out.push('COMMIT');
    plan.changed.push(...changed.map(([chain]) => ({ table, chain })));
    plan.deleted.push(...stale.map((chain) => ({ table, chain })));
  }
  if (out.length) plan.text = `${out.join('\n')}\n`;
  return plan;
}

/** The tables after a successful restore of `plan` (our cache of the kernel's state). */
export function applyToCache(cache: Tables, desired: Record<string, Map<string, string[]>>, plan: IptablesPlan): void {
  for (const { table, chain } of plan.changed) {
    if (!cache.has(table)) cache.set(table, new Map());
    cache.get(table)!.set(chain, [...desired[table].get(chain)!]);
  }
  for (const { table, chain } of plan.deleted) cache.get(table)?.delete(chain);
}
