import type { RtListener, RtMember, RtPool } from '../../src/lb/config.js';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type TestCloud, serviceClients, tokenFor } from './cloud.js';
import { until } from './poll.js';

/** Clients for the load-balancer (Octavia) and network APIs as admin and demo. */
export async function lbClients(tc: TestCloud) {
  const lbApp = tc.cloud.apps.get('load-balancer')!;
  const net = await serviceClients(tc, 'network');
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

/** Wait until `ok(get())` (polling every 20 ms); throws with the last value when the time is up. */
export const waitFor = <T>(get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> => until('a condition', get, ok, timeoutMs, 20);

/** Engine configuration pieces for engine tests: an HTTP listener with Octavia's defaults… */
export const rtListener = (port: number, extra: Partial<RtListener> = {}): RtListener => ({
  id: 'l1',
  protocol: 'HTTP',
  port,
  connectionLimit: -1,
  timeoutClientData: 50000,
  timeoutMemberConnect: 1000,
  timeoutMemberData: 50000,
  timeoutTcpInspect: 0,
  insertHeaders: { forwardedFor: true, forwardedPort: false, forwardedProto: false },
  allowedCidrs: [],
  defaultPoolId: 'p1',
  policies: [],
  ...extra,
});

/** …a round-robin HTTP pool… */
export const rtPool = (members: RtMember[], extra: Partial<RtPool> = {}): RtPool => ({
  id: 'p1',
  protocol: 'HTTP',
  algorithm: 'ROUND_ROBIN',
  persistence: null,
  tls: false,
  enabled: true,
  members,
  monitor: null,
  ...extra,
});

/** …and a member on loopback. */
export const rtMember = (id: string, port: number, extra: Partial<RtMember> = {}): RtMember => ({
  id,
  address: '127.0.0.1',
  port,
  weight: 1,
  backup: false,
  enabled: true,
  checkAddress: '127.0.0.1',
  checkPort: port,
  ...extra,
});
