import { type Server, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Vm, bootServer, eventually, names, netnsSuite } from '../support/dataplane.js';
import { httpGet, sh } from '../support/netns.js';

/**
 * Address scopes on the netns data plane: a router routes an internal subnet that shares the
 * external subnet's address scope out of its gateway with its own source address (Neutron's L3
 * agent keeps same-scope traffic out of SNAT), and SNATs a subnet of another scope. The host
 * (DevStack's br-ex side, 172.24.4.1) sees who is talking.
 */
const s = netnsSuite();
const skip = s.skip;
let listener: Server;
let port: number;
/** The host route back to the scoped subnet (an upstream router would learn it, e.g. by BGP). */
let hostRoute: string[] | null = null;

beforeAll(async () => {
  if (skip) return;
  listener = createServer((req, res) => res.end(`${req.socket.remoteAddress}\n`));
  await new Promise<void>((r) => listener.listen(0, '172.24.4.1', r));
  port = (listener.address() as { port: number }).port;
});

afterAll(async () => {
  listener?.close();
  if (hostRoute) await sh(['ip', 'route', 'del', ...hostRoute]).catch(() => undefined);
});

describe.skipIf(skip)(`netns data plane: address scopes${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let gwIp: string;
  let scoped: Vm;
  let other: Vm;

  it('routes a same-scope subnet out of the gateway with its own address and SNATs one of another scope', async () => {
    const publicNet = (await s.admin.get('/v2.0/networks?name=public')).body.networks[0];
    // The external subnet joins a shared scope: it is re-made from a pool of that scope (same range and gateway).
    const scope = (await s.admin.post('/v2.0/address-scopes', { address_scope: { name: 'as-e2e', ip_version: 4, shared: true } })).body.address_scope;
    const pool = (prefixes: string[], scopeId: string | null) =>
      s.admin.post('/v2.0/subnetpools', {
        subnetpool: { name: `pool-${prefixes[0]}`, prefixes, default_prefixlen: 24, shared: true, ...(scopeId ? { address_scope_id: scopeId } : {}) },
      });
    const extPool = (await pool(['172.24.4.0/24'], scope.id)).body.subnetpool;
    const intPool = (await pool(['10.94.0.0/16'], scope.id)).body.subnetpool;
    const otherPool = (await pool(['10.95.0.0/16'], null)).body.subnetpool;
    for (const sub of publicNet.subnets) {
      const found = (await s.admin.get(`/v2.0/subnets/${sub}`)).body.subnet;
      if (found.ip_version === 4) expect((await s.admin.delete(`/v2.0/subnets/${sub}`)).status).toBe(204);
    }
    const ext = await s.admin.post('/v2.0/subnets', {
      subnet: {
        network_id: publicNet.id,
        ip_version: 4,
        cidr: '172.24.4.0/24',
        subnetpool_id: extPool.id,
        gateway_ip: '172.24.4.1',
        allocation_pools: [{ start: '172.24.4.10', end: '172.24.4.250' }],
        enable_dhcp: false,
      },
    });
    expect(ext.status).toBe(201);

    const tenantNet = async (name: string, poolId: string) => {
      const net = (await s.demo.post('/v2.0/networks', { network: { name } })).body.network;
      const subnet = (await s.demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: poolId, prefixlen: 24 } })).body.subnet;
      return { net: net.id, subnet };
    };
    const a = await tenantNet('scoped', intPool.id);
    const b = await tenantNet('unscoped', otherPool.id);
    const router = (await s.demo.post('/v2.0/routers', { router: { name: 'asr', external_gateway_info: { network_id: publicNet.id } } })).body.router;
    for (const n of [a, b]) expect((await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: n.subnet.id })).status).toBe(200);
    gwIp = router.external_gateway_info.external_fixed_ips.find((f: { ip_address: string }) => f.ip_address.includes('.')).ip_address;
    scoped = await bootServer(s, 'scoped', { network: a.net });
    other = await bootServer(s, 'other', { network: b.net });
    await s.dp.idle();

    const table = await sh(['ip', 'netns', 'exec', names.routerNs(router.id), 'nft', 'list', 'table', 'ip', 'pocketstack']);
    expect(table).toContain(`ip saddr ${a.subnet.cidr} accept`);
    expect(table).not.toContain(b.subnet.cidr.replace('/24', ''));

    // The host needs a way back to the scoped subnet; the other one's replies go to the gateway address.
    hostRoute = [a.subnet.cidr, 'via', gwIp];
    await sh(['ip', 'route', 'replace', ...hostRoute]);
    const from = (vm: Vm) =>
      eventually(
        () => httpGet(`http://172.24.4.1:${port}/`, { ns: vm.ns }),
        (v) => v !== null,
        20_000,
      );
    expect(await from(scoped)).toBe(scoped.ip);
    expect(await from(other)).toBe(gwIp);
  });
});
