import { type Server, createServer } from 'node:http';
import { type Server as TcpServer, createServer as createTcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Vm, bootServer, eventually, names, netnsSuite } from '../support/dataplane.js';
import { httpGet, ping, sh } from '../support/netns.js';

/**
 * What the L3 agent's extensions do on the netns data plane. Address scopes: a router routes an
 * internal subnet that shares the external subnet's address scope out of its gateway with its
 * own source address (Neutron's L3 agent keeps same-scope traffic out of SNAT), and SNATs a
 * subnet of another scope; the host (DevStack's br-ex side, 172.24.4.1) sees who is talking.
 * Between its internal subnets a router routes only within one address scope (subnets without
 * one are a scope of their own), as the L3 agent's marks and its filter `scope` chain do.
 * Conntrack helpers: the router's connections to the helper's port get the kernel's helper.
 * NDP proxies: the kernel's proxy entries on the gateway leg.
 */
const s = netnsSuite();
const skip = s.skip;
let listener: Server;
let port: number;
/** The host route back to the scoped subnet (an upstream router would learn it, e.g. by BGP). */
let hostRoute: string[] | null = null;
let ftp: TcpServer | null = null;

beforeAll(async () => {
  if (skip) return;
  listener = createServer((req, res) => res.end(`${req.socket.remoteAddress}\n`));
  await new Promise<void>((r) => listener.listen(0, '172.24.4.1', r));
  port = (listener.address() as { port: number }).port;
});

afterAll(async () => {
  listener?.close();
  ftp?.close();
  if (hostRoute) await sh(['ip', 'route', 'del', ...hostRoute]).catch(() => undefined);
});

