import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';

let tc: TestCloud;
let admin: Client;
let demo: Client;
let anon: Client;
let netAdmin: Client;
let netDemo: Client;
let imageId: string;
let net: { id: string };
let net2: { id: string };

const V = (v: string) => ({ 'openstack-api-version': `compute ${v}` });
const V46 = V('2.46');

/** Wait until the compute manager and the data plane have nothing left to do. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await tc.cloud.services.computeManager.idle();
    await tc.cloud.services.dataplane.idle();
  }
}

async function makeNetwork(client: Client, name: string, cidr: string, pool?: { start: string; end: string }) {
  const n = (await client.post('/v2.0/networks', { network: { name } })).body.network;
  const s = await client.post('/v2.0/subnets', { subnet: { network_id: n.id, cidr, ip_version: 4, ...(pool ? { allocation_pools: [pool] } : {}) } });
  expect(s.status).toBe(201);
  return n;
}

async function boot(client: Client, server: Record<string, unknown>, headers: Record<string, string> = V46) {
  return client.post('/v2.1/servers', { server: { flavorRef: '1', imageRef: imageId, ...server } }, headers);
}

async function portsOf(serverId: string) {
  return (await netAdmin.get(`/v2.0/ports?device_id=${serverId}`)).body.ports as Array<Record<string, any>>;
}

beforeAll(async () => {
  tc = await startCloud();
  ({ admin, demo, anon } = await serviceClients(tc, 'compute'));
  ({ admin: netAdmin, demo: netDemo } = await serviceClients(tc, 'network'));
  const images = (await (await serviceClients(tc, 'image')).demo.get('/v2/images?name=cirros-0.3.3-x86_64-disk')).body.images;
  imageId = images[0].id;
  net = await makeNetwork(netDemo, 'worker_network', '10.0.1.0/24');
  net2 = await makeNetwork(netDemo, 'api_network', '10.0.3.0/24');
  // This file boots more servers than Nova's default quota of 10.
  await admin.put(`/v2.1/os-quota-sets/${await projectId('demo')}`, { quota_set: { instances: 100, cores: 200 } });
});

async function projectId(name: string): Promise<string> {
  return (await tc.cloud.store.db.selectFrom('projects').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id;
}
afterAll(async () => tc.stop());

describe('versions and microversions', () => {
  it('lists v2.0 and v2.1 at / without a token, and each version document', async () => {
    const root = await anon.get('/');
    expect(root.status).toBe(200);
    expect(root.body.versions).toEqual([
      {
        id: 'v2.0',
        status: 'DEPRECATED',
        version: '',
        min_version: '',
        updated: '2025-07-04T12:00:00Z',
        links: [{ rel: 'self', href: 'http://localhost:80/v2/' }],
      },
      {
        id: 'v2.1',
        status: 'CURRENT',
        version: '2.96',
        min_version: '2.1',
        updated: '2013-07-23T11:33:21Z',
        links: [{ rel: 'self', href: 'http://localhost:80/v2.1/' }],
      },
    ]);
    expect(root.headers['openstack-api-version']).toBeUndefined();
    expect((await anon.get('/v2.1')).status).toBe(401);
    const doc = await demo.get('/v2.1');
    expect(doc.body.version).toMatchObject({ id: 'v2.1', version: '2.96', min_version: '2.1' });
    const legacy = await demo.get('/v2/');
    expect(legacy.body.version).toMatchObject({ id: 'v2.0', version: '', links: [{ rel: 'self', href: 'http://localhost:80/v2/' }, { rel: 'describedby' }] });
  });

  it('answers in the version asked for, in both header styles', async () => {
    const dflt = await demo.get('/v2.1/flavors');
    expect(dflt.headers['openstack-api-version']).toBe('compute 2.1');
    expect(dflt.headers['x-openstack-nova-api-version']).toBe('2.1');
    expect(dflt.headers.vary).toBe('OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    expect((await demo.get('/v2.1/flavors', { 'x-openstack-nova-api-version': '2.37' })).headers['openstack-api-version']).toBe('compute 2.37');
    expect((await demo.get('/v2.1/flavors', V('latest'))).headers['x-openstack-nova-api-version']).toBe('2.96');
    // The new header wins over the legacy one.
    expect((await demo.get('/v2.1/flavors', { ...V('2.10'), 'x-openstack-nova-api-version': '2.20' })).headers['openstack-api-version']).toBe('compute 2.10');
  });

  it('refuses versions it does not serve with 406 and malformed ones with 400', async () => {
    const high = await demo.get('/v2.1/flavors', V('2.97'));
    expect(high.status).toBe(406);
    expect(high.body).toEqual({ computeFault: { code: 406, message: 'Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96.' } });
    const bad = await demo.get('/v2.1/flavors', V('2.x'));
    expect(bad.status).toBe(400);
    expect(bad.body.badRequest.message).toBe('API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum.');
  });
});

describe('flavors', () => {
  it("serves DevStack's flavors with their ids", async () => {
    const list = await demo.get('/v2.1/flavors/detail');
    const byName = Object.fromEntries(list.body.flavors.map((f: any) => [f.name, f]));
    expect(Object.fromEntries(Object.entries(byName).map(([n, f]: [string, any]) => [n, f.id]))).toEqual({
      'm1.tiny': '1',
      'm1.small': '2',
      'm1.medium': '3',
      'm1.large': '4',
      'm1.xlarge': '5',
      'm1.nano': '42',
      'm1.micro': '84',
    });
    expect(byName['m1.tiny']).toMatchObject({
      ram: 512,
      disk: 1,
      vcpus: 1,
      swap: '',
      'OS-FLV-EXT-DATA:ephemeral': 0,
      'os-flavor-access:is_public': true,
      rxtx_factor: 1,
    });
    const one = await demo.get('/v2.1/flavors/42');
    expect(one.body.flavor.name).toBe('m1.nano');
    const missing = await demo.get('/v2.1/flavors/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ itemNotFound: { code: 404, message: 'Flavor nope could not be found.' } });
  });

  it('pages with limit and a next link', async () => {
    const page = await demo.get('/v2.1/flavors?limit=2');
    expect(page.body.flavors.map((f: any) => f.id)).toEqual(['1', '2']);
    expect(page.body.flavors_links[0].href).toBe('http://localhost:80/v2.1/flavors?limit=2&marker=2');
    const next = await demo.get('/v2.1/flavors?limit=2&marker=2');
    expect(next.body.flavors.map((f: any) => f.id)).toEqual(['3', '4']);
    expect((await demo.get('/v2.1/flavors?marker=zzz')).body.badRequest.message).toBe('marker [zzz] not found');
  });

  it('lets admins create and delete flavors, and no one else', async () => {
    const denied = await demo.post('/v2.1/flavors', { flavor: { name: 'x', ram: 64, vcpus: 1, disk: 0 } });
    expect(denied.status).toBe(403);
    expect(denied.body.forbidden.message).toBe("Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.");
    const made = await admin.post('/v2.1/flavors', { flavor: { name: 'm1.custom', ram: 256, vcpus: 2, disk: 3, id: 'custom' } });
    expect(made.status).toBe(200);
    expect(made.body.flavor).toMatchObject({ id: 'custom', ram: 256, vcpus: 2, disk: 3 });
    expect((await admin.post('/v2.1/flavors', { flavor: { name: 'm1.custom', ram: 256, vcpus: 2, disk: 3 } })).status).toBe(409);
    const bad = await admin.post('/v2.1/flavors', { flavor: { name: 'y', ram: 0, vcpus: 1, disk: 0 } });
    expect(bad.body.badRequest.message).toBe('Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1');
    expect((await admin.delete('/v2.1/flavors/custom')).status).toBe(202);
    expect((await demo.get('/v2.1/flavors/custom')).status).toBe(404);
  });
});

describe('servers', () => {
  it('boots onto a network: BUILD, then ACTIVE once its port is ACTIVE, with Nova-owned bound ports', async () => {
    await tc.cloud.services.computeManager.stop();
    const res = await boot(demo, { name: 'worker1', networks: [{ uuid: net.id }] });
    expect(res.status).toBe(202);
    const id = res.body.server.id;
    expect(res.body.server).toMatchObject({ 'OS-DCF:diskConfig': 'MANUAL', security_groups: [{ name: 'default' }] });
    expect(res.body.server.adminPass).toMatch(/^[2-9A-HJ-NP-Za-km-z]{12}$/);
    expect(res.headers.location).toBe(`http://localhost:80/v2.1/servers/${id}`);

    const building = (await demo.get(`/v2.1/servers/${id}`, V46)).body.server;
    expect(building).toMatchObject({
      status: 'BUILD',
      'OS-EXT-STS:vm_state': 'building',
      'OS-EXT-STS:task_state': 'scheduling',
      'OS-EXT-STS:power_state': 0,
      'OS-SRV-USG:launched_at': null,
      // Not scheduled yet and no zone asked for: Nova shows none until the host's zone is known.
      'OS-EXT-AZ:availability_zone': '',
      hostId: '',
      addresses: {},
      progress: 0,
      key_name: null,
      config_drive: '',
      metadata: {},
      security_groups: [{ name: 'default' }],
      'os-extended-volumes:volumes_attached': [],
      locked: false,
      description: null,
      tags: [],
    });

    tc.cloud.services.computeManager.start();
    await settle();
    const active = (await demo.get(`/v2.1/servers/${id}`, V46)).body.server;
    expect(active).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-STS:task_state': null, 'OS-EXT-STS:power_state': 1 });
    expect(active['OS-SRV-USG:launched_at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    expect(active.hostId).toMatch(/^[0-9a-f]{56}$/);
    const [addr] = active.addresses.worker_network;
    expect(addr).toMatchObject({ version: 4, 'OS-EXT-IPS:type': 'fixed' });
    expect(addr.addr).toMatch(/^10\.0\.1\.\d+$/);

    const [port] = await portsOf(id);
    expect(port).toMatchObject({
      device_id: id,
      device_owner: 'compute:nova',
      status: 'ACTIVE',
      network_id: net.id,
      mac_address: addr['OS-EXT-IPS-MAC:mac_addr'],
    });
    expect(port['binding:host_id']).toBe(tc.cloud.services.compute.hostname);
    // Members do not see binding details (admin-only in Neutron).
    const asDemo = (await netDemo.get(`/v2.0/ports/${port.id}`)).body.port;
    expect(asDemo).not.toHaveProperty('binding:host_id');
  });

  it('shows admins the extended server attributes', async () => {
    const id = (await boot(demo, { name: 'ext', networks: 'none' })).body.server.id;
    await settle();
    const s = (await admin.get(`/v2.1/servers/${id}`, V46)).body.server;
    expect(s['OS-EXT-SRV-ATTR:host']).toBe(tc.cloud.services.compute.hostname);
    expect(s['OS-EXT-SRV-ATTR:instance_name']).toMatch(/^instance-[0-9a-f]{8}$/);
    expect(s['OS-EXT-SRV-ATTR:hostname']).toBe('ext');
    expect(s.host_status).toBe('UP');
    expect((await demo.get(`/v2.1/servers/${id}`, V46)).body.server).not.toHaveProperty('OS-EXT-SRV-ATTR:host');
    // Booted with networks "none": no ports, no addresses, and no security_groups key.
    expect(s.addresses).toEqual({});
    expect(s).not.toHaveProperty('security_groups');
    expect(await portsOf(id)).toEqual([]);
  });

  it('names min_count servers name-1, name-2', async () => {
    const res = await boot(demo, { name: 'test', min_count: 2, networks: [{ uuid: net.id }] });
    expect(res.status).toBe(202);
    await settle();
    const list = (await admin.get('/v2.1/servers/detail?all_tenants=1&name=^test-', V46)).body.servers;
    expect(list.map((s: any) => s.name).sort()).toEqual(['test-1', 'test-2']);
    for (const s of list) {
      expect(s.status).toBe('ACTIVE');
      expect(Object.keys(s.addresses)).toEqual(['worker_network']);
      expect(s['OS-EXT-SRV-ATTR:reservation_id']).toBe(list[0]['OS-EXT-SRV-ATTR:reservation_id']);
    }
    expect(new Set(list.map((s: any) => s['OS-EXT-SRV-ATTR:hostname']))).toEqual(new Set(['test-1', 'test-2']));
    expect((await demo.get(`/v2.1/servers?reservation_id=${list[0]['OS-EXT-SRV-ATTR:reservation_id']}`)).body.servers).toHaveLength(2);
    // max_count is cut down to what the quota leaves; min_count is not.
    const resv = await boot(demo, { name: 'few', min_count: 1, max_count: 500, networks: 'none', return_reservation_id: true });
    expect(resv.body.reservation_id).toMatch(/^r-[0-9a-z]{8}$/);
    const few = (await demo.get(`/v2.1/servers?reservation_id=${resv.body.reservation_id}`)).body.servers;
    expect(few.length).toBeGreaterThan(1);
    expect(few.length).toBeLessThan(100);
    for (const s of few) await demo.delete(`/v2.1/servers/${s.id}`);
  });

  it('refuses to guess between several networks', async () => {
    const res = await boot(demo, { name: 'amb' }, V('2.1'));
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ conflictingRequest: { code: 409, message: 'Multiple possible networks found, use a Network ID to be more specific.' } });
    expect((await boot(demo, { name: 'amb', networks: 'auto' })).status).toBe(409);
    // From 2.37 networks is required; "auto" is not valid before it.
    expect((await boot(demo, { name: 'x' })).body.badRequest.message).toBe(
      `Invalid input for field/attribute server. Value: {'flavorRef': '1', 'imageRef': '${imageId}', 'name': 'x'}. 'networks' is a required property`,
    );
    const early = await boot(demo, { name: 'x', networks: 'auto' }, V('2.36'));
    expect(early.body.badRequest.message).toBe("Invalid input for field/attribute networks. Value: auto. 'auto' is not of type 'array'");
  });

  it('takes a port passed in, a fixed IP, security groups, key, metadata, user_data and access IPs', async () => {
    const port = (await netDemo.post('/v2.0/ports', { port: { network_id: net2.id, name: 'mine' } })).body.port;
    const sg = (await netDemo.post('/v2.0/security-groups', { security_group: { name: 'web' } })).body.security_group;
    const key = (await demo.post('/v2.1/os-keypairs', { keypair: { name: 'k1' } })).body.keypair;
    // Addresses are picked at random: ask for one no earlier test was given.
    const used = new Set(
      ((await netDemo.get(`/v2.0/ports?network_id=${net.id}`)).body.ports as Array<{ fixed_ips: Array<{ ip_address: string }> }>).flatMap((p) =>
        p.fixed_ips.map((f) => f.ip_address),
      ),
    );
    const fixedIp = Array.from({ length: 50 }, (_, i) => `10.0.1.${200 + i}`).find((a) => !used.has(a))!;
    const res = await boot(demo, {
      name: 'multi',
      networks: [{ port: port.id }, { uuid: net.id, fixed_ip: fixedIp }],
      security_groups: [{ name: 'web' }],
      key_name: 'k1',
      metadata: { role: 'worker' },
      user_data: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
      accessIPv4: '1.1.1.1',
      accessIPv6: '0000:0000:0000:0000:0000:babe:220.12.22.2',
      description: 'two nics',
    });
    expect(res.status).toBe(202);
    expect(res.body.server.security_groups).toEqual([{ name: 'web' }]);
    const id = res.body.server.id;
    await settle();
    const s = (await demo.get(`/v2.1/servers/${id}`, V46)).body.server;
    expect(s).toMatchObject({
      status: 'ACTIVE',
      key_name: 'k1',
      metadata: { role: 'worker' },
      accessIPv4: '1.1.1.1',
      accessIPv6: '::babe:dc0c:1602',
      description: 'two nics',
    });
    expect(Object.keys(s.addresses)).toEqual(['api_network', 'worker_network']);
    expect(s.addresses.worker_network[0].addr).toBe(fixedIp);
    // The passed-in port keeps its groups; the created one gets the requested group.
    expect(s.security_groups).toEqual([{ name: 'default' }, { name: 'web' }]);
    const ports = await portsOf(id);
    expect(ports.find((p) => p.network_id === net.id)!.security_groups).toEqual([sg.id]);
    const spec = (await import('../../src/core/compute/host.js')).readInstanceSpecs;
    const [inst] = await spec(tc.cloud.store.db, [id]);
    expect(inst.userData?.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(inst.keyData).toBe(key.public_key);
    expect(inst.ports.map((p) => p.id)[0]).toBe(port.id);

    // Delete: the created port goes, the passed-in port is released and kept.
    expect((await demo.delete(`/v2.1/servers/${id}`)).status).toBe(204);
    expect(await portsOf(id)).toEqual([]);
    const kept = (await netAdmin.get(`/v2.0/ports/${port.id}`)).body.port;
    expect(kept).toMatchObject({ device_id: '', device_owner: '', 'binding:host_id': '' });
    expect((await demo.get(`/v2.1/servers/${id}`)).status).toBe(404);
  });

  it('lists with name regex, status, limit and marker', async () => {
    for (const name of ['pg-a', 'pg-b', 'pg-c']) await boot(demo, { name, networks: 'none' });
    await settle();
    const all = (await demo.get('/v2.1/servers?name=^pg-&sort_key=display_name&sort_dir=asc')).body.servers;
    expect(all.map((s: any) => s.name)).toEqual(['pg-a', 'pg-b', 'pg-c']);
    const page = await demo.get('/v2.1/servers?name=^pg-&sort_key=display_name&sort_dir=asc&limit=2');
    expect(page.body.servers.map((s: any) => s.name)).toEqual(['pg-a', 'pg-b']);
    const next = page.body.servers_links[0].href.replace('http://localhost:80', '');
    expect((await demo.get(next)).body.servers.map((s: any) => s.name)).toEqual(['pg-c']);
    expect((await demo.get('/v2.1/servers?name=^pg-&status=SHUTOFF')).body.servers).toEqual([]);
    expect((await demo.get('/v2.1/servers?name=^pg-&status=active')).body.servers).toHaveLength(3);
    const badStatus = await demo.get('/v2.1/servers?status=BOGUS', V46);
    expect(badStatus.body.badRequest.message).toBe('Invalid status value');
    expect((await demo.get('/v2.1/servers?status=BOGUS', V('2.37'))).body.servers).toEqual([]);
    const badRe = await demo.get('/v2.1/servers?name=(');
    expect(badRe.body.badRequest.message).toBe("Invalid input for query parameters name. Value: (. '(' is not a 'regex'");
    expect((await demo.get('/v2.1/servers?marker=00000000-0000-0000-0000-000000000000')).body.badRequest.message).toBe(
      'marker [00000000-0000-0000-0000-000000000000] not found',
    );
    expect((await demo.get('/v2.1/servers?all_tenants=1')).status).toBe(403);
    expect((await demo.get('/v2.1/servers?changes-since=2011/01/01')).body.badRequest.message).toBe(
      "Invalid input for query parameters changes-since. Value: 2011/01/01. '2011/01/01' is not a 'date-time'",
    );
    expect((await demo.get('/v2.1/servers?changes-since=2011-01-01T00:00:00Z&name=^pg-')).body.servers).toHaveLength(3);
    expect((await admin.get('/v2.1/servers?all_tenants=1&name=^pg-')).body.servers).toHaveLength(3);
  });

  it('updates the name and keeps other projects out (404)', async () => {
    const id = (await boot(demo, { name: 'old', networks: 'none' })).body.server.id;
    const up = await demo.put(`/v2.1/servers/${id}`, { server: { name: 'new' } }, V46);
    expect(up.status).toBe(200);
    expect(up.body.server.name).toBe('new');
    // Before 2.75 the PUT response has no extended attributes.
    expect(up.body.server).not.toHaveProperty('OS-EXT-STS:vm_state');
    const other = await admin.get(`/v2.1/servers/${id}`);
    expect(other.status).toBe(200);
    const adminServer = (await admin.post('/v2.1/servers', { server: { name: 'private', flavorRef: '1', imageRef: imageId, networks: 'none' } }, V46)).body
      .server.id;
    const hidden = await demo.get(`/v2.1/servers/${adminServer}`);
    expect(hidden.status).toBe(404);
    expect(hidden.body).toEqual({ itemNotFound: { code: 404, message: `Instance ${adminServer} could not be found.` } });
    expect((await demo.delete(`/v2.1/servers/${adminServer}`)).status).toBe(404);
    expect((await anon.get('/v2.1/servers')).status).toBe(401);
  });

  it('stops, starts and reboots, refusing actions that do not fit the state (409)', async () => {
    const id = (await boot(demo, { name: 'power', networks: 'none' })).body.server.id;
    await settle();
    expect((await demo.post(`/v2.1/servers/${id}/action`, { 'os-start': null })).body).toEqual({
      conflictingRequest: { code: 409, message: `Cannot 'start' instance ${id} while it is in vm_state active` },
    });
    expect((await demo.post(`/v2.1/servers/${id}/action`, { 'os-stop': null })).status).toBe(202);
    await settle();
    let s = (await demo.get(`/v2.1/servers/${id}`)).body.server;
    expect([s.status, s['OS-EXT-STS:power_state']]).toEqual(['SHUTOFF', 4]);
    expect((await demo.post(`/v2.1/servers/${id}/action`, { reboot: { type: 'SOFT' } })).status).toBe(409);
    expect((await demo.post(`/v2.1/servers/${id}/action`, { 'os-start': null })).status).toBe(202);
    await settle();
    expect((await demo.get(`/v2.1/servers/${id}`)).body.server.status).toBe('ACTIVE');
    expect((await demo.post(`/v2.1/servers/${id}/action`, { reboot: { type: 'HARD' } })).status).toBe(202);
    s = (await demo.get(`/v2.1/servers/${id}`)).body.server;
    expect(['HARD_REBOOT', 'ACTIVE']).toContain(s.status);
    await settle();
    expect((await demo.get(`/v2.1/servers/${id}`)).body.server.status).toBe('ACTIVE');
    const bad = await demo.post(`/v2.1/servers/${id}/action`, { reboot: { type: 'gentle' } });
    expect(bad.body.badRequest.message).toBe(
      "Invalid input for field/attribute type. Value: gentle. 'gentle' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
    );
    // Nova checks the instance state before anything else: resuming an active server is a 409.
    expect((await demo.post(`/v2.1/servers/${id}/action`, { resume: null })).body.conflictingRequest.message).toBe(
      `Cannot 'resume' instance ${id} while it is in vm_state active`,
    );
    expect((await demo.post('/v2.1/servers/00000000-0000-0000-0000-000000000000/action', { pause: null })).status).toBe(404);
    expect((await demo.post(`/v2.1/servers/${id}/action`, { dance: {} })).body.badRequest.message).toBe('There is no such action: dance');
  });

  it('returns console output (empty without an instance host) and refuses it before scheduling', async () => {
    await tc.cloud.services.computeManager.stop();
    const id = (await boot(demo, { name: 'console', networks: 'none' })).body.server.id;
    const early = await demo.post(`/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': {} });
    expect(early.status).toBe(409);
    expect(early.body.conflictingRequest.message).toBe(`Instance ${id} is not ready`);
    tc.cloud.services.computeManager.start();
    await settle();
    const out = await demo.post(`/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': { length: 5 } });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ output: '' });
    // What an instance host writes is what the API returns (its tail).
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { consoleLogPath } = await import('../../src/core/compute/host.js');
    const path = consoleLogPath(tc.dir, id);
    mkdirSync(path.replace(/\/[^/]+$/, ''), { recursive: true });
    writeFileSync(path, 'one\ntwo\nthree\x07\n');
    expect((await demo.post(`/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': { length: '2' } })).body.output).toBe('three\n');
    expect((await demo.post(`/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': { length: -1 } })).body.output).toBe('one\ntwo\nthree\n');
  });

  it('attaches and detaches interfaces', async () => {
    const id = (await boot(demo, { name: 'nics', networks: [{ uuid: net.id }] })).body.server.id;
    await settle();
    const attached = await demo.post(`/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { net_id: net2.id } });
    expect(attached.status).toBe(200);
    const a = attached.body.interfaceAttachment;
    expect(a).toMatchObject({ net_id: net2.id });
    expect(a.fixed_ips[0].ip_address).toMatch(/^10\.0\.3\./);
    const list = (await demo.get(`/v2.1/servers/${id}/os-interface`)).body.interfaceAttachments;
    expect(list.map((i: any) => i.net_id)).toEqual([net.id, net2.id]);
    const own = (await netDemo.post('/v2.0/ports', { port: { network_id: net2.id } })).body.port;
    const withPort = await demo.post(`/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { port_id: own.id } });
    expect(withPort.status).toBe(200);
    expect((await demo.post(`/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { port_id: own.id } })).status).toBe(409);
    expect((await demo.post(`/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { net_id: net.id, port_id: own.id } })).body.badRequest.message).toBe(
      'Must not input both network_id and port_id',
    );
    expect((await demo.delete(`/v2.1/servers/${id}/os-interface/${a.port_id}`)).status).toBe(202);
    expect(await netAdmin.get(`/v2.0/ports/${a.port_id}`).then((r) => r.status)).toBe(404);
    expect((await demo.delete(`/v2.1/servers/${id}/os-interface/${own.id}`)).status).toBe(202);
    expect((await netAdmin.get(`/v2.0/ports/${own.id}`)).body.port.device_id).toBe('');
    expect((await demo.get(`/v2.1/servers/${id}/os-interface/${own.id}`)).status).toBe(404);
    const ips = (await demo.get(`/v2.1/servers/${id}/ips`)).body.addresses;
    expect(Object.keys(ips)).toEqual(['worker_network']);
  });

  it('shows floating IPs in addresses, and deleting the server lets them go', async () => {
    const pub = (await netAdmin.get('/v2.0/networks?name=public')).body.networks[0];
    const subnet = (await netDemo.get(`/v2.0/subnets?network_id=${net.id}`)).body.subnets[0];
    const router = (await netDemo.post('/v2.0/routers', { router: { name: 'r', external_gateway_info: { network_id: pub.id } } })).body.router;
    expect((await netDemo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id })).status).toBe(200);
    const id = (await boot(demo, { name: 'fip', networks: [{ uuid: net.id }] })).body.server.id;
    await settle();
    const [port] = await portsOf(id);
    const fip = (await netDemo.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub.id, port_id: port.id } })).body.floatingip;
    expect(fip.port_id).toBe(port.id);
    const s = (await demo.get(`/v2.1/servers/${id}`)).body.server;
    expect(s.addresses.worker_network).toEqual([
      { version: 4, addr: port.fixed_ips[0].ip_address, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port.mac_address },
      { version: 4, addr: fip.floating_ip_address, 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': port.mac_address },
    ]);
    expect((await demo.delete(`/v2.1/servers/${id}`)).status).toBe(204);
    const after = (await netDemo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip;
    expect([after.port_id, after.fixed_ip_address]).toEqual([null, null]);
    await netDemo.delete(`/v2.0/floatingips/${fip.id}`);
    await netDemo.put(`/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: subnet.id });
    await netDemo.delete(`/v2.0/routers/${router.id}`);
  });

  it('adds and removes a security group on every port of a server', async () => {
    const id = (await boot(demo, { name: 'sg', networks: [{ uuid: net.id }, { uuid: net2.id }] })).body.server.id;
    await settle();
    await netDemo.post('/v2.0/security-groups', { security_group: { name: 'extra' } });
    expect((await demo.post(`/v2.1/servers/${id}/action`, { addSecurityGroup: { name: 'extra' } })).status).toBe(202);
    let s = (await demo.get(`/v2.1/servers/${id}`)).body.server;
    expect(s.security_groups).toEqual([{ name: 'default' }, { name: 'extra' }, { name: 'default' }, { name: 'extra' }]);
    expect((await demo.post(`/v2.1/servers/${id}/action`, { removeSecurityGroup: { name: 'default' } })).status).toBe(202);
    s = (await demo.get(`/v2.1/servers/${id}`)).body.server;
    expect(s.security_groups).toEqual([{ name: 'extra' }, { name: 'extra' }]);
    const gone = await demo.post(`/v2.1/servers/${id}/action`, { removeSecurityGroup: { name: 'default' } });
    expect(gone.body).toEqual({ itemNotFound: { code: 404, message: `Security group default not associated with the instance ${id}` } });
    expect((await demo.post(`/v2.1/servers/${id}/action`, { addSecurityGroup: { name: 'nope' } })).status).toBe(404);
  });

  it('keeps metadata and tags', async () => {
    const id = (await boot(demo, { name: 'meta', networks: 'none', metadata: { a: '1' } })).body.server.id;
    expect((await demo.post(`/v2.1/servers/${id}/metadata`, { metadata: { b: '2' } })).body.metadata).toEqual({ a: '1', b: '2' });
    expect((await demo.put(`/v2.1/servers/${id}/metadata/c`, { meta: { c: '3' } })).body).toEqual({ meta: { c: '3' } });
    expect((await demo.delete(`/v2.1/servers/${id}/metadata/a`)).status).toBe(204);
    expect((await demo.get(`/v2.1/servers/${id}/metadata`)).body.metadata).toEqual({ b: '2', c: '3' });
    expect((await demo.put(`/v2.1/servers/${id}/tags`, { tags: ['x', 'y'] }, V46)).body.tags).toEqual(['x', 'y']);
    expect((await demo.get(`/v2.1/servers?tags=x`, V46)).body.servers.map((s: any) => s.id)).toEqual([id]);
    expect((await demo.get(`/v2.1/servers/${id}/tags`)).status).toBe(404);
  });
});

describe('networks "auto" with one network (the seed\'s `nova boot --min-count 2 test`)', () => {
  it('puts every server on the one network the project has', async () => {
    const own = await startCloud();
    try {
      const c = await serviceClients(own, 'compute');
      const n = await serviceClients(own, 'network');
      const img = (await (await serviceClients(own, 'image')).demo.get('/v2/images')).body.images[0].id;
      const web = await makeNetwork(n.demo, 'webserver_network', '10.0.2.0/24');
      const none = await c.demo.post(
        '/v2.1/servers',
        { server: { name: 'x', flavorRef: '1', imageRef: img, networks: [{ uuid: '00000000-0000-0000-0000-000000000000' }] } },
        V46,
      );
      expect(none.status).toBe(400);
      const res = await c.demo.post('/v2.1/servers', { server: { name: 'test', flavorRef: '1', imageRef: img, min_count: 2, networks: 'auto' } }, V46);
      expect(res.status).toBe(202);
      for (let i = 0; i < 3; i++) await own.cloud.services.computeManager.idle();
      await own.cloud.services.dataplane.idle();
      await own.cloud.services.computeManager.idle();
      const servers = (await c.demo.get('/v2.1/servers/detail')).body.servers;
      expect(servers.map((s: any) => [s.name, s.status, Object.keys(s.addresses)]).sort()).toEqual([
        ['test-1', 'ACTIVE', ['webserver_network']],
        ['test-2', 'ACTIVE', ['webserver_network']],
      ]);
      // Before 2.37, no `networks` means the same when there is one network.
      const legacy = await c.demo.post('/v2.1/servers', { server: { name: 'legacy', flavorRef: '1', imageRef: img } });
      expect(legacy.status).toBe(202);
      void web;
    } finally {
      await own.stop();
    }
  });
});

describe('bad input', () => {
  it('answers each bad create with a Nova error and creates nothing', async () => {
    const before = (await netAdmin.get('/v2.0/ports')).body.ports.length;
    const cases: Array<[Record<string, unknown>, number, string, Record<string, string>?]> = [
      [{ name: 'x', flavorRef: 'nope', networks: 'none' }, 400, 'Flavor nope could not be found.'],
      [{ name: 'x', imageRef: '00000000-0000-0000-0000-000000000000', networks: 'none' }, 400, 'Can not find requested image'],
      [{ name: 'x', networks: [{ uuid: '00000000-0000-0000-0000-000000000000' }] }, 400, 'Network 00000000-0000-0000-0000-000000000000 could not be found.'],
      [{ name: 'x', networks: 'none', min_count: 3, max_count: 2 }, 400, 'min_count must be <= max_count'],
      [
        { name: 'x', networks: 'none', user_data: 'a'.repeat(65536) },
        400,
        `Invalid input for field/attribute user_data. Value: ${'a'.repeat(65536)}. '${'a'.repeat(65536)}' is too long`,
      ],
      [{ name: 'x', networks: 'none', user_data: 'abcde' }, 400, "Invalid input for field/attribute user_data. Value: abcde. 'abcde' is not a 'base64'"],
      [{ name: 'x', networks: 'none', key_name: 'nokey' }, 400, 'Invalid key_name provided.'],
      [{ name: 'x', networks: 'none', security_groups: [{ name: 'nogroup' }] }, 400, 'Security group nogroup is not found for project'],
      [{ name: 'x', networks: 'none', availability_zone: 'elsewhere' }, 400, 'The requested availability zone is not available'],
      [
        { name: ' x', networks: 'none' },
        400,
        "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
      ],
      [{ name: 'x', networks: 'none', colour: 'red' }, 400, "Additional properties are not allowed ('colour' was unexpected)"],
      [
        { name: 'x', networks: [{ uuid: net.id, fixed_ip: '10.0.1.5' }], max_count: 2 },
        400,
        'Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified.',
      ],
    ];
    for (const [server, status, message] of cases) {
      const res = await demo.post('/v2.1/servers', { server: { flavorRef: '1', imageRef: imageId, ...server } }, V46);
      expect([res.status, res.body.badRequest?.message ?? res.body]).toEqual([status, expect.stringContaining(message)]);
    }
    const huge = await demo.post('/v2.1/servers', {
      server: { name: 'x', flavorRef: '1', imageRef: imageId, networks: 'none', metadata: { a: 'b'.repeat(120_000) } },
    });
    expect(huge.status).toBe(413);
    expect(huge.body.overLimit.code).toBe(413);
    const malformed = await demo.request('POST', '/v2.1/servers', '{"server": ');
    expect(malformed.body).toEqual({ badRequest: { code: 400, message: 'Malformed request body' } });
    expect((await netAdmin.get('/v2.0/ports')).body.ports.length).toBe(before);
  });

  it("refuses another project's network and a port already in use", async () => {
    const foreign = await makeNetwork(netAdmin, 'admin_private', '10.8.0.0/24');
    const res = await boot(demo, { name: 'x', networks: [{ uuid: foreign.id }] });
    expect(res.status).toBe(400);
    expect(res.body.badRequest.message).toBe(`Network ${foreign.id} could not be found.`);
    const used = (await netDemo.post('/v2.0/ports', { port: { network_id: net.id, device_id: 'somebody' } })).body.port;
    const inUse = await boot(demo, { name: 'x', networks: [{ port: used.id }] });
    expect(inUse.status).toBe(409);
    expect(inUse.body).toEqual({ conflictingRequest: { code: 409, message: `Port ${used.id} is still in use.` } });
  });

  it('enforces the instances quota with 403', async () => {
    const project = await projectId('demo');
    await admin.put(`/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 0, force: true } });
    const res = await boot(demo, { name: 'over', networks: 'none' });
    expect(res.status).toBe(403);
    expect(res.body.forbidden.message).toMatch(/^Quota exceeded for instances: Requested 1, but already used \d+ of 0 instances$/);
    await admin.put(`/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 100 } });
  });

  it('leaves no port behind when the build fails half-way, and says why in the fault', async () => {
    const tiny = await makeNetwork(netDemo, 'tiny', '10.7.0.0/24', { start: '10.7.0.10', end: '10.7.0.10' });
    await netDemo.post('/v2.0/ports', { port: { network_id: tiny.id } });
    const before = (await netAdmin.get('/v2.0/ports')).body.ports.length;
    const res = await boot(demo, { name: 'halfway', networks: [{ uuid: net.id }, { uuid: tiny.id }] });
    expect(res.status).toBe(202);
    await settle();
    const s = (await demo.get(`/v2.1/servers/${res.body.server.id}`)).body.server;
    expect(s.status).toBe('ERROR');
    expect(s.fault).toMatchObject({
      code: 500,
      message: `Build of instance ${s.id} aborted: Failed to allocate the network(s) with error No fixed IP addresses available for network: ${tiny.id}, not rescheduling.`,
    });
    expect(s.fault).not.toHaveProperty('details');
    expect(await portsOf(s.id)).toEqual([]);
    expect((await netAdmin.get('/v2.0/ports')).body.ports.length).toBe(before);
    expect((await demo.delete(`/v2.1/servers/${s.id}`)).status).toBe(204);
  });
});

describe('key pairs, availability zones, quotas, events, hypervisors', () => {
  it('generates and imports key pairs per user', async () => {
    const gen = await demo.post('/v2.1/os-keypairs', { keypair: { name: 'gen' } }, V46);
    expect(gen.status).toBe(201);
    expect(gen.body.keypair.public_key).toMatch(/^ssh-rsa AAAA[0-9A-Za-z+/=]+ Generated-by-Nova$/);
    expect(gen.body.keypair.private_key).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(gen.body.keypair.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGHlGKvYtp6MkC+hJo8Yf2bYx9cKwWfQNm5JlI7r6dvN test@host';
    const imp = await demo.post('/v2.1/os-keypairs', { keypair: { name: 'imp', public_key: pub } }, V('2.1'));
    expect(imp.status).toBe(200);
    expect(imp.body.keypair).not.toHaveProperty('type');
    expect(imp.body.keypair).not.toHaveProperty('private_key');
    const list = (await demo.get('/v2.1/os-keypairs', V46)).body.keypairs.map((k: any) => k.keypair.name);
    expect(list).toEqual(expect.arrayContaining(['gen', 'imp']));
    expect((await admin.get('/v2.1/os-keypairs')).body.keypairs.map((k: any) => k.keypair.name)).not.toContain('imp');
    const show = (await demo.get('/v2.1/os-keypairs/imp', V46)).body.keypair;
    expect(show).toMatchObject({ name: 'imp', public_key: pub, type: 'ssh', deleted: false });
    const bad = await demo.post('/v2.1/os-keypairs', { keypair: { name: 'bad', public_key: 'ssh-rsa notakey' } });
    expect(bad.body).toEqual({ badRequest: { code: 400, message: 'Keypair data is invalid: failed to generate fingerprint' } });
    expect((await demo.post('/v2.1/os-keypairs', { keypair: { name: 'imp', public_key: pub } })).status).toBe(409);
    expect((await demo.post('/v2.1/os-keypairs', { keypair: { name: 'a/b' } })).body.badRequest.message).toMatch(/^An invalid 'name' value was provided/);
    expect((await demo.delete('/v2.1/os-keypairs/imp', V46)).status).toBe(204);
    expect((await demo.delete('/v2.1/os-keypairs/imp')).status).toBe(404);
  });

  it('lists the nova availability zone', async () => {
    expect((await demo.get('/v2.1/os-availability-zone')).body).toEqual({
      availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }],
    });
    expect((await demo.get('/v2.1/os-availability-zone/detail')).status).toBe(403);
    const detail = (await admin.get('/v2.1/os-availability-zone/detail')).body.availabilityZoneInfo;
    expect(detail.map((z: any) => z.zoneName)).toEqual(['internal', 'nova']);
  });

  it('shows and sets quotas as Nova does per microversion', async () => {
    const project = await projectId('demo');
    await admin.delete(`/v2.1/os-quota-sets/${project}`);
    const q = (await demo.get(`/v2.1/os-quota-sets/${project}`)).body.quota_set;
    expect(q).toMatchObject({ id: project, instances: 10, cores: 20, ram: 51200, key_pairs: 100, floating_ips: 10, fixed_ips: -1 });
    expect((await demo.get(`/v2.1/os-quota-sets/${project}`, V46)).body.quota_set).not.toHaveProperty('floating_ips');
    const other = await projectId('admin');
    expect((await demo.get(`/v2.1/os-quota-sets/${other}`)).status).toBe(403);
    expect((await demo.put(`/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 50 } })).status).toBe(403);
    const set = await admin.put(`/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 50 } });
    expect(set.body.quota_set).toMatchObject({ instances: 50 });
    expect(set.body.quota_set).not.toHaveProperty('id');
    const low = await admin.put(`/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 1 } });
    expect(low.body.badRequest.message).toMatch(/^Quota limit 1 for instances must be greater than or equal to already used and reserved \d+\.$/);
    const detail = (await demo.get(`/v2.1/os-quota-sets/${project}/detail`)).body.quota_set;
    expect(detail.instances).toMatchObject({ limit: 50, reserved: 0 });
    expect(detail.instances.in_use).toBeGreaterThan(0);
    await admin.put(`/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 100, cores: 200 } });
  });

  it('accepts server external events from admins', async () => {
    const id = (await boot(demo, { name: 'ev', networks: 'none' })).body.server.id;
    await settle();
    const ok = await admin.post('/v2.1/os-server-external-events', { events: [{ name: 'network-vif-plugged', server_uuid: id, tag: 'x' }] });
    expect(ok.status).toBe(200);
    expect(ok.body.events[0]).toMatchObject({ status: 'completed', code: 200 });
    const none = await admin.post('/v2.1/os-server-external-events', {
      events: [{ name: 'network-changed', server_uuid: '00000000-0000-0000-0000-000000000000' }],
    });
    expect(none.status).toBe(404);
    expect((await demo.post('/v2.1/os-server-external-events', { events: [{ name: 'network-changed', server_uuid: id }] })).status).toBe(403);
  });

  it('shows the hypervisor to admins only', async () => {
    const list = (await admin.get('/v2.1/os-hypervisors')).body.hypervisors;
    expect(list).toEqual([{ id: 1, hypervisor_hostname: tc.cloud.services.compute.hostname, state: 'up', status: 'enabled' }]);
    expect((await admin.get('/v2.1/os-hypervisors/detail')).body.hypervisors[0].vcpus).toBeGreaterThan(0);
    expect((await demo.get('/v2.1/os-hypervisors')).status).toBe(403);
  });
});
