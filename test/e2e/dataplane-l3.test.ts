import { rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../src/dataplane/netns/down.js';
import type { NetnsDataPlane } from '../../src/dataplane/netns/driver.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type Client, type TestCloud, networkClients, serviceClients, startCloud } from '../support/cloud.js';
import { httpGet, ping, sh, webUserData } from '../support/netns.js';
import { ROOT, missing } from '../support/requires.js';

/**
 * Routers and floating IPs on the netns data plane, through the in-process APIs: legs, NAT,
 * status, moving floating IPs, extra routes, interfaces and routers going away.
 */
const names = new Names('pt');
const skip = missing([ROOT]);
let tc: TestCloud;
let demo: Client;
let admin: Client;
let nova: Client;
let dp: NetnsDataPlane;
let publicId: string;
let imageId: string;
let listener: Server;
let port: number;

interface Vm {
  id: string;
  ns: string;
  ip: string;
  portId: string;
}

async function network(name: string, cidr: string): Promise<{ net: string; subnet: string }> {
  const net = (await demo.post('/v2.0/networks', { network: { name } })).body.network.id;
  const subnet = (await demo.post('/v2.0/subnets', { subnet: { network_id: net, cidr, ip_version: 4 } })).body.subnet.id;
  return { net, subnet };
}

async function boot(name: string, net: string): Promise<Vm> {
  const res = await nova.post('/v2.1/servers', { server: { name, flavorRef: '1', imageRef: imageId, networks: [{ uuid: net }], user_data: Buffer.from(webUserData(name)).toString('base64') } });
  expect(res.status).toBe(202);
  let s: any;
  for (let i = 0; i < 500 && s?.status !== 'ACTIVE'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    s = (await nova.get(`/v2.1/servers/${res.body.server.id}`)).body.server;
  }
  expect(s.status).toBe('ACTIVE');
  const p = (await admin.get(`/v2.0/ports?device_id=${s.id}`)).body.ports[0];
  return { id: s.id, ns: names.instanceNs(s.id), ip: p.fixed_ips[0].ip_address, portId: p.id };
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

const converge = () => dp.idle();

beforeAll(async () => {
  if (skip) return;
  await teardown(names);
  tc = await startCloud({ config: { dataplane: 'netns', dataplanePrefix: 'pt', dataplaneResyncMs: 60_000, runUserData: true } });
  dp = tc.cloud.services.dataplane as NetnsDataPlane;
  ({ demo, admin } = await networkClients(tc));
  nova = (await serviceClients(tc, 'compute')).demo;
  publicId = (await demo.get('/v2.0/networks?name=public')).body.networks[0].id;
  imageId = (await (await serviceClients(tc, 'image')).demo.get('/v2/images')).body.images[0].id;
  const sg = (await demo.get('/v2.0/security-groups?name=default')).body.security_groups[0];
  for (const r of [{ protocol: 'tcp', port_range_min: 80, port_range_max: 80 }, { protocol: 'icmp' }]) {
    await demo.post('/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv4', ...r } });
  }
  listener = createServer((req, res) => res.end(`${req.socket.remoteAddress}\n`));
});

afterAll(async () => {
  if (skip) return;
  listener?.close();
  await tc?.cloud.close();
  await teardown(names);
  if (tc) rmSync(tc.dir, { recursive: true, force: true });
});

