import { type One, runConcurrent } from '../client.js';
import type { BenchContext, Result, Scenario } from '../scenario.js';
import { round, summarize } from '../stats.js';

const plural = (c: number) => `${c} client${c > 1 ? 's' : ''}`;

/** An external network with a large pool, as an admin makes one. */
async function externalNetwork(ctx: BenchContext, name: string, cidr: string): Promise<string> {
  const net = (await ctx.client.expect<One<'network'>>(201, 'POST', '/v2.0/networks', { network: { name, 'router:external': true } })).body.network.id;
  await ctx.client.expect(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr, enable_dhcp: false, name: `${name}-subnet` } });
  return net;
}

const routerInterfaceAdd: Scenario = {
  name: 'router-interface-add',
  description: 'router interfaces added per second (by subnet, four per router), 1 and 8 clients',
  async run(ctx) {
    const out: Result[] = [];
    let block = 0;
    for (const c of [1, 8]) {
      const n = ctx.quick ? 40 : 200;
      // Setup (not measured): n subnets on distinct /24s, one router per four of them.
      const subnets: string[] = [];
      const nets: string[] = [];
      await runConcurrent(n, 8, async (i) => {
        const b = block + i;
        const net = (await ctx.client.expect<One<'network'>>(201, 'POST', '/v2.0/networks', { network: { name: `bench-rif-${c}-${i}` } })).body.network.id;
        const cidr = `10.${128 + Math.floor(b / 256)}.${b % 256}.0/24`;
        const res = await ctx.client.expect<One<'subnet'>>(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr } });
        nets[i] = net;
        subnets[i] = res.body.subnet.id;
        return 0;
      });
      block += n;
      const routers: string[] = [];
      for (let i = 0; i < n / 4; i++)
        routers.push((await ctx.client.expect<One<'router'>>(201, 'POST', '/v2.0/routers', { router: { name: `bench-r-${c}-${i}` } })).body.router.id);
      const r = await runConcurrent(
        n,
        c,
        async (i) => (await ctx.client.expect(200, 'PUT', `/v2.0/routers/${routers[i % routers.length]}/add_router_interface`, { subnet_id: subnets[i] })).ms,
      );
      const s = summarize(r.latencies);
      out.push({ scenario: this.name, metric: `router interface add, ${plural(c)}`, value: round(n / r.seconds, 0), unit: '/s' });
      out.push({ scenario: this.name, metric: `router interface add p50 / p99, ${plural(c)}`, value: round(s.p50), unit: `ms (p99 ${round(s.p99)} ms)` });
      // Cleanup (not measured).
      await runConcurrent(
        n,
        8,
        async (i) =>
          (await ctx.client.expect(200, 'PUT', `/v2.0/routers/${routers[i % routers.length]}/remove_router_interface`, { subnet_id: subnets[i] })).ms,
      );
      await runConcurrent(routers.length, 8, async (i) => (await ctx.client.expect(204, 'DELETE', `/v2.0/routers/${routers[i]}`)).ms);
      await runConcurrent(n, 8, async (i) => (await ctx.client.expect(204, 'DELETE', `/v2.0/networks/${nets[i]}`)).ms);
    }
    return out;
  },
};

const floatingIpCreate: Scenario = {
  name: 'floatingip-create',
  description: 'floating IPs created (allocated) and associated per second, 1 and 8 clients',
  async run(ctx) {
    const out: Result[] = [];
    const ext = await externalNetwork(ctx, 'bench-ext', '172.30.0.0/16');
    // A tenant network routed to it, with ports to associate.
    const net = (await ctx.client.expect<One<'network'>>(201, 'POST', '/v2.0/networks', { network: { name: 'bench-fip-private' } })).body.network.id;
    const subnet = (await ctx.client.expect<One<'subnet'>>(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.210.0.0/16' } }))
      .body.subnet.id;
    const router = (
      await ctx.client.expect<One<'router'>>(201, 'POST', '/v2.0/routers', { router: { name: 'bench-fip-router', external_gateway_info: { network_id: ext } } })
    ).body.router.id;
    await ctx.client.expect(200, 'PUT', `/v2.0/routers/${router}/add_router_interface`, { subnet_id: subnet });
    const fips: string[] = [];
    for (const c of [1, 8]) {
      const n = ctx.quick ? 100 : 500;
      const r = await runConcurrent(n, c, async () => {
        const res = await ctx.client.expect<One<'floatingip'>>(201, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext } });
        fips.push(res.body.floatingip.id);
        return res.ms;
      });
      const s = summarize(r.latencies);
      out.push({ scenario: this.name, metric: `floating IP create, ${plural(c)}`, value: round(n / r.seconds, 0), unit: '/s' });
      out.push({ scenario: this.name, metric: `floating IP create p50 / p99, ${plural(c)}`, value: round(s.p50), unit: `ms (p99 ${round(s.p99)} ms)` });

      // Associate each new floating IP with its own port (ports made beforehand, not measured).
      const ports: string[] = [];
      await runConcurrent(n, 8, async (i) => {
        ports[i] = (await ctx.client.expect<One<'port'>>(201, 'POST', '/v2.0/ports', { port: { network_id: net } })).body.port.id;
        return 0;
      });
      const batch = fips.slice(-n);
      const a = await runConcurrent(
        n,
        c,
        async (i) => (await ctx.client.expect(200, 'PUT', `/v2.0/floatingips/${batch[i]}`, { floatingip: { port_id: ports[i] } })).ms,
      );
      const as = summarize(a.latencies);
      out.push({ scenario: this.name, metric: `floating IP associate, ${plural(c)}`, value: round(n / a.seconds, 0), unit: '/s' });
      out.push({ scenario: this.name, metric: `floating IP associate p50 / p99, ${plural(c)}`, value: round(as.p50), unit: `ms (p99 ${round(as.p99)} ms)` });
    }
    // Cleanup (not measured).
    await runConcurrent(fips.length, 8, async (i) => (await ctx.client.expect(204, 'DELETE', `/v2.0/floatingips/${fips[i]}`)).ms);
    return out;
  },
};

export const l3Scenarios: Scenario[] = [routerInterfaceAdd, floatingIpCreate];
