import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type MemberRow, patchMembers } from '../../src/core/loadbalancer/model.js';
import type { RtLoadBalancer, RtMember, RtPool } from '../../src/lb/config.js';
import { haproxyConfig } from '../../src/lb/haproxy/cfg.js';
import { planMemberChanges } from '../../src/lb/haproxy/memberplan.js';
import { planServerChanges } from '../../src/lb/haproxy/serverplan.js';
import { CFG_OPTIONS, RT_HTTP_MONITOR, rtListener, rtPool } from '../support/lbconfig.js';

/**
 * Issue 17's incremental paths against the whole recomputation they replace, on random change
 * sequences: the engine's member patch against the members read again in loadGraph's order, and
 * HAProxy's member plan against the plan from the two whole configuration texts.
 */

const row = (id: string, created: number): MemberRow =>
  ({
    id,
    project_id: 'p',
    name: '',
    provisioning_status: 'ACTIVE',
    operating_status: 'NO_MONITOR',
    admin_state_up: 1,
    api: 'v2',
    pool_id: 'P',
    address: '10.0.0.1',
    protocol_port: 80,
    weight: 1,
    backup: 0,
    subnet_id: null,
    monitor_address: null,
    monitor_port: null,
    status_description: null,
    // Second-resolution timestamps, as octaviaTime writes them: many members share one.
    created_at: `2026-12-04T09:00:${String(created).padStart(2, '0')}`,
    updated_at: null,
  }) as MemberRow;

/** loadGraph's order: created_at, then id. */
const sorted = (rows: MemberRow[]) =>
  [...rows].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

type Op = { kind: 'add'; id: string; created: number } | { kind: 'update'; pick: number; weight: number } | { kind: 'delete'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 4095 }).map((n) => n.toString(16)), created: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), weight: fc.integer({ min: 0, max: 256 }) }),
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
);

describe('the engine patches its model with the changed members only', () => {
  it('gives what reading every member again gives, in the same order, for any change sequence', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 1, max: 8 }), (ops, every) => {
        // The store's rows (truth) and the model, patched every `every` changes with what they touched.
        const store = new Map<string, MemberRow>();
        let model: MemberRow[] = [];
        let touched = new Set<string>();
        const sync = () => {
          const fresh = [...touched].flatMap((id) => (store.has(id) ? [store.get(id)!] : []));
          model = patchMembers(model, fresh, touched);
          touched = new Set();
          expect(model).toEqual(sorted([...store.values()]));
        };
        ops.forEach((op, i) => {
          const ids = [...store.keys()];
          if (op.kind === 'add') {
            if (store.has(op.id)) return;
            store.set(op.id, row(op.id, op.created));
            touched.add(op.id);
          } else if (ids.length) {
            const id = ids[op.pick % ids.length];
            if (op.kind === 'update') store.set(id, { ...store.get(id)!, weight: op.weight, provisioning_status: 'PENDING_UPDATE' });
            else store.delete(id);
            touched.add(id);
          }
          if ((i + 1) % every === 0) sync();
        });
        sync();
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the rows it was not asked about as they are (the same objects)', () => {
    const a = row('a', 1);
    const b = row('b', 2);
    const out = patchMembers([a, b], [{ ...b, weight: 5 }], new Set(['b', 'gone']));
    expect(out[0]).toBe(a);
    expect(out[1].weight).toBe(5);
  });
});

const text = (x: RtLoadBalancer) => haproxyConfig(x, CFG_OPTIONS);

const memberArb: fc.Arbitrary<Omit<RtMember, 'id'>> = fc
  .record({
    host: fc.integer({ min: 1, max: 4 }),
    port: fc.constantFrom(80, 81),
    weight: fc.integer({ min: 0, max: 3 }),
    backup: fc.boolean(),
    enabled: fc.boolean(),
    checkPort: fc.option(fc.constantFrom(8080, 8081), { nil: undefined }),
  })
  .map((m) => ({
    address: `10.0.0.${m.host}`,
    port: m.port,
    weight: m.weight,
    backup: m.backup,
    enabled: m.enabled,
    checkAddress: `10.0.0.${m.host}`,
    checkPort: m.checkPort ?? m.port,
  }));

/** Up to 6 members by id slot: absent or some member. */
type Slots = Array<Omit<RtMember, 'id'> | null>;
const membersArb: fc.Arbitrary<Slots> = fc.array(fc.option(memberArb, { nil: null }), { minLength: 6, maxLength: 6 });

/** What a change does to one slot: mostly what the runtime API can do, sometimes more. */
const changeArb = fc.oneof(
  fc.constant((m: Omit<RtMember, 'id'> | null) => m),
  fc.constant(() => null),
  memberArb.map((n) => (m: Omit<RtMember, 'id'> | null) => m ?? n),
  fc.integer({ min: 0, max: 3 }).map((weight) => (m: Omit<RtMember, 'id'> | null) => m && { ...m, weight }),
  fc.constant((m: Omit<RtMember, 'id'> | null) => m && { ...m, enabled: !m.enabled }),
  fc.constantFrom(8080, 8081).map((checkPort) => (m: Omit<RtMember, 'id'> | null) => m && { ...m, checkPort }),
  fc.constant((m: Omit<RtMember, 'id'> | null) => m && { ...m, backup: !m.backup }),
);
const changesArb = fc.array(changeArb, { minLength: 6, maxLength: 6 });

describe("HAProxy's member plan", () => {
  it('plans what the whole texts plan, for any change to the members of two pools', () => {
    fc.assert(
      fc.property(
        membersArb,
        membersArb,
        changesArb,
        changesArb,
        fc.constantFrom<RtPool['algorithm']>('ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP'),
        fc.boolean(),
        (a1, a2, c1, c2, algorithm, monitored) => {
          const ms = (slots: Slots, prefix: string) => slots.flatMap((m, i) => (m ? [{ id: `${prefix}${i}`, ...m }] : []));
          const cfg = (x: Slots, y: Slots): RtLoadBalancer => ({
            id: 'lb',
            vipAddress: null,
            listeners: [rtListener('L1', 'P1'), rtListener('L2', 'P2', { port: 81 })],
            pools: [rtPool('P1', ms(x, 'a'), { algorithm, monitor: monitored ? RT_HTTP_MONITOR : null }), rtPool('P2', ms(y, 'b'))],
          });
          const before = cfg(a1, a2);
          const after = cfg(
            a1.map((m, i) => c1[i](m)),
            a2.map((m, i) => c2[i](m)),
          );
          const whole = planServerChanges(text(before), text(after));
          const part = planMemberChanges(before, after, CFG_OPTIONS);
          expect(part).not.toBeNull();
          if (whole.kind === 'runtime') expect(part).toEqual(whole);
          else expect(part!.kind).toBe('reload');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves anything but members to the whole texts', () => {
    const members = [{ id: 'm', address: '10.0.0.1', port: 80, weight: 1, backup: false, enabled: true, checkAddress: '10.0.0.1', checkPort: 80 }];
    const a: RtLoadBalancer = { id: 'lb', vipAddress: null, listeners: [rtListener('L', 'P')], pools: [rtPool('P', members)] };
    const b: RtLoadBalancer = { ...a, listeners: [rtListener('L', 'P', { timeoutClientData: 1000 })] };
    expect(planMemberChanges(a, b, CFG_OPTIONS)).toBeNull();
    expect(planMemberChanges(a, { ...a, pools: [rtPool('P', members, { monitor: RT_HTTP_MONITOR })] }, CFG_OPTIONS)).toBeNull();
  });
});
