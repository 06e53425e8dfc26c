import { type Server, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { type Vm, allowIngress, bootServer, eventually, makeNetwork, names, netnsSuite } from '../support/dataplane.js';
import { httpGet, ping, sh, webUserData } from '../support/netns.js';

/**
 * Routers and floating IPs on the netns data plane, through the in-process APIs: legs, NAT,
 * status, moving floating IPs, extra routes, interfaces and routers going away.
 */
const s = netnsSuite({ runUserData: true });
const skip = s.skip;
let publicId: string;
let listener: Server;
let port: number;

const boot = async (name: string, net: string) => bootServer(s, name, { network: net }, { userData: webUserData(name) });
const converge = () => s.dp.idle();

beforeAll(async () => {
  if (skip) return;
  publicId = (await s.demo.get('/v2.0/networks?name=public')).body.networks[0].id;
  await allowIngress(s, { protocol: 'tcp', port_range_min: 80, port_range_max: 80 }, { protocol: 'icmp' });
  listener = createServer((req, res) => res.end(`${req.socket.remoteAddress}\n`));
});

afterAll(() => {
  listener?.close();
});

describe.skipIf(skip)(`netns data plane: routers and floating IPs${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let router: any;
  let a: Vm;
  let b: Vm;
  let nets: Record<string, { net: string; subnet: string }>;

  it('builds a router namespace with a qr- leg per interface and a qg- leg on public', async () => {
    nets = { a: await makeNetwork(s, 'l3a', '10.92.1.0/24'), b: await makeNetwork(s, 'l3b', '10.92.2.0/24') };
    router = (await s.demo.post('/v2.0/routers', { router: { name: 'l3r', external_gateway_info: { network_id: publicId } } })).body.router;
    for (const n of Object.values(nets))
      expect((await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: n.subnet })).status).toBe(200);
    a = await boot('a', nets.a.net);
    b = await boot('b', nets.b.net);
    const ns = names.routerNs(router.id);
    expect((await listNamespaces()).has(ns)).toBe(true);
    const legs = (await sh(['ip', '-n', ns, '-br', 'addr'])).split('\n').map((l) => l.split(/\s+/));
    expect(
      legs
        .filter((l) => l[0]?.startsWith('qr-'))
        .map((l) => l[2])
        .sort(),
    ).toEqual(['10.92.1.1/24', '10.92.2.1/24']);
    const gw = (await s.demo.get(`/v2.0/routers/${router.id}`)).body.router;
    const gwIp = gw.external_gateway_info.external_fixed_ips.find((f: any) => f.ip_address.includes('.')).ip_address;
    expect(legs.find((l) => l[0]?.startsWith('qg-'))?.slice(2)).toContain(`${gwIp}/24`);
    expect(await sh(['ip', '-n', ns, 'route', 'show', 'default'])).toContain('via 172.24.4.1');
    expect((await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');
    expect(gw.status).toBe('ACTIVE');
    router = gw;
  });

  it('routes between its subnets without NAT', async () => {
    expect(
      await eventually(
        () => httpGet(`http://${b.ip}/`, { ns: a.ns }),
        (v) => v !== null,
      ),
    ).toBe(`b ${a.ip}`);
  });

  it('makes a floating IP reachable from the host once associated (ACTIVE), and not after', async () => {
    const fip = (await s.demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: a.port.id } })).body.floatingip;
    await converge();
    expect((await s.demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status).toBe('ACTIVE');
    expect(await ping(fip.floating_ip_address)).toBe(true);
    expect(await httpGet(`http://${fip.floating_ip_address}/`)).toBe('a 172.24.4.1');
    // Moved to another server: the address now leads there.
    await s.demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: b.port.id } });
    await converge();
    expect(
      await eventually(
        () => httpGet(`http://${fip.floating_ip_address}/`),
        (v) => v === 'b 172.24.4.1',
      ),
    ).toBe('b 172.24.4.1');
    await s.demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: null } });
    await converge();
    expect((await s.demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status).toBe('DOWN');
    expect(await ping(fip.floating_ip_address, { timeoutS: 1 })).toBe(false);
    await s.demo.delete(`/v2.0/floatingips/${fip.id}`);
  });

  it('SNATs outbound traffic to the gateway address only while enable_snat is on', async () => {
    await new Promise<void>((r) => listener.listen(0, '172.24.4.1', r));
    port = (listener.address() as { port: number }).port;
    const gwIp = router.external_gateway_info.external_fixed_ips.find((f: any) => f.ip_address.includes('.')).ip_address;
    expect(await httpGet(`http://172.24.4.1:${port}/`, { ns: a.ns })).toBe(gwIp);
    const ns = names.routerNs(router.id);
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'pocketstack'])).toContain(`snat to ${gwIp}`);
    const off = await s.admin.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: publicId, enable_snat: false } } });
    expect(off.status).toBe(200);
    await converge();
    // No default SNAT rule any more (traffic is not sent: a reply to a tenant address would leave the host).
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'pocketstack'])).not.toMatch(/oifname "qg-[^"]+" snat to/);
    await s.admin.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: publicId, enable_snat: true } } });
    await converge();
    expect(await httpGet(`http://172.24.4.1:${port}/`, { ns: a.ns })).toBe(gwIp);
  });

  it('installs extra routes and removes them', async () => {
    const ns = names.routerNs(router.id);
    expect((await s.demo.put(`/v2.0/routers/${router.id}`, { router: { routes: [{ destination: '192.168.77.0/24', nexthop: b.ip }] } })).status).toBe(200);
    await converge();
    expect(await sh(['ip', '-n', ns, 'route', 'show', '192.168.77.0/24'])).toContain(`via ${b.ip}`);
    await s.demo.put(`/v2.0/routers/${router.id}`, { router: { routes: [] } });
    await converge();
    expect(await sh(['ip', '-n', ns, 'route', 'show', '192.168.77.0/24'])).toBe('');
  });

  it('puts back the routes a link flap flushed, without waiting for a resync', async () => {
    // Taking a link down flushes the routes through it; the carrier event on the other end of
    // the veth brings the data plane back (in a machine this would be the guest's business).
    const ns = names.routerNs(router.id);
    const qg = (await sh(['ip', '-n', ns, '-br', 'link']))
      .split('\n')
      .map((l) => l.split(/[\s@]+/)[0])
      .find((n) => n?.startsWith('qg-'));
    expect(qg).toBeDefined();
    await new Promise((r) => setTimeout(r, 600));
    await sh(['ip', '-n', ns, 'link', 'set', qg!, 'down']);
    await sh(['ip', '-n', ns, 'link', 'set', qg!, 'up']);
    expect(
      await eventually(
        () => sh(['ip', '-n', ns, 'route', 'show', 'default']),
        (r) => r.includes('via 172.24.4.1'),
        3000,
      ),
    ).toContain('via 172.24.4.1');
    await s.dp.resync();
    expect(s.dp.lastPass).toMatchObject({ changes: 0, errors: 0 });
  });

  it('drops the leg of a removed interface, then the router itself', async () => {
    expect((await s.demo.put(`/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: nets.b.subnet })).status).toBe(200);
    await converge();
    expect(await httpGet(`http://${b.ip}/`, { ns: a.ns, timeoutS: 1 })).toBeNull();
    const ns = names.routerNs(router.id);
    expect((await sh(['ip', '-n', ns, '-br', 'addr'])).includes('10.92.2.1')).toBe(false);
    await s.demo.put(`/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: nets.a.subnet });
    await s.demo.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: {} } });
    await converge();
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'])).toBe('');
    expect((await s.demo.delete(`/v2.0/routers/${router.id}`)).status).toBe(204);
    await converge();
    expect((await listNamespaces()).has(ns)).toBe(false);
    await s.dp.resync();
    expect(s.dp.lastPass).toMatchObject({ changes: 0, errors: 0 });
  });
});
