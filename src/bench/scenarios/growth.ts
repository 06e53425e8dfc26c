import { type Many, type One, runConcurrent } from '../client.js';
import { type BenchContext, type Result, type Scenario, cpuSeconds } from '../scenario.js';
import { round } from '../stats.js';
import { NOVA, untilServerActive } from './compute.js';
import { untilLoadBalancerActive } from './loadbalancer.js';

/**
 * Issue 17's "cost as the cloud grows" for compute and load balancing, as the `scale` scenario
 * measures it for ports: the rate of a window of operations near an empty cloud, the cloud grown
 * to its size, the same window again, and the ratio (goal: within 1.2×).
 *   - server create → ACTIVE (8 clients) near the start and at 5,000 servers;
 *   - member add → load balancer ACTIVE (one client: Octavia holds the load balancer in
 *     PENDING_UPDATE while a change is applied, so member adds to one pool go one at a time)
 *     at 50 members and at 1,000, the pool grown between them by Octavia's batch member update
 *     (`PUT /v2/lbaas/pools/{id}/members`, one call as a deployment tool would use).
 * The servers' and members' objects stay until the end, then are removed.
 */

/** A window's rate, and what it cost the server in CPU (with its waited-for children) per operation. */
interface Window {
  rate: number;
  cpuMs?: number;
}

/** `n` operations by `run`, timed, with the server's CPU read around them when the benchmark started it. */
async function timedWindow(ctx: BenchContext, n: number, run: () => Promise<unknown>): Promise<Window> {
  const pids = ctx.pid ? [ctx.pid] : [];
  const cpu0 = cpuSeconds(pids, true);
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  return { rate: n / seconds, cpuMs: pids.length ? ((cpuSeconds(pids, true) - cpu0) * 1000) / n : undefined };
}

const unit = (w: Window) => `/s${w.cpuMs === undefined ? '' : ` (server CPU ${round(w.cpuMs, 2)} ms each)`}`;

export const growthScenario: Scenario = {
  name: 'growth',
  description: 'server create at 5,000 servers and member add at 1,000 members, each against the same near an empty cloud',
  async run(ctx: BenchContext): Promise<Result[]> {
    return [...(await serverGrowth(ctx, this.name)), ...(await memberGrowth(ctx, this.name))];
  },
};

