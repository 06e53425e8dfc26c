/**
 * explain against the kernel: on the netns data plane, 20 generated questions (source, destination,
 * protocol, port) over a small cloud with a router, floating IPs, security groups admitting some
 * ports from anywhere and some only from a remote group, a closed group, and a subnet the router does
 * not serve. For each, explain's verdict from the model must agree with the real probe it sends
 * between the namespaces (a TCP handshake or RST, an ICMP echo reply, or silence).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Client, DEMO_PASSWORD } from '../support/cloud.js';
import { bootServer, makeNetwork, netnsSuite, type Vm } from '../support/dataplane.js';
import { seededRandom } from '../support/random.js';

const s = netnsSuite();

describe.skipIf(s.skip)('explain and real probes agree', () => {
  const vms: Record<string, Vm> = {};
  const fips: Record<string, string> = {};
  let dash: Client;

  beforeAll(async () => {
    const a = await makeNetwork(s, 'net-a', '10.71.1.0/24');
    const b = await makeNetwork(s, 'net-b', '10.71.2.0/24');
    const c = await makeNetwork(s, 'net-c', '10.71.3.0/24');
    const pub = (await s.demo.get('/v2.0/networks?name=public')).body.networks[0].id;
    const router = (await s.demo.post('/v2.0/routers', { router: { name: 'r', external_gateway_info: { network_id: pub } } })).body.router.id;
    for (const sub of [a.subnet, b.subnet]) await s.demo.put(`/v2.0/routers/${router}/add_router_interface`, { subnet_id: sub });
    const group = async (name: string) => (await s.demo.post('/v2.0/security-groups', { security_group: { name } })).body.security_group.id as string;
    const rule = (sg: string, r: Record<string, unknown>) =>
      s.demo.post('/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', ...r } });
    const web = await group('web');
    const api = await group('api');
    const closed = await group('closed');
    await rule(web, { protocol: 'tcp', port_range_min: 80, port_range_max: 80 });
    await rule(web, { protocol: 'icmp' });
    await rule(api, { protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_group_id: web });
    await rule(api, { protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.71.2.0/24' });
    const port = async (net: string, sg: string) =>
      (await s.demo.post('/v2.0/ports', { port: { network_id: net, security_groups: [sg] } })).body.port.id as string;
    vms.a1 = await bootServer(s, 'a1', { port: await port(a.net, web) });
    vms.a2 = await bootServer(s, 'a2', { port: await port(a.net, api) });
    vms.b1 = await bootServer(s, 'b1', { port: await port(b.net, web) });
    vms.b2 = await bootServer(s, 'b2', { port: await port(b.net, closed) });
    vms.c1 = await bootServer(s, 'c1', { port: await port(c.net, web) });
    for (const name of ['a1', 'b2']) {
      const f = (await s.demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub, port_id: vms[name].port.id ?? vms[name].port } })).body
        .floatingip;
      fips[name] = f.floating_ip_address;
    }
    await s.dp.idle();
    dash = new Client(s.tc.cloud.dashboard);
    const login = await dash.post('/api/login', { username: 'demo', password: DEMO_PASSWORD });
    dash = dash.withToken(login.body.token);
  });

  it('on 20 generated pairs', async () => {
    const next = seededRandom(16);
    const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)];
    const sources = ['internet', 'a1', 'a2', 'b1', 'b2', 'c1'];
    const targets = ['a1', 'a2', 'b1', 'b2', 'c1', `fip:a1`, `fip:b2`];
    const results: Array<{ q: string; verdict: string; outcome: string; agrees: boolean | null }> = [];
    let asked = 0;
    while (results.length < 20 && asked < 200) {
      asked++;
      const from = pick(sources);
      const toName = pick(targets);
      if (toName === from) continue;
      const to = toName.startsWith('fip:') ? fips[toName.slice(4)] : vms[toName].id;
      const protocol = pick(['tcp', 'tcp', 'icmp']);
      const port = pick([80, 80, 22, 8080]);
      const q = new URLSearchParams({
        from: from === 'internet' ? 'internet' : vms[from].id,
        to,
        protocol,
        ...(protocol === 'icmp' ? {} : { port: String(port) }),
      });
      const res = await dash.get(`/explain?${q}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const e = res.body;
      // Questions whose probe would leave the machine are answered from the model alone.
      if (e.probe.outcome === 'not sent') {
        expect(e.verdict).toBe('denied');
        continue;
      }
      if (process.env.EXPLAIN_DEBUG)
        process.stdout.write(
          `${from} → ${toName} ${protocol}/${port}: ${JSON.stringify(
            e.hops.map((h: { step: string; detail: string }) => `${h.step}: ${h.detail}`),
            null,
            1,
          )}\n`,
        );
      results.push({
        q: `${from} → ${toName} ${protocol}${protocol === 'icmp' ? '' : `/${port}`}`,
        verdict: e.verdict,
        outcome: e.probe.outcome,
        agrees: e.probe.agrees,
      });
    }
    process.stdout.write(`${results.map((r) => `${r.agrees ? 'agree   ' : 'DISAGREE'} ${r.verdict.padEnd(8)} ${r.outcome.padEnd(10)} ${r.q}`).join('\n')}\n`);
    expect(results).toHaveLength(20);
    expect(results.filter((r) => r.agrees !== true)).toEqual([]);
    expect(results.filter((r) => r.verdict === 'allowed').length).toBeGreaterThanOrEqual(4);
    expect(results.filter((r) => r.verdict === 'denied').length).toBeGreaterThanOrEqual(4);
  });
});
