/**
 * Member changes planned from the configuration model rather than from the two whole texts (issue
 * 17): when two configurations differ only in pools' members, serverplan.ts is given the backends
 * of those pools with only the changed members' server lines, so a member add at 1,000 members
 * renders and parses a handful of lines, not 2,000. The decision (runtime commands or a reload)
 * stays serverplan.ts's: this module only chooses what it reads.
 */
import type { RtLoadBalancer, RtMember, RtPool } from '../config.js';
import { type CfgOptions, backendExcerpt } from './cfg.js';
import { type ServerPlan, planServerChanges } from './serverplan.js';

/** Everything of a configuration but its members (two configurations with the same key differ in members only). */
function skeletonKey(cfg: RtLoadBalancer): string {
  return JSON.stringify({ ...cfg, pools: cfg.pools.map(({ members: _members, ...p }) => p) });
}

const sameMember = (a: RtMember, b: RtMember) =>
  a.address === b.address &&
  a.port === b.port &&
  a.weight === b.weight &&
  a.backup === b.backup &&
  a.enabled === b.enabled &&
  a.checkAddress === b.checkAddress &&
  a.checkPort === b.checkPort;

/**
 * The members added, removed or changed between two versions of a pool: those of `before` and
 * those of `after`, each in its pool's order. The members a change did not touch are the same
 * objects in the same order (config.ts, rtMember): the common head and tail are skipped by
 * identity, so a member add at 1,000 members compares a handful, not 1,000.
 */
function changedMembers(before: RtPool, after: RtPool): { before: RtMember[]; after: RtMember[] } {
  const a = before.members;
  const b = after.members;
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let endA = a.length;
  let endB = b.length;
  while (endA > head && endB > head && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const prev = new Map(a.slice(head, endA).map((m) => [m.id, m]));
  const changed = new Set<string>();
  for (const m of b.slice(head, endB)) {
    const p = prev.get(m.id);
    if (!p || !sameMember(p, m)) changed.add(m.id);
    prev.delete(m.id);
  }
  for (const id of prev.keys()) changed.add(id);
  return { before: a.slice(head, endA).filter((m) => changed.has(m.id)), after: b.slice(head, endB).filter((m) => changed.has(m.id)) };
}

/**
 * What takes HAProxy from `before` to `after` when only members differ, as serverplan.ts plans it
 * from the changed members' lines; null when more than members differ (the caller plans from the
 * whole texts). `o` is what both texts were, or would be, written with.
 */
export function planMemberChanges(before: RtLoadBalancer, after: RtLoadBalancer, o: CfgOptions): ServerPlan | null {
  if (skeletonKey(before) !== skeletonKey(after)) return null;
  const a: string[] = [];
  const b: string[] = [];
  for (const [i, next] of after.pools.entries()) {
    const prev = before.pools[i];
    const changed = changedMembers(prev, next);
    if (!changed.before.length && !changed.after.length) continue;
    const x = backendExcerpt(before, prev, changed.before, o);
    const y = backendExcerpt(after, next, changed.after, o);
    if (x || y) {
      a.push(x);
      b.push(y);
    }
  }
  if (!a.length) return { kind: 'runtime', commands: [], added: [] };
  return planServerChanges(a.join('\n'), b.join('\n'));
}
