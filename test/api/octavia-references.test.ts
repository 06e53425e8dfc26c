import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestCloud, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';

/**
 * References between load-balancing objects stay within one project and one load balancer; lists
 * filter on their parent's id too; failovers are asynchronous, as Octavia's worker runs them.
 */
let tc: TestCloud;
let c: Awaited<ReturnType<typeof lbClients>>;
let subnetId: string;

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  c = await lbClients(tc);
  subnetId = (await makeSubnet(c.net.demo)).subnetId;
});
afterAll(async () => tc?.stop());

const path = (p: string) => `/v2.0/lbaas/${p}`;
const settle = (client: Client, lb: string) =>
  waitFor(
    () => client.get(path(`loadbalancers/${lb}`)),
    (r) => r.body.loadbalancer.provisioning_status === 'ACTIVE',
  );

async function tree(client: Client, subnet: string) {
  const lb = (await client.post(path('loadbalancers'), { loadbalancer: { vip_subnet_id: subnet } })).body.loadbalancer.id;
  await settle(client, lb);
  const listener = (await client.post(path('listeners'), { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 80 } })).body.listener.id;
  await settle(client, lb);
  const pool = (await client.post(path('pools'), { pool: { loadbalancer_id: lb, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } })).body.pool.id;
  await settle(client, lb);
  return { lb, listener, pool };
}

describe('references between objects', () => {
  it('redirects an L7 policy only to a pool of its own load balancer and project', async () => {
    const mine = await tree(c.demo, subnetId);
    const sibling = await tree(c.demo, subnetId);
    const adminSubnet = (await makeSubnet(c.net.admin, '10.30.0.0/24', 'adminnet')).subnetId;
    const foreign = await tree(c.admin, adminSubnet);
    for (const pool of [foreign.pool, sibling.pool]) {
      const r = await c.demo.post(path('l7policies'), { l7policy: { listener_id: mine.listener, action: 'REDIRECT_TO_POOL', redirect_pool_id: pool } });
      expect(r.status).toBe(404);
      expect(r.body.faultstring).toBe(`Pool ${pool} not found.`);
    }
    const ok = await c.demo.post(path('l7policies'), { l7policy: { listener_id: mine.listener, action: 'REDIRECT_TO_POOL', redirect_pool_id: mine.pool } });
    expect(ok.status).toBe(201);
    await settle(c.demo, mine.lb);
    const moved = await c.demo.put(path(`l7policies/${ok.body.l7policy.id}`), { l7policy: { redirect_pool_id: foreign.pool } });
    expect(moved.status).toBe(404);
    expect(moved.body.faultstring).toBe(`Pool ${foreign.pool} not found.`);
    // A listener's default pool likewise.
    const def = await c.demo.put(path(`listeners/${mine.listener}`), { listener: { default_pool_id: sibling.pool } });
    expect(def.status).toBe(404);
  });

  it("filters members and rules on their parent's id", async () => {
    const t = await tree(c.demo, subnetId);
    const m = await c.demo.post(path(`pools/${t.pool}/members`), { member: { address: '10.20.0.9', protocol_port: 80 } });
    expect(m.status).toBe(201);
    await settle(c.demo, t.lb);
    expect((await c.demo.get(path(`pools/${t.pool}/members?pool_id=${t.pool}`))).body.members.map((x: any) => x.id)).toEqual([m.body.member.id]);
    expect((await c.demo.get(path(`pools/${t.pool}/members?pool_id=${t.listener}`))).body.members).toEqual([]);
    const p = await c.demo.post(path('l7policies'), { l7policy: { listener_id: t.listener, action: 'REJECT' } });
    await settle(c.demo, t.lb);
    const r = await c.demo.post(path(`l7policies/${p.body.l7policy.id}/rules`), { rule: { type: 'PATH', compare_type: 'STARTS_WITH', value: '/x' } });
    await settle(c.demo, t.lb);
    const rules = await c.demo.get(path(`l7policies/${p.body.l7policy.id}/rules?l7policy_id=${p.body.l7policy.id}`));
    expect(rules.body.rules.map((x: any) => x.id)).toEqual([r.body.rule.id]);
    expect((await c.demo.get(path(`l7policies/${p.body.l7policy.id}/rules?bogus=1`))).status).toBe(400);
  });
});

describe('failover', () => {
  it('keeps the load balancer PENDING_UPDATE and its old amphora listed until the new one replaces it', async () => {
    const t = await tree(c.demo, subnetId);
    const before = (await c.admin.get(`/v2/octavia/amphorae?loadbalancer_id=${t.lb}`)).body.amphorae;
    expect(before).toHaveLength(1);
    expect((await c.admin.put(path(`loadbalancers/${t.lb}/failover`), {})).status).toBe(202);
    expect((await c.demo.get(path(`loadbalancers/${t.lb}`))).body.loadbalancer.provisioning_status).toBe('PENDING_UPDATE');
    const during = (await c.admin.get(`/v2/octavia/amphorae?loadbalancer_id=${t.lb}`)).body.amphorae;
    expect(during.map((a: any) => a.id)).toEqual([before[0].id]);
    const busy = await c.demo.put(path(`loadbalancers/${t.lb}`), { loadbalancer: { name: 'x' } });
    expect(busy.status).toBe(409);
    await settle(c.demo, t.lb);
    const after = (await c.admin.get(`/v2/octavia/amphorae?loadbalancer_id=${t.lb}`)).body.amphorae;
    expect(after).toHaveLength(1);
    expect(after[0].id).not.toBe(before[0].id);
  });

  it('does the same for an amphora failover, and lists amphorae by project', async () => {
    const t = await tree(c.demo, subnetId);
    const demoProject = (await c.demo.get(path(`loadbalancers/${t.lb}`))).body.loadbalancer.project_id;
    const amps = (await c.admin.get(`/v2/octavia/amphorae?project_id=${demoProject}`)).body.amphorae;
    expect(amps.some((a: any) => a.loadbalancer_id === t.lb)).toBe(true);
    const amp = amps.find((a: any) => a.loadbalancer_id === t.lb);
    expect((await c.admin.put(`/v2/octavia/amphorae/${amp.id}/failover`, {})).status).toBe(202);
    expect((await c.demo.get(path(`loadbalancers/${t.lb}`))).body.loadbalancer.provisioning_status).toBe('PENDING_UPDATE');
    expect((await c.admin.get(`/v2/octavia/amphorae/${amp.id}`)).status).toBe(200);
    await settle(c.demo, t.lb);
    expect((await c.admin.get(`/v2/octavia/amphorae/${amp.id}`)).status).toBe(404);
  });
});
