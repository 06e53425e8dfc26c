import { type BenchClient, type Many, type One, runConcurrent } from '../client.js';
import type { BenchContext, Result, Scenario } from '../scenario.js';
import { round, summarize } from '../stats.js';

export const NOVA = { 'openstack-api-version': 'compute 2.96' };

/**
 * GET a server every 5 ms until it is ACTIVE (an ERROR throws, with Nova's fault). Real clients poll
 * far less often (`--wait`: every 5 s), so this measures the service, not a client.
 */
export async function untilServerActive(c: BenchClient, computeUrl: string, id: string): Promise<void> {
  for (;;) {
    const s = (await c.expect<One<'server', { status: string; fault?: unknown }>>(200, 'GET', `${computeUrl}/v2.1/servers/${id}`, undefined, NOVA)).body.server;
    if (s.status === 'ACTIVE') return;
    if (s.status === 'ERROR') throw new Error(`server ${id} went to ERROR: ${JSON.stringify(s.fault)}`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

/**
 * Server create → ACTIVE: POST /servers on a network, then GET it every 5 ms until it is ACTIVE.
 * With the noop data plane this is Nova's own path: schedule, create and bind the port through
 * Neutron, wait for the port to go ACTIVE. (Real clients poll far less often: `--wait` polls every
 * 5 s, so this measures the service, not a client.)
 */
const serverBoot: Scenario = {
  name: 'compute',
  description: 'server create → ACTIVE latency (noop data plane), 1 and 8 concurrent clients',
  async run(ctx: BenchContext) {
    const { computeUrl, imageUrl } = ctx;
    if (!computeUrl || !imageUrl) {
      ctx.log('  skipped: no compute/image endpoint (give --compute and --image with --url)');
      return [];
    }
    const c = ctx.client;
    const call = <T = unknown>(status: number, method: string, url: string, body?: unknown) => c.expect<T>(status, method, url, body, NOVA);
    const net = (await c.expect<One<'network', { id: string; project_id: string }>>(201, 'POST', '/v2.0/networks', { network: { name: 'bench-servers' } })).body
      .network;
    await c.expect(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.210.0.0/16' } });
    // Nova's default quota is 10 instances: lift it for the measuring project.
    await call(200, 'PUT', `${computeUrl}/v2.1/os-quota-sets/${net.project_id}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
    const image = (await c.expect<Many<'images'>>(200, 'GET', `${imageUrl}/v2/images?name=cirros-0.3.3-x86_64-disk`)).body.images[0]?.id;
    if (!image) throw new Error('image cirros-0.3.3-x86_64-disk not found');

    const out: Result[] = [];
    for (const [clients, n] of [
      [1, ctx.quick ? 20 : 100],
      [8, ctx.quick ? 40 : 200],
    ] as const) {
      const ids: string[] = [];
      const posts: number[] = [];
      const r = await runConcurrent(n, clients, async (i) => {
        const started = performance.now();
        const res = await call<One<'server'>>(202, 'POST', `${computeUrl}/v2.1/servers`, {
          server: { name: `bench-${clients}-${i}`, flavorRef: '42', imageRef: image, networks: [{ uuid: net.id }] },
        });
        posts.push(res.ms);
        const id = res.body.server.id;
        ids.push(id);
        await untilServerActive(c, computeUrl, id);
        return performance.now() - started;
      });
      const s = summarize(r.latencies);
      const p = summarize(posts);
      const who = `${clients} client${clients > 1 ? 's' : ''}`;
      out.push({ scenario: this.name, metric: `server create → ACTIVE p50, ${who}`, value: round(s.p50), unit: `ms (p99 ${round(s.p99)} ms)` });
      out.push({ scenario: this.name, metric: `POST /servers p50, ${who}`, value: round(p.p50), unit: `ms (p99 ${round(p.p99)} ms)` });
      out.push({ scenario: this.name, metric: `servers booted to ACTIVE, ${who}`, value: round(n / r.seconds, 1), unit: '/s' });
      await runConcurrent(ids.length, 8, async (i) => (await call(204, 'DELETE', `${computeUrl}/v2.1/servers/${ids[i]}`)).ms);
    }
    return out;
  },
};

export const computeScenarios: Scenario[] = [serverBoot];