async function serverGrowth(ctx: BenchContext, scenario: string): Promise<Result[]> {
  const { computeUrl, imageUrl } = ctx;
  if (!computeUrl || !imageUrl) {
    ctx.log('  server growth skipped: no compute/image endpoint (give --compute and --image with --url)');
    return [];
  }
  const c = ctx.client;
  const call = <T = unknown>(status: number, method: string, url: string, body?: unknown) => c.expect<T>(status, method, url, body, NOVA);
  const total = ctx.quick ? 500 : 5000;
  const window = ctx.quick ? 50 : 200;
  const net = (await c.expect<One<'network', { id: string; project_id: string }>>(201, 'POST', '/v2.0/networks', { network: { name: 'bench-growth' } })).body
    .network;
  await c.expect(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.96.0.0/16' } });
  await call(200, 'PUT', `${computeUrl}/v2.1/os-quota-sets/${net.project_id}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  const image = (await c.expect<Many<'images'>>(200, 'GET', `${imageUrl}/v2/images?name=cirros-0.3.3-x86_64-disk`)).body.images[0]?.id;
  if (!image) throw new Error('image cirros-0.3.3-x86_64-disk not found');
  const existing = (await call<Many<'servers'>>(200, 'GET', `${computeUrl}/v2.1/servers?all_tenants=1&limit=1000`)).body.servers.length;

  const ids: string[] = [];
  /** `n` servers created with 8 clients, each until ACTIVE. */
  const boot = (n: number) =>
    timedWindow(ctx, n, () =>
      runConcurrent(n, 8, async () => {
        const started = performance.now();
        const id = (
          await call<One<'server'>>(202, 'POST', `${computeUrl}/v2.1/servers`, {
            server: { name: `bench-growth-${ids.length}`, flavorRef: '42', imageRef: image, networks: [{ uuid: net.id }] },
          })
        ).body.server.id;
        ids.push(id);
        await untilServerActive(c, computeUrl, id);
        return performance.now() - started;
      }),
    );
  try {
    const small = await boot(window);
    const fill = total - window - existing - ids.length;
    for (let done = 0; done < fill; ) {
      const batch = Math.min(1000, fill - done);
      await boot(batch);
      done += batch;
      ctx.log(`  … ${existing + ids.length} servers`);
    }
    const large = await boot(window);
    const at = existing + ids.length;
    return [
      { scenario, metric: `server create → ACTIVE near ${existing + window} servers, 8 clients`, value: round(small.rate, 1), unit: unit(small) },
      { scenario, metric: `server create → ACTIVE at ${at.toLocaleString('en')} servers, 8 clients`, value: round(large.rate, 1), unit: unit(large) },
      {
        scenario,
        metric: `server create slowdown at ${at.toLocaleString('en')} vs ${existing + window} servers`,
        value: round(small.rate / large.rate, 2),
        unit: 'x',
        goal: '<= 1.2',
      },
    ];
  } finally {
    ctx.log(`  removing ${ids.length} servers`);
    await runConcurrent(ids.length, 8, async (i) => (await call(204, 'DELETE', `${computeUrl}/v2.1/servers/${ids[i]}`)).ms);
  }
}

async function memberGrowth(ctx: BenchContext, scenario: string): Promise<Result[]> {
  const base = ctx.loadBalancerUrl;
  if (!base) {
    ctx.log('  member growth skipped: no load-balancer endpoint (give --load-balancer with --url)');
    return [];
  }
  const c = ctx.client;
  const api = (p: string) => `${base}/v2/lbaas/${p}`;
  const total = ctx.quick ? 200 : 1000;
  const window = ctx.quick ? 20 : 50;
  const net = (await c.expect<One<'network'>>(201, 'POST', '/v2.0/networks', { network: { name: 'bench-growth-lb' } })).body.network.id;
  const subnet = (await c.expect<One<'subnet'>>(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.97.0.0/16' } })).body.subnet
    .id;
  const lbId = (await c.expect<One<'loadbalancer'>>(201, 'POST', api('loadbalancers'), { loadbalancer: { name: 'bench-growth', vip_subnet_id: subnet } })).body
    .loadbalancer.id;
  const settled = () => untilLoadBalancerActive(c, base, lbId, 2);
  // Members at addresses of the subnet nothing answers on: no health monitor, so the proxy keeps
  // them in rotation and each add is a full reconfiguration, as in production.
  const address = (i: number) => `10.97.${(i >> 8) & 255}.${i & 255 || 1}`;
  const member = (i: number) => ({ address: address(i), protocol_port: 1024 + (i % 60000), name: `m${i}` });
  try {
    await settled();
    const listener = (
      await c.expect<One<'listener'>>(201, 'POST', api('listeners'), { listener: { loadbalancer_id: lbId, protocol: 'HTTP', protocol_port: 8080 } })
    ).body.listener.id;
    await settled();
    const pool = (await c.expect<One<'pool'>>(201, 'POST', api('pools'), { pool: { listener_id: listener, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } }))
      .body.pool.id;
    await settled();
    let next = 0;
    /** `n` member adds one after another, each until the load balancer is ACTIVE again; adds per second. */
    const add = (n: number) =>
      timedWindow(ctx, n, async () => {
        for (let i = 0; i < n; i++) {
          await c.expect(201, 'POST', api(`pools/${pool}/members`), { member: member(next++) });
          await settled();
        }
      });
    const small = await add(window);
    const keep = Array.from({ length: total - window }, (_, i) => member(i));
    await c.expect(202, 'PUT', api(`pools/${pool}/members`), { members: keep });
    await settled();
    next = total - window;
    const large = await add(window);
    return [
      // No CPU figure: the server's CPU here is mostly answering the 2 ms status polls.
      { scenario, metric: `member add → ACTIVE at ${window} members`, value: round(small.rate, 1), unit: '/s' },
      { scenario, metric: `member add → ACTIVE at ${total.toLocaleString('en')} members`, value: round(large.rate, 1), unit: '/s' },
      {
        scenario,
        metric: `member add slowdown at ${total.toLocaleString('en')} vs ${window} members`,
        value: round(small.rate / large.rate, 2),
        unit: 'x',
        goal: '<= 1.2',
      },
    ];
  } finally {
    await c.call('DELETE', api(`loadbalancers/${lbId}?cascade=true`));
  }
}