describe.skipIf(skip)(`netns data plane: routers and floating IPs${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let router: any;
  let a: Vm;
  let b: Vm;
  let nets: Record<string, { net: string; subnet: string }>;

  it('builds a router namespace with a qr- leg per interface and a qg- leg on public', async () => {
    nets = { a: await network('l3a', '10.92.1.0/24'), b: await network('l3b', '10.92.2.0/24') };
    router = (await demo.post('/v2.0/routers', { router: { name: 'l3r', external_gateway_info: { network_id: publicId } } })).body.router;
    for (const n of Object.values(nets)) expect((await demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: n.subnet })).status).toBe(200);
    a = await boot('a', nets.a.net);
    b = await boot('b', nets.b.net);
    const ns = names.routerNs(router.id);
    expect((await listNamespaces()).has(ns)).toBe(true);
    const legs = (await sh(['ip', '-n', ns, '-br', 'addr'])).split('\n').map((l) => l.split(/\s+/));
    expect(legs.filter((l) => l[0]?.startsWith('qr-')).map((l) => l[2]).sort()).toEqual(['10.92.1.1/24', '10.92.2.1/24']);
    const gw = (await demo.get(`/v2.0/routers/${router.id}`)).body.router;
    const gwIp = gw.external_gateway_info.external_fixed_ips.find((f: any) => f.ip_address.includes('.')).ip_address;
    expect(legs.find((l) => l[0]?.startsWith('qg-'))?.slice(2)).toContain(`${gwIp}/24`);
    expect(await sh(['ip', '-n', ns, 'route', 'show', 'default'])).toContain('via 172.24.4.1');
    expect((await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');
    expect(gw.status).toBe('ACTIVE');
    router = gw;
  });

  it('routes between its subnets without NAT', async () => {
    expect(await eventually(() => httpGet(`http://${b.ip}/`, { ns: a.ns }), (v) => v !== null)).toBe(`b ${a.ip}`);
  });

  it('makes a floating IP reachable from the host once associated (ACTIVE), and not after', async () => {
    const fip = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: a.portId } })).body.floatingip;
    await converge();
    expect((await demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status).toBe('ACTIVE');
    expect(await ping(fip.floating_ip_address)).toBe(true);
    expect(await httpGet(`http://${fip.floating_ip_address}/`)).toBe('a 172.24.4.1');
    // Moved to another server: the address now leads there.
    await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: b.portId } });
    await converge();
    expect(await eventually(() => httpGet(`http://${fip.floating_ip_address}/`), (v) => v === 'b 172.24.4.1')).toBe('b 172.24.4.1');
    await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: null } });
    await converge();
    expect((await demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status).toBe('DOWN');
    expect(await ping(fip.floating_ip_address, { timeoutS: 1 })).toBe(false);
    await demo.delete(`/v2.0/floatingips/${fip.id}`);
  });

  it('SNATs outbound traffic to the gateway address only while enable_snat is on', async () => {
    await new Promise<void>((r) => listener.listen(0, '172.24.4.1', r));
    port = (listener.address() as { port: number }).port;
    const gwIp = router.external_gateway_info.external_fixed_ips.find((f: any) => f.ip_address.includes('.')).ip_address;
    expect(await httpGet(`http://172.24.4.1:${port}/`, { ns: a.ns })).toBe(gwIp);
    const ns = names.routerNs(router.id);
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'pocketstack'])).toContain(`snat to ${gwIp}`);
    const off = await admin.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: publicId, enable_snat: false } } });
    expect(off.status).toBe(200);
    await converge();
    // No default SNAT rule any more (traffic is not sent: a reply to a tenant address would leave the host).
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'pocketstack'])).not.toContain(`oifname "qg-`);
    await admin.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: publicId, enable_snat: true } } });
    await converge();
    expect(await httpGet(`http://172.24.4.1:${port}/`, { ns: a.ns })).toBe(gwIp);
  });

  it('installs extra routes and removes them', async () => {
    const ns = names.routerNs(router.id);
    expect((await demo.put(`/v2.0/routers/${router.id}`, { router: { routes: [{ destination: '192.168.77.0/24', nexthop: b.ip }] } })).status).toBe(200);
    await converge();
    expect(await sh(['ip', '-n', ns, 'route', 'show', '192.168.77.0/24'])).toContain(`via ${b.ip}`);
    await demo.put(`/v2.0/routers/${router.id}`, { router: { routes: [] } });
    await converge();
    expect(await sh(['ip', '-n', ns, 'route', 'show', '192.168.77.0/24'])).toBe('');
  });

  it('drops the leg of a removed interface, then the router itself', async () => {
    expect((await demo.put(`/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: nets.b.subnet })).status).toBe(200);
    await converge();
    expect(await httpGet(`http://${b.ip}/`, { ns: a.ns, timeoutS: 1 })).toBeNull();
    const ns = names.routerNs(router.id);
    expect((await sh(['ip', '-n', ns, '-br', 'addr'])).includes('10.92.2.1')).toBe(false);
    await demo.put(`/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: nets.a.subnet });
    await demo.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: {} } });
    await converge();
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'])).toBe('');
    expect((await demo.delete(`/v2.0/routers/${router.id}`)).status).toBe(204);
    await converge();
    expect((await listNamespaces()).has(ns)).toBe(false);
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ changes: 0, errors: 0 });
  });
});