describe.skipIf(skip)(`netns data plane: address scopes${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let gwIp: string;
  let scoped: Vm;
  let other: Vm;
  let router: { id: string };
  let publicNet: { id: string; subnets: string[] };
  let scopedNet: { net: string };
  let int6: { id: string };
  let scopeId: string;
  let intPoolId: string;
  let otherPoolId: string;
  let otherNet: { net: string; subnet: { id: string; cidr: string } };

  it('routes a same-scope subnet out of the gateway with its own address and SNATs one of another scope', async () => {
    publicNet = (await s.admin.get('/v2.0/networks?name=public')).body.networks[0];
    // The external subnet joins a shared scope: it is re-made from a pool of that scope (same range and gateway).
    const scope = (await s.admin.post('/v2.0/address-scopes', { address_scope: { name: 'as-e2e', ip_version: 4, shared: true } })).body.address_scope;
    const pool = (prefixes: string[], scopeId: string | null) =>
      s.admin.post('/v2.0/subnetpools', {
        subnetpool: { name: `pool-${prefixes[0]}`, prefixes, default_prefixlen: 24, shared: true, ...(scopeId ? { address_scope_id: scopeId } : {}) },
      });
    const extPool = (await pool(['172.24.4.0/24'], scope.id)).body.subnetpool;
    const intPool = (await pool(['10.94.0.0/16'], scope.id)).body.subnetpool;
    const otherPool = (await pool(['10.95.0.0/16'], null)).body.subnetpool;
    scopeId = scope.id;
    intPoolId = intPool.id;
    otherPoolId = otherPool.id;
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

    // NDP proxies (below) need an IPv6 address scope on the external network and the internal subnet.
    const scope6 = (await s.admin.post('/v2.0/address-scopes', { address_scope: { name: 'as6-e2e', ip_version: 6, shared: true } })).body.address_scope;
    const pool6 = async (prefix: string) =>
      (
        await s.admin.post('/v2.0/subnetpools', {
          subnetpool: { name: `pool-${prefix}`, prefixes: [prefix], default_prefixlen: 64, shared: true, address_scope_id: scope6.id },
        })
      ).body.subnetpool;
    const ext6 = await pool6('2001:db8::/64');
    int6 = await pool6('2001:db8:94::/48');
    for (const sub of publicNet.subnets) {
      const found = (await s.admin.get(`/v2.0/subnets/${sub}`)).body.subnet;
      if (found?.ip_version === 6) expect((await s.admin.delete(`/v2.0/subnets/${sub}`)).status).toBe(204);
    }
    const ext6Subnet = await s.admin.post('/v2.0/subnets', {
      subnet: { network_id: publicNet.id, ip_version: 6, cidr: '2001:db8::/64', subnetpool_id: ext6.id, gateway_ip: '2001:db8::2', enable_dhcp: false },
    });
    expect(ext6Subnet.status).toBe(201);
    const tenantNet = async (name: string, poolId: string) => {
      const net = (await s.demo.post('/v2.0/networks', { network: { name } })).body.network;
      const subnet = (await s.demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: poolId, prefixlen: 24 } })).body.subnet;
      return { net: net.id, subnet };
    };
    const a = await tenantNet('scoped', intPool.id);
    const b = await tenantNet('unscoped', otherPool.id);
    scopedNet = a;
    otherNet = b;
    router = (await s.demo.post('/v2.0/routers', { router: { name: 'asr', external_gateway_info: { network_id: publicNet.id } } })).body.router;
    for (const n of [a, b]) expect((await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: n.subnet.id })).status).toBe(200);
    gwIp = (router as any).external_gateway_info.external_fixed_ips.find((f: { ip_address: string }) => f.ip_address.includes('.')).ip_address;
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

  it("gives the router's connections to a conntrack helper's port the kernel's helper", async () => {
    ftp = createTcpServer((c) => c.end('220 ps\r\n'));
    await new Promise<void>((r) => ftp!.listen(21, '172.24.4.1', r));
    const res = await s.demo.post(`/v2.0/routers/${router.id}/conntrack_helpers`, { conntrack_helper: { protocol: 'tcp', port: 21, helper: 'ftp' } });
    expect(res.status).toBe(201);
    await s.dp.idle();
    const ns = names.routerNs(router.id);
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'pocketstack-l3'])).toMatch(/tcp dport 21 ct helper set "ftp-tcp"/);
    await httpGet('ftp://172.24.4.1:21/', { ns: other.ns, timeoutS: 1 });
    const entries = await sh(['ip', 'netns', 'exec', ns, 'conntrack', '-L', '-p', 'tcp', '--dport', '21']);
    expect(entries).toContain('helper=ftp');
    expect((await s.demo.delete(`/v2.0/routers/${router.id}/conntrack_helpers/${res.body.conntrack_helper.id}`)).status).toBe(204);
    await s.dp.idle();
    // The table stays for the address scopes' wall (the router's subnets are in two scopes); the helper goes.
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'pocketstack-l3'])).not.toContain('ct helper');
  });

  it('answers for NDP proxies on the gateway leg and closes the rest of the scope from outside', async () => {
    const sub6 = (await s.demo.post('/v2.0/subnets', { subnet: { network_id: scopedNet.net, ip_version: 6, subnetpool_id: int6.id, prefixlen: 64 } })).body
      .subnet;
    expect((await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub6.id })).status).toBe(200);
    const enabled = await s.admin.put(`/v2.0/routers/${router.id}`, { router: { enable_ndp_proxy: true } });
    expect(enabled.status).toBe(200);
    const p = (await s.demo.post('/v2.0/ports', { port: { network_id: scopedNet.net, fixed_ips: [{ subnet_id: sub6.id }] } })).body.port;
    const ip6 = p.fixed_ips.find((f: { ip_address: string }) => f.ip_address.includes(':')).ip_address;
    const proxy = await s.demo.post('/v2.0/ndp_proxies', { ndp_proxy: { router_id: router.id, port_id: p.id } });
    expect(proxy.status).toBe(201);
    await s.dp.idle();

    const ns = names.routerNs(router.id);
    const gw = (await s.admin.get(`/v2.0/routers/${router.id}`)).body.router;
    const qg = names.routerGateway(
      gw.gw_port_id ?? (await s.admin.get(`/v2.0/ports?device_id=${router.id}&device_owner=network:router_gateway`)).body.ports[0].id,
    );
    const proxies = JSON.parse(await sh(['ip', '-n', ns, '-j', '-6', 'neigh', 'show', 'proxy']));
    expect(proxies).toEqual([expect.objectContaining({ dst: ip6, dev: qg })]);
    const table = await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'pocketstack-l3']);
    expect(table).toContain(`iifname "${qg}" ip6 daddr ${sub6.cidr} ip6 daddr != ${ip6} drop`);

    expect((await s.demo.delete(`/v2.0/ndp_proxies/${proxy.body.ndp_proxy.id}`)).status).toBe(204);
    await s.dp.idle();
    expect((await sh(['ip', '-n', ns, '-6', 'neigh', 'show', 'proxy'])).trim()).toBe('');
  });

  it('routes between internal subnets of one scope, walls off another scope, and takes the wall down when the scopes are made equal', async () => {
    // A third subnet from the scoped pool: the same scope as the first.
    const net = (await s.demo.post('/v2.0/networks', { network: { name: 'peer' } })).body.network;
    const sub = (await s.demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: intPoolId, prefixlen: 24 } })).body.subnet;
    expect((await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id })).status).toBe(200);
    const peer = await bootServer(s, 'peer', { network: net.id });
    await s.dp.idle();
    const ns = names.routerNs(router.id);
    const otherLeg = (await s.admin.get(`/v2.0/ports?device_id=${router.id}&network_id=${otherNet.net}`)).body.ports[0];
    const wall = `oifname "${names.routerInterface(otherLeg.id)}" meta nfproto ipv4 meta mark != 0x04000000/16 drop`;
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'pocketstack-l3'])).toContain(wall);

    expect(await ping(peer.ip, { ns: scoped.ns, timeoutS: 3 })).toBe(true);
    expect(await ping(scoped.ip, { ns: peer.ns, timeoutS: 3 })).toBe(true);
    // (nft prints the agent's `-m mark ! --mark 0x4000000/0xffff0000` as a prefix of the mark.)
    // Another scope (none): no way through the router, in either direction.
    expect(await ping(other.ip, { ns: scoped.ns, timeoutS: 2 })).toBe(false);
    expect(await ping(scoped.ip, { ns: other.ns, timeoutS: 2 })).toBe(false);
    expect(await ping(other.ip, { ns: peer.ns, timeoutS: 2 })).toBe(false);

    // The other subnet's pool joins the scope: one scope, no wall, and the subnets reach each other.
    const joined = await s.admin.put(`/v2.0/subnetpools/${otherPoolId}`, { subnetpool: { address_scope_id: scopeId } });
    expect(joined.status).toBe(200);
    await s.dp.idle();
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'])).not.toMatch(/meta mark != 0x[0-9a-f]+\/16 drop/);
    expect(await ping(other.ip, { ns: scoped.ns, timeoutS: 3 })).toBe(true);
    expect(await ping(scoped.ip, { ns: other.ns, timeoutS: 3 })).toBe(true);
  });
});
