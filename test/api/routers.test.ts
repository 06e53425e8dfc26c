import { freeAddress } from '../support/addresses.js';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Client, cloudForFile } from '../support/cloud.js';
import { loadFixture } from '../support/neutron-golden.js';

const golden = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/neutron-golden/${name}.json`, import.meta.url), 'utf8'));
/** A member's router keys as real Neutron renders them with this build's extensions loaded (the capture with the issue-11 plugins). */
const MEMBER_ROUTER_KEYS = Object.keys((loadFixture('routers').steps.find((s) => s.name === 'create')!.response as { router: Record<string, unknown> }).router);
/** An admin sees distributed and ha too, after availability_zones (the plugin-less capture's router-create). */
const ADMIN_ROUTER_KEYS = MEMBER_ROUTER_KEYS.flatMap((k) => (k === 'availability_zones' ? [k, 'distributed', 'ha'] : [k]));

const { admin, demo } = await cloudForFile('network');
let publicNet: { id: string; subnets: string[] };

beforeAll(async () => {
  publicNet = (await admin.get('/v2.0/networks?name=public')).body.networks[0];
});

let seq = 0;
async function tenantSubnet(c: Client, cidr: string, extra: Record<string, unknown> = {}) {
  const net = (await c.post('/v2.0/networks', { network: { name: `rnet-${++seq}` } })).body.network;
  const res = await c.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr, ip_version: cidr.includes(':') ? 6 : 4, ...extra } });
  expect(res.status).toBe(201);
  return { net, subnet: res.body.subnet };
}

const router = async (c: Client, body: Record<string, unknown> = {}) => {
  const res = await c.post('/v2.0/routers', { router: { name: `r-${++seq}`, ...body } });
  expect(res.status).toBe(201);
  return res.body.router;
};

describe('routers', () => {
  it('schedules a router created with a gateway before the create answers: a GET right after shows its zone', async () => {
    // Neutron's create_router makes its answer, then routers_updated schedules the router to an
    // L3 agent within the same request: the answer has no zone yet, every read after it has.
    const created = await router(admin, { external_gateway_info: { network_id: publicNet.id } });
    expect(created.availability_zones).toEqual([]);
    expect((await admin.get(`/v2.0/routers/${created.id}`)).body.router.availability_zones).toEqual(['nova']);
    // Without a gateway it waits for its first update (L3_NAT_db_mixin.create_router).
    const bare = await router(admin);
    expect((await admin.get(`/v2.0/routers/${bare.id}`)).body.router.availability_zones).toEqual([]);
    expect(
      (await admin.put(`/v2.0/routers/${bare.id}`, { router: { external_gateway_info: { network_id: publicNet.id } } })).body.router.availability_zones,
    ).toEqual([]);
    expect((await admin.get(`/v2.0/routers/${bare.id}`)).body.router.availability_zones).toEqual(['nova']);
  });

  it('creates a router with Neutron attributes in Neutron order, hiding distributed/ha from members', async () => {
    const r = await admin.post('/v2.0/routers', { router: { name: 'router1' } });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body.router)).toEqual(ADMIN_ROUTER_KEYS);
    expect(r.body.router).toMatchObject({ status: 'ACTIVE', external_gateway_info: null, distributed: false, ha: false, routes: [], revision_number: 1 });
    const m = await demo.post('/v2.0/routers', { router: { name: 'demo-router' } });
    expect(Object.keys(m.body.router)).toEqual(MEMBER_ROUTER_KEYS);
  });

  it('sets a gateway with an IPv4 and an IPv6 address from the external network, as a project-less port', async () => {
    const r = await router(demo);
    const res = await demo.put(`/v2.0/routers/${r.id}`, { router: { external_gateway_info: { network_id: publicNet.id } } });
    expect(res.status).toBe(200);
    const gw = res.body.router.external_gateway_info;
    expect(Object.keys(gw)).toEqual(['network_id', 'external_fixed_ips', 'enable_snat']);
    expect(gw.network_id).toBe(publicNet.id);
    expect(gw.enable_snat).toBe(true);
    expect(gw.external_fixed_ips.map((ip: { ip_address: string }) => (ip.ip_address.includes(':') ? 6 : 4))).toEqual([4, 6]);
    expect(gw.external_fixed_ips[0].ip_address).toMatch(/^172\.24\.4\./);
    // Setting a gateway revises the router three times in real Neutron (test/fixtures/neutron-ext/routers.json).
    expect(res.body.router.revision_number).toBe(4);

    // The owner does not see the gateway port (it has no project); an admin does.
    expect((await demo.get(`/v2.0/ports?device_id=${r.id}`)).body.ports).toEqual([]);
    const ports = (await admin.get(`/v2.0/ports?device_id=${r.id}`)).body.ports;
    expect(ports).toHaveLength(1);
    expect(ports[0]).toMatchObject({
      device_owner: 'network:router_gateway',
      project_id: '',
      tenant_id: '',
      port_security_enabled: false,
      security_groups: [],
    });
    expect(ports[0].fixed_ips).toEqual(gw.external_fixed_ips);

    // Unsetting removes the port and gives the addresses back.
    const unset = await demo.put(`/v2.0/routers/${r.id}`, { router: { external_gateway_info: {} } });
    expect(unset.body.router.external_gateway_info).toBeNull();
    expect((await admin.get(`/v2.0/ports?device_id=${r.id}`)).body.ports).toEqual([]);
  });

  it('shows a router as its list does: gateway with its addresses and QoS, routes, conntrack helpers, zones', async () => {
    // A show reads these with the router in one statement, a list in one statement per kind for
    // all its rows: the two must render the same object.
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'router-show-qos' } })).body.policy;
    const { subnet } = await tenantSubnet(admin, '10.213.0.0/24');
    const r = await router(admin, { external_gateway_info: { network_id: publicNet.id, qos_policy_id: policy.id } });
    expect((await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: subnet.id })).status).toBe(200);
    const routes = [
      { destination: '10.214.0.0/24', nexthop: '10.213.0.9' },
      { destination: '10.215.0.0/24', nexthop: '10.213.0.8' },
    ];
    expect((await admin.put(`/v2.0/routers/${r.id}`, { router: { routes } })).status).toBe(200);
    const helper = await admin.post(`/v2.0/routers/${r.id}/conntrack_helpers`, { conntrack_helper: { protocol: 'tcp', port: 21, helper: 'ftp' } });
    expect(helper.status).toBe(201);
    const bare = await router(demo);
    // A gateway on a network with a policy shows `qos_policy_id` as null (qos-gateway-ip).
    const ext = (await admin.post('/v2.0/networks', { network: { name: 'ext-with-qos', 'router:external': true, qos_policy_id: policy.id } })).body.network;
    expect((await admin.post('/v2.0/subnets', { subnet: { network_id: ext.id, cidr: '172.31.213.0/24', ip_version: 4 } })).status).toBe(201);
    const onQosNet = await router(admin, { external_gateway_info: { network_id: ext.id } });
    expect(onQosNet.external_gateway_info.qos_policy_id).toBeNull();

    for (const [who, id] of [
      [admin, r.id],
      [admin, onQosNet.id],
      [demo, bare.id],
    ] as const) {
      const shown = (await who.get(`/v2.0/routers/${id}`)).body.router;
      const [listed] = (await who.get(`/v2.0/routers?id=${id}`)).body.routers;
      expect(shown).toEqual(listed);
    }
    const shown = (await admin.get(`/v2.0/routers/${r.id}`)).body.router;
    expect(shown.external_gateway_info).toEqual({
      network_id: publicNet.id,
      external_fixed_ips: expect.arrayContaining([expect.objectContaining({ subnet_id: publicNet.subnets[0] })]),
      enable_snat: true,
      qos_policy_id: policy.id,
    });
    expect(shown.routes).toEqual(routes);
    expect(shown.conntrack_helpers).toEqual([{ protocol: 'tcp', port: 21, helper: 'ftp' }]);
    expect((await admin.get(`/v2.0/routers/${onQosNet.id}`)).body.router.external_gateway_info).toHaveProperty('qos_policy_id', null);
    expect((await demo.get(`/v2.0/routers/${bare.id}`)).body.router.external_gateway_info).toBeNull();
  });

  it('keeps enable_snat and external_fixed_ips for admins, with the nested policy message', async () => {
    const denied = await demo.post('/v2.0/routers', { router: { external_gateway_info: { network_id: publicNet.id, enable_snat: false } } });
    expect(denied.status).toBe(403);
    expect(denied.body.NeutronError).toEqual({
      type: 'PolicyNotAuthorized',
      message:
        '(rule:create_router and (rule:create_router:external_gateway_info and (rule:create_router:external_gateway_info:network_id and rule:create_router:external_gateway_info:enable_snat))) is disallowed by policy',
      detail: '',
    });
    const gwAddr = await freeAddress(admin, publicNet.id, '172.24.4');
    const ok = await admin.post('/v2.0/routers', {
      router: { external_gateway_info: { network_id: publicNet.id, enable_snat: false, external_fixed_ips: [{ ip_address: gwAddr }] } },
    });
    expect(ok.status).toBe(201);
    expect(ok.body.router.external_gateway_info).toMatchObject({ enable_snat: false, external_fixed_ips: [{ ip_address: gwAddr }] });
    // The same address again is taken: 409, and nothing of the second router remains.
    const before = (await admin.get('/v2.0/routers')).body.routers.length;
    const taken = await admin.post('/v2.0/routers', {
      router: { external_gateway_info: { network_id: publicNet.id, external_fixed_ips: [{ ip_address: gwAddr }] } },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.NeutronError.type).toBe('IpAddressAlreadyAllocated');
    expect((await admin.get('/v2.0/routers')).body.routers.length).toBe(before);
    const gwIp = await admin.post('/v2.0/routers', {
      router: { external_gateway_info: { network_id: publicNet.id, external_fixed_ips: [{ ip_address: '172.24.4.1' }] } },
    });
    expect(gwIp.status).toBe(400);
    expect(gwIp.body.NeutronError.message).toBe('Bad router request: External IP 172.24.4.1 is the same as the gateway IP.');
  });

  it('refuses gateways on missing or internal networks and malformed gateway info', async () => {
    const r = await router(demo);
    const missing = await demo.put(`/v2.0/routers/${r.id}`, { router: { external_gateway_info: { network_id: r.id } } });
    expect(missing.status).toBe(404);
    expect(missing.body.NeutronError.type).toBe('NetworkNotFound');
    const { net } = await tenantSubnet(demo, '10.50.0.0/24');
    const internal = await demo.put(`/v2.0/routers/${r.id}`, { router: { external_gateway_info: { network_id: net.id } } });
    expect(internal.status).toBe(400);
    expect(internal.body.NeutronError).toEqual({
      type: 'BadRequest',
      message: `Bad router request: Network ${net.id} is not an external network.`,
      detail: '',
    });
    const extra = await demo.put(`/v2.0/routers/${r.id}`, { router: { external_gateway_info: { network_id: publicNet.id, colour: 'red' } } });
    expect(extra.status).toBe(400);
    expect(extra.body.NeutronError.message).toBe('Invalid input for external_gateway_info. Reason: Unexpected keys supplied: colour.');
  });

  it('adds interfaces by subnet on the gateway IP and answers like Neutron; refuses duplicates and overlaps', async () => {
    const r = await router(demo);
    const a = await tenantSubnet(demo, '10.60.1.0/24');
    const res = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: a.subnet.id });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(Object.keys(golden('router-add-interface')));
    expect(res.body).toMatchObject({ id: r.id, tenant_id: r.project_id, network_id: a.net.id, subnet_id: a.subnet.id, subnet_ids: [a.subnet.id] });
    const port = (await demo.get(`/v2.0/ports/${res.body.port_id}`)).body.port;
    expect(port).toMatchObject({ device_id: r.id, device_owner: 'network:router_interface', fixed_ips: [{ subnet_id: a.subnet.id, ip_address: '10.60.1.1' }] });
    expect((await demo.get(`/v2.0/routers/${r.id}`)).body.router.revision_number).toBe(2);

    const dup = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: a.subnet.id });
    expect(dup.status).toBe(400);
    expect(dup.body.NeutronError).toEqual({
      type: 'BadRequest',
      message: `Bad router request: Router already has a port on subnet ${a.subnet.id}.`,
      detail: '',
    });
    const b = await tenantSubnet(demo, '10.60.1.128/25');
    const overlap = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: b.subnet.id });
    expect(overlap.status).toBe(400);
    expect(overlap.body.NeutronError.message).toBe(
      `Bad router request: Cidr 10.60.1.128/25 of subnet ${b.subnet.id} overlaps with cidr 10.60.1.0/24 of subnet ${a.subnet.id}.`,
    );
    const noGw = await tenantSubnet(demo, '10.60.2.0/24', { gateway_ip: null });
    const noGwRes = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: noGw.subnet.id });
    expect(noGwRes.status).toBe(400);
    expect(noGwRes.body.NeutronError.message).toBe('Bad router request: Subnet for router interface must have a gateway IP.');
    // Only the first interface's port exists: the refused ones left nothing behind.
    expect((await demo.get(`/v2.0/ports?device_id=${r.id}`)).body.ports).toHaveLength(1);
  });

  it('validates the interface request body', async () => {
    const r = await router(demo);
    const cases: Array<[unknown, string]> = [
      [{}, 'Bad router request: Either subnet_id or port_id must be specified.'],
      [{ subnet_id: 'nope' }, "Bad router request: 'nope' is not a valid UUID."],
      [{ subnet_id: r.id, port_id: r.id }, 'Bad router request: Cannot specify both subnet-id and port-id.'],
    ];
    for (const [body, message] of cases) {
      const res = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, body);
      expect(res.status).toBe(400);
      expect(res.body.NeutronError).toEqual({ type: 'BadRequest', message, detail: '' });
    }
    const missing = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: r.id });
    expect(missing.status).toBe(404);
    expect(missing.body.NeutronError.type).toBe('SubnetNotFound');
  });

  it('adds an interface by port, refusing ports already attached elsewhere', async () => {
    const r = await router(demo);
    const a = await tenantSubnet(demo, '10.61.0.0/24');
    const port = (await demo.post('/v2.0/ports', { port: { network_id: a.net.id } })).body.port;
    const res = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { port_id: port.id });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ port_id: port.id, subnet_id: a.subnet.id });
    expect((await demo.get(`/v2.0/ports/${port.id}`)).body.port).toMatchObject({ device_id: r.id, device_owner: 'network:router_interface' });
    const r2 = await router(demo);
    const again = await demo.put(`/v2.0/routers/${r2.id}/add_router_interface`, { port_id: port.id });
    expect(again.status).toBe(409);
    expect(again.body.NeutronError).toEqual({
      type: 'PortInUse',
      message: `Unable to complete operation on port ${port.id} for network ${a.net.id}. Port already has an attached device ${r.id}.`,
      detail: '',
    });
    const removed = await demo.put(`/v2.0/routers/${r.id}/remove_router_interface`, { port_id: port.id });
    expect(removed.status).toBe(200);
    expect((await demo.get(`/v2.0/ports/${port.id}`)).status).toBe(404);
  });

  it('protects interface ports from the port API (admins too) and keeps used subnets and networks', async () => {
    const r = await router(demo);
    const a = await tenantSubnet(demo, '10.62.0.0/24');
    const { port_id } = (await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: a.subnet.id })).body;
    for (const c of [demo, admin]) {
      const del = await c.delete(`/v2.0/ports/${port_id}`);
      expect(del.status).toBe(409);
      expect(del.body.NeutronError).toEqual({
        type: 'ServicePortInUse',
        message: `Port ${port_id} cannot be deleted directly via the port API: has device owner network:router_interface.`,
        detail: '',
      });
    }
    expect((await demo.delete(`/v2.0/subnets/${a.subnet.id}`)).status).toBe(409);
    const netDel = await demo.delete(`/v2.0/networks/${a.net.id}`);
    expect(netDel.status).toBe(409);
    expect(netDel.body.NeutronError.type).toBe('NetworkInUse');
    const inUse = await demo.delete(`/v2.0/routers/${r.id}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.NeutronError).toEqual({ type: 'RouterInUse', message: `Router ${r.id} has ports still attached: ${port_id}`, detail: '' });

    const rm = await demo.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: a.subnet.id });
    expect(rm.status).toBe(200);
    expect(rm.body).toMatchObject({ id: r.id, port_id, subnet_id: a.subnet.id, subnet_ids: [a.subnet.id] });
    const again = await demo.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: a.subnet.id });
    expect(again.status).toBe(404);
    expect(again.body.NeutronError).toEqual({
      type: 'RouterInterfaceNotFoundForSubnet',
      message: `Router ${r.id} has no interface on subnet ${a.subnet.id}`,
      detail: '',
    });
    expect((await demo.delete(`/v2.0/routers/${r.id}`)).status).toBe(204);
    expect((await demo.delete(`/v2.0/networks/${a.net.id}`)).status).toBe(204);
  });

  it('joins further IPv6 prefixes of one network on one port, and removes them one by one', async () => {
    const r = await router(demo);
    const a = await tenantSubnet(demo, 'fd00:70::/64', { ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac' });
    const b = (
      await demo.post('/v2.0/subnets', {
        subnet: { network_id: a.net.id, cidr: 'fd00:71::/64', ip_version: 6, ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac' },
      })
    ).body.subnet;
    const first = (await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: a.subnet.id })).body;
    const second = (await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: b.id })).body;
    expect(second.port_id).toBe(first.port_id);
    const port = (await demo.get(`/v2.0/ports/${first.port_id}`)).body.port;
    expect(port.fixed_ips.map((f: { ip_address: string }) => f.ip_address)).toEqual(['fd00:70::', 'fd00:71::']);
    await demo.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: a.subnet.id });
    expect((await demo.get(`/v2.0/ports/${first.port_id}`)).body.port.fixed_ips).toEqual([{ subnet_id: b.id, ip_address: 'fd00:71::' }]);
    // Subnets whose RAs come from outside cannot join a router.
    const ext = await tenantSubnet(demo, 'fd00:72::/64', { ipv6_address_mode: 'slaac' });
    const refused = await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: ext.subnet.id });
    expect(refused.status).toBe(400);
    // Neutron's message ends in a period and BadRequest adds another: the client sees both.
    expect(refused.body.NeutronError.message).toBe(
      `Bad router request: IPv6 subnet ${ext.subnet.id} configured to receive RAs from an external router cannot be added to Neutron Router..`,
    );
  });

  it('accepts routes whose nexthop is on a connected subnet, atomically adds and removes them', async () => {
    const r = await router(demo);
    const a = await tenantSubnet(demo, '10.63.0.0/24');
    await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: a.subnet.id });
    const routes = [{ destination: '192.168.10.0/24', nexthop: '10.63.0.5' }];
    const set = await demo.put(`/v2.0/routers/${r.id}`, { router: { routes } });
    expect(set.status).toBe(200);
    expect(set.body.router.routes).toEqual(routes);
    const far = await demo.put(`/v2.0/routers/${r.id}`, { router: { routes: [{ destination: '192.168.11.0/24', nexthop: '10.99.0.5' }] } });
    expect(far.status).toBe(400);
    expect(far.body.NeutronError).toEqual({
      type: 'InvalidRoutes',
      message: "Invalid format for routes: [{'destination': '192.168.11.0/24', 'nexthop': '10.99.0.5'}], the nexthop is not connected with router",
      detail: '',
    });
    const own = await demo.put(`/v2.0/routers/${r.id}`, { router: { routes: [{ destination: '192.168.12.0/24', nexthop: '10.63.0.1' }] } });
    expect(own.body.NeutronError.message).toMatch(/the nexthop is used by router$/);

    const added = await demo.put(`/v2.0/routers/${r.id}/add_extraroutes`, {
      router: { routes: [{ destination: '192.168.20.0/24', nexthop: '10.63.0.6' }, routes[0]] },
    });
    expect(added.status).toBe(200);
    expect(added.body.router.routes).toEqual([routes[0], { destination: '192.168.20.0/24', nexthop: '10.63.0.6' }]);
    const removed = await demo.put(`/v2.0/routers/${r.id}/remove_extraroutes`, { router: { routes } });
    expect(removed.body.router.routes).toEqual([{ destination: '192.168.20.0/24', nexthop: '10.63.0.6' }]);

    // An interface a route needs stays.
    const rm = await demo.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: a.subnet.id });
    expect(rm.status).toBe(409);
    expect(rm.body.NeutronError.type).toBe('RouterInterfaceInUseByRoute');
    const cleared = await demo.put(`/v2.0/routers/${r.id}`, { router: { routes: null } });
    expect(cleared.body.router.routes).toEqual([]);
    expect((await demo.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: a.subnet.id })).status).toBe(200);
  });

  it('keeps one project out of another project routers', async () => {
    const r = await router(admin);
    expect((await demo.get(`/v2.0/routers/${r.id}`)).status).toBe(404);
    expect((await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: r.id })).status).toBe(404);
    // Neutron's RouterNotFound has no final period.
    expect((await demo.delete(`/v2.0/routers/${r.id}`)).body.NeutronError).toEqual({
      type: 'RouterNotFound',
      message: `Router ${r.id} could not be found`,
      detail: '',
    });
    const names = (await demo.get('/v2.0/routers')).body.routers.map((x: { id: string }) => x.id);
    expect(names).not.toContain(r.id);
  });
});
