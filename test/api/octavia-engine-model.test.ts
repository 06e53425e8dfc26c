import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGraph } from '../../src/core/loadbalancer/model.js';
import { BuiltinRuntime } from '../../src/lb/builtin/instance.js';
import { LbEngine } from '../../src/lb/engine.js';
import { LoopbackPlacement } from '../../src/lb/placement.js';
import { type TestCloud, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';
import { seededRandom } from '../support/random.js';

/**
 * Issue 17: the engine keeps each load balancer's graph in memory and applies a member's own
 * change from that member's row. Whatever the sequence of member adds, updates and deletes —
 * and of changes that make it read everything (a batch member update, a pool update) — the
 * model it holds once it is idle is what the store holds, and the configuration it serves, derived from that model, is the one a
 * full read would give.
 */
let tc: TestCloud;
let c: Awaited<ReturnType<typeof lbClients>>;
let engine: LbEngine;

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  c = await lbClients(tc);
  // The cloud's engine gives way to one whose periodic health poll never runs during the test:
  // every status write then happens in a pass, and "idle" means the model is final.
  await tc.cloud.services.lbEngine.stop();
  const log = pino({ level: 'silent' });
  engine = new LbEngine(tc.cloud.services.loadBalancer, new BuiltinRuntime(log), new LoopbackPlacement(), log, {
    healthIntervalMs: 3_600_000,
    statsIntervalMs: 3_600_000,
  });
  await engine.start();
});
afterAll(async () => {
  await engine?.stop();
  await tc?.stop();
});

describe("the engine's model of a load balancer", () => {
  it('equals the store after any sequence of member changes', async () => {
    const subnet = await makeSubnet(c.net.demo, '10.31.0.0/24', 'model');
    const path = (p: string) => `/v2/lbaas/${p}`;
    const lb = (await c.demo.post(path('loadbalancers'), { loadbalancer: { name: 'model', vip_subnet_id: subnet.subnetId } })).body.loadbalancer.id;
    const settle = async () => {
      await waitFor(
        () => c.demo.get(path(`loadbalancers/${lb}`)),
        (r) => r.body.loadbalancer?.provisioning_status === 'ACTIVE',
      );
      await engine.idle();
    };
    await settle();
    const listener = (await c.demo.post(path('listeners'), { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 18080 } })).body.listener.id;
    await settle();
    const pool = (await c.demo.post(path('pools'), { pool: { listener_id: listener, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } })).body.pool.id;
    await settle();

    const rnd = seededRandom(17);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    let n = 0;
    const member = () => ({ address: `10.31.0.${1 + (n % 250)}`, protocol_port: 1000 + n++ });
    const members = async () => (await c.demo.get(path(`pools/${pool}/members`))).body.members as Array<{ id: string }>;
    const checks = { incremental: 0, full: 0 };
    for (let step = 0; step < 60; step++) {
      const current = await members();
      const r = rnd();
      let res: { status: number };
      if (r < 0.4 || current.length === 0) {
        res = await c.demo.post(path(`pools/${pool}/members`), { member: member() });
        checks.incremental++;
      } else if (r < 0.6) {
        const body = pick([{ weight: Math.floor(rnd() * 5) }, { admin_state_up: rnd() < 0.5 }, { name: `n${step}` }]);
        res = await c.demo.put(path(`pools/${pool}/members/${pick(current).id}`), { member: body });
        checks.incremental++;
      } else if (r < 0.8) {
        res = await c.demo.delete(path(`pools/${pool}/members/${pick(current).id}`));
        checks.incremental++;
      } else if (r < 0.9) {
        // The batch update: every member the pool keeps is named again, one is dropped, one added.
        const rows = (await c.demo.get(path(`pools/${pool}/members`))).body.members as Array<{ address: string; protocol_port: number }>;
        const keep = rows.slice(1).map((m) => ({ address: m.address, protocol_port: m.protocol_port }));
        res = await c.demo.put(path(`pools/${pool}/members`), { members: [...keep, member()] });
        checks.full++;
      } else {
        res = await c.demo.put(path(`pools/${pool}`), { pool: { lb_algorithm: pick(['ROUND_ROBIN', 'LEAST_CONNECTIONS']) } });
        checks.full++;
      }
      expect(res.status, `step ${step}`).toBeLessThan(300);
      await settle();
      const stored = await loadGraph(tc.cloud.services.store.db, lb);
      expect(engine.model(lb), `step ${step}`).toEqual(stored);
    }
    expect(checks.incremental).toBeGreaterThan(20);
    expect(checks.full).toBeGreaterThan(3);
    // Served (not a noop VIP): the passes applied a configuration and wrote health back.
    expect(engine.endpoint(lb)).toBeDefined();
  });
});
