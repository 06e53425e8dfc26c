import { Client, type TestCloud, networkClients, tokenFor, ADMIN_PASSWORD, DEMO_PASSWORD } from './cloud.js';

/** Clients for the load-balancer (Octavia) and network APIs as admin and demo. */
export async function lbClients(tc: TestCloud) {
  const lbApp = tc.cloud.apps.get('load-balancer')!;
  const net = await networkClients(tc);
  const adminToken = await tokenFor(tc, 'admin', ADMIN_PASSWORD);
  const demoToken = await tokenFor(tc, 'demo', DEMO_PASSWORD);
  return {
    admin: new Client(lbApp, adminToken),
    demo: new Client(lbApp, demoToken),
    anon: new Client(lbApp),
    net,
  };
}

/** A network with one IPv4 subnet, owned by the client's project. */
export async function makeSubnet(net: Client, cidr = '10.20.0.0/24', name = 'lbnet'): Promise<{ networkId: string; subnetId: string }> {
  const n = await net.post('/v2.0/networks', { network: { name } });
  if (n.status !== 201) throw new Error(`network: ${n.status} ${JSON.stringify(n.body)}`);
  const s = await net.post('/v2.0/subnets', { subnet: { network_id: n.body.network.id, cidr, ip_version: 4, name: `${name}-subnet` } });
  if (s.status !== 201) throw new Error(`subnet: ${s.status} ${JSON.stringify(s.body)}`);
  return { networkId: n.body.network.id, subnetId: s.body.subnet.id };
}

/** Wait until `get()` returns a body whose `pick(body)` equals `want` (polling every 20 ms). */
export async function waitFor<T>(get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T = await get();
  while (!ok(last)) {
    if (Date.now() > end) throw new Error(`timed out; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
    last = await get();
  }
  return last;
}
