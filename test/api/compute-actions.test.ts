/**
 * Server actions and the Nova APIs around them, as a current Nova answers them: the state
 * machine of every action (409 in Nova's words when the state does not fit), the instance
 * actions they record, resize with its quota and migration records, snapshots and shelving
 * through the image service, server groups and the scheduler, services, aggregates and zones,
 * hypervisors, usage, personality, and the proxies below 2.36.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';

const V = (v: string) => ({ 'openstack-api-version': `compute ${v}` });
const V96 = V('2.96');

let tc: TestCloud;
let admin: Client;
let demo: Client;
let images: { admin: Client; demo: Client };
let network: { admin: Client; demo: Client };
let imageId = '';
let netId = '';
let demoProject = '';

async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await tc.cloud.services.computeManager.idle();
    await tc.cloud.services.dataplane.idle();
  }
}

async function boot(client: Client, server: Record<string, unknown> = {}, version = '2.96', extra: Record<string, unknown> = {}): Promise<string> {
  const res = await client.post(
    '/v2.1/servers',
    { server: { name: 'vm', flavorRef: '42', imageRef: imageId, networks: [{ uuid: netId }], ...server }, ...extra },
    V(version),
  );
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await settle();
  return res.body.server.id;
}

const show = async (id: string, client = demo, version = '2.96') => (await client.get(`/v2.1/servers/${id}`, V(version))).body.server;
const act = (id: string, body: unknown, client = demo, version = '2.96') => client.post(`/v2.1/servers/${id}/action`, body, V(version));

beforeAll(async () => {
  tc = await startCloud();
  ({ admin, demo } = await serviceClients(tc, 'compute'));
  images = await serviceClients(tc, 'image');
  network = await serviceClients(tc, 'network');
  imageId = (await images.demo.get('/v2/images?name=cirros-0.3.3-x86_64-disk')).body.images[0].id;
  const net = (await network.demo.post('/v2.0/networks', { network: { name: 'actions' } })).body.network;
  await network.demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.20.0.0/24', ip_version: 4 } });
  netId = net.id;
  demoProject = net.project_id;
  await admin.put(`/v2.1/os-quota-sets/${demoProject}`, { quota_set: { instances: 50, cores: 60, ram: 100000 } });
}, 60_000);
afterAll(async () => tc.stop());

describe('the state machine of server actions', () => {
  it('pauses, suspends and resumes, refusing what the state does not allow', async () => {
    const id = await boot(demo);
    expect((await act(id, { unpause: null })).body).toEqual({
      conflictingRequest: { code: 409, message: `Cannot 'unpause' instance ${id} while it is in vm_state active` },
    });
    expect((await act(id, { pause: null })).status).toBe(202);
    await settle();
    expect((await show(id))['OS-EXT-STS:power_state']).toBe(3);
    expect((await show(id)).status).toBe('PAUSED');
    expect((await act(id, { suspend: null })).body.conflictingRequest.message).toBe(`Cannot 'suspend' instance ${id} while it is in vm_state paused`);
    expect((await act(id, { unpause: null })).status).toBe(202);
    await settle();
    expect((await act(id, { suspend: null })).status).toBe(202);
    await settle();
    expect((await show(id)).status).toBe('SUSPENDED');
    expect((await act(id, { resume: null })).status).toBe(202);
    await settle();
    expect((await show(id)).status).toBe('ACTIVE');
  });

  it('shows the transitional status while an action takes its time (REBOOT, HARD_REBOOT)', async () => {
    const slow = await startCloud({ config: { computeActionMs: 400 } });
    try {
      const c = (await serviceClients(slow, 'compute')).demo;
      const n = (await serviceClients(slow, 'network')).demo;
      const img = (await (await serviceClients(slow, 'image')).demo.get('/v2/images')).body.images[0].id;
      const id = (await c.post('/v2.1/servers', { server: { name: 's', flavorRef: '42', imageRef: img, networks: 'none' } }, V96)).body.server.id;
      await slow.cloud.services.computeManager.idle();
      expect((await c.get(`/v2.1/servers/${id}`, V96)).body.server.status).toBe('ACTIVE');
      void n;
      expect((await c.post(`/v2.1/servers/${id}/action`, { reboot: { type: 'HARD' } }, V96)).status).toBe(202);
      await slow.cloud.services.computeManager.idle();
      const during = (await c.get(`/v2.1/servers/${id}`, V96)).body.server;
      expect([during.status, during['OS-EXT-STS:task_state']]).toEqual(['HARD_REBOOT', 'rebooting_hard']);
      await new Promise((r) => setTimeout(r, 600));
      await slow.cloud.services.computeManager.idle();
      expect((await c.get(`/v2.1/servers/${id}`, V96)).body.server.status).toBe('ACTIVE');
    } finally {
      await slow.stop();
    }
  });

  it('rescues with a password and unrescues', async () => {
    const id = await boot(demo);
    const res = await act(id, { rescue: { adminPass: 'Secret123' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ adminPass: 'Secret123' });
    await settle();
    expect((await show(id)).status).toBe('RESCUE');
    expect((await act(id, { rescue: null })).body.conflictingRequest.message).toBe(`Cannot 'rescue' instance ${id} while it is in vm_state rescued`);
    expect((await act(id, { unrescue: null })).status).toBe(202);
    await settle();
    expect((await show(id)).status).toBe('ACTIVE');
  });

  it('locks with a reason (2.73) that only the locker, or an admin, can lift', async () => {
    const id = await boot(demo);
    expect((await act(id, { lock: { locked_reason: 'maintenance' } })).status).toBe(202);
    const s = await show(id);
    expect([s.locked, s.locked_reason]).toEqual([true, 'maintenance']);
    expect((await act(id, { 'os-stop': null })).body.conflictingRequest.message).toBe(`Instance ${id} is locked`);
    // Before 2.73 the lock's argument is not looked at (and a reason is kept by no one).
    expect((await act(id, { lock: { locked_reason: 'x' } }, demo, '2.72')).status).toBe(202);
    expect((await show(id, demo, '2.72')).locked).toBe(true);
    expect((await act(id, { unlock: null })).status).toBe(202);
    expect((await show(id)).locked_reason).toBeNull();
    // An admin's lock: the owner may not lift it.
    expect((await act(id, { lock: null }, admin)).status).toBe(202);
    expect((await act(id, { unlock: null })).body.forbidden.message).toBe(
      "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.",
    );
    expect((await act(id, { unlock: null }, admin)).status).toBe(202);
  });

  it('answers changePassword as Nova without a guest agent, and records it', async () => {
    const id = await boot(demo);
    const res = await act(id, { changePassword: { adminPass: 'x' } });
    expect(res.body).toEqual({ conflictingRequest: { code: 409, message: 'Guest agent is not enabled for the instance' } });
    expect((await show(id))['OS-EXT-STS:task_state']).toBeNull();
    const actions = (await demo.get(`/v2.1/servers/${id}/os-instance-actions`, V96)).body.instanceActions;
    expect(actions.map((a: { action: string }) => a.action)).toEqual(['changePassword', 'create']);
    const one = (await admin.get(`/v2.1/servers/${id}/os-instance-actions/${actions[0].request_id}`, V96)).body.instanceAction;
    expect(one.message).toBe('Error');
    expect(one.events[0]).toMatchObject({ event: 'compute_set_admin_password', result: 'Error' });
  });

  it('migrates and live-migrates as a one-host Nova answers', async () => {
    const id = await boot(demo);
    expect((await act(id, { migrate: null })).body.forbidden.message).toBe("Policy doesn't allow os_compute_api:os-migrate-server:migrate to be performed.");
    expect((await act(id, { migrate: null }, admin)).status).toBe(202);
    await settle();
    expect((await show(id)).status).toBe('ACTIVE');
    const live = await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto' } }, admin, '2.25');
    expect(live.body.badRequest.message).toBe('No valid host was found. There are not enough hosts available.');
    expect((await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto' } }, admin)).status).toBe(202);
    const migrations = (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations;
    expect(migrations.map((m: { migration_type: string; status: string }) => [m.migration_type, m.status])).toEqual([
      ['live-migration', 'error'],
      ['live-migration', 'error'],
      ['migration', 'error'],
    ]);
  });
});

describe('rebuild and resize', () => {
  it('rebuilds onto another image, keeping its ports and addresses, with quotas honoured', async () => {
    const id = await boot(demo);
    const before = await show(id);
    const alt = (await images.admin.post('/v2/images', { name: 'alt', disk_format: 'raw', container_format: 'bare', visibility: 'public' })).body;
    await images.admin.put(`/v2/images/${alt.id}/file`, Buffer.alloc(0));
    const meta = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
    expect((await act(id, { rebuild: { imageRef: alt.id, metadata: meta } })).body.forbidden.message).toBe('Maximum number of metadata items exceeds 128');
    const res = await act(id, { rebuild: { imageRef: alt.id, name: 'rebuilt', user_data: Buffer.from('#!/bin/sh\n').toString('base64') } });
    expect(res.status).toBe(202);
    expect(res.body.server).toMatchObject({ status: 'REBUILD', name: 'rebuilt', image: { id: alt.id } });
    expect(res.body.server.adminPass).toMatch(/^\w{12}$/);
    await settle();
    const after = await show(id);
    expect(after.status).toBe('ACTIVE');
    expect(after.addresses).toEqual(before.addresses);
    expect((await act(id, { rebuild: { imageRef: '00000000-0000-0000-0000-000000000000' } })).body.badRequest.message).toBe('Cannot find image for rebuild');
  });

  it('resizes through VERIFY_RESIZE, confirms and reverts, with the quota following the flavor', async () => {
    const id = await boot(demo);
    expect((await act(id, { resize: { flavorRef: '42' } })).body.badRequest.message).toBe('When resizing, instances must change flavor!');
    expect((await act(id, { resize: { flavorRef: '84' } })).status).toBe(202);
    await settle();
    let s = await show(id);
    expect([s.status, s.flavor.original_name]).toEqual(['VERIFY_RESIZE', 'm1.micro']);
    expect((await act(id, { confirmResize: null })).status).toBe(204);
    s = await show(id);
    expect([s.status, s.flavor.original_name]).toEqual(['ACTIVE', 'm1.micro']);
    expect((await act(id, { confirmResize: null })).body.conflictingRequest.message).toBe(
      `Cannot 'confirmResize' instance ${id} while it is in vm_state active`,
    );
    expect((await act(id, { resize: { flavorRef: '1' } })).status).toBe(202);
    await settle();
    expect((await act(id, { revertResize: null })).status).toBe(202);
    await settle();
    s = await show(id);
    expect([s.status, s.flavor.original_name]).toEqual(['ACTIVE', 'm1.micro']);
    // An upsize beyond the cores quota is refused with Nova's TooManyInstances wording.
    await admin.put(`/v2.1/os-quota-sets/${demoProject}`, { quota_set: { cores: 1, force: true } });
    const over = await act(id, { resize: { flavorRef: '3' } });
    expect(over.status).toBe(403);
    expect(over.body.forbidden.message).toMatch(/^Quota exceeded for cores: Requested 1, but already used \d+ of 1 cores$/);
    await admin.put(`/v2.1/os-quota-sets/${demoProject}`, { quota_set: { cores: 60 } });
    const migrations = (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations;
    expect(migrations.map((m: { status: string }) => m.status)).toEqual(['reverted', 'confirmed']);
  });
});

describe('images of servers', () => {
  it('snapshots through the image service with Nova instance properties (2.45 image_id)', async () => {
    const id = await boot(demo);
    const res = await act(id, { createImage: { name: 'snap', metadata: { purpose: 'test' } } });
    expect(res.status).toBe(202);
    const imgId = res.body.image_id;
    await settle();
    const img = (await images.demo.get(`/v2/images/${imgId}`)).body;
    expect(img).toMatchObject({ name: 'snap', status: 'active', visibility: 'private', instance_uuid: id, image_type: 'snapshot', purpose: 'test' });
    expect(img.base_image_ref).toBe(imageId);
    const old = await act(id, { createImage: { name: 'snap2' } }, demo, '2.44');
    expect(old.headers.location).toMatch(/\/images\/[0-9a-f-]{36}$/);
    await settle();
    const bootFromSnapshot = await demo.post('/v2.1/servers', { server: { name: 'from-snap', flavorRef: '42', imageRef: imgId, networks: 'none' } }, V96);
    expect(bootFromSnapshot.status).toBe(202);
  });

  it('keeps the newest backups of a type (rotation)', async () => {
    const id = await boot(demo);
    for (const name of ['b1', 'b2', 'b3']) {
      expect((await act(id, { createBackup: { name, backup_type: 'daily', rotation: 2 } })).status).toBe(202);
      await settle();
    }
    const list = (await images.demo.get(`/v2/images?instance_uuid=${id}&image_type=backup`)).body.images;
    expect(list.map((i: { name: string }) => i.name).sort()).toEqual(['b2', 'b3']);
  });

  it('shelves (offloading at once) and unshelves from the shelved image', async () => {
    const id = await boot(demo, { name: 'shelf' });
    expect((await act(id, { shelve: null })).status).toBe(202);
    await settle();
    const s = await show(id, admin);
    expect([s.status, s['OS-EXT-SRV-ATTR:host']]).toEqual(['SHELVED_OFFLOADED', null]);
    const shelved = (await images.demo.get('/v2/images?name=shelf-shelved')).body.images;
    expect(shelved).toHaveLength(1);
    expect((await act(id, { unshelve: { availability_zone: 'nowhere' } }, demo, '2.77')).body.badRequest.message).toBe(
      'The requested availability zone is not available',
    );
    expect((await act(id, { unshelve: null })).status).toBe(202);
    await settle();
    expect((await show(id)).status).toBe('ACTIVE');
    expect((await images.demo.get('/v2/images?name=shelf-shelved')).body.images).toHaveLength(0);
  });
});

describe('server groups and the scheduler', () => {
  it('keeps members in groups with policies and fails anti-affinity on one host as Nova does', async () => {
    const g = (await demo.post('/v2.1/os-server-groups', { server_group: { name: 'ga', policy: 'anti-affinity' } }, V96)).body.server_group;
    expect(g).toMatchObject({ name: 'ga', policy: 'anti-affinity', rules: {}, members: [] });
    const old = (await demo.get(`/v2.1/os-server-groups/${g.id}`, V('2.63'))).body.server_group;
    expect(old).toMatchObject({ policies: ['anti-affinity'], metadata: {} });
    const first = await boot(demo, { name: 'g1' }, '2.96', { 'os:scheduler_hints': { group: g.id } });
    expect((await show(first)).server_groups).toEqual([g.id]);
    expect((await show(first)).status).toBe('ACTIVE');
    const second = await boot(demo, { name: 'g2' }, '2.96', { 'os:scheduler_hints': { group: g.id } });
    const s = await show(second, admin);
    expect(s.status).toBe('ERROR');
    expect(s.fault).toMatchObject({ code: 500, message: 'No valid host was found. There are not enough hosts available.' });
    const rules = await demo.post('/v2.1/os-server-groups', { server_group: { name: 'r', policy: 'affinity', rules: { max_server_per_host: 2 } } }, V96);
    expect(rules.body.badRequest.message).toBe('Only anti-affinity policy supports rules.');
    const missing = await demo.post(
      '/v2.1/servers',
      { server: { name: 'x', flavorRef: '42', imageRef: imageId, networks: 'none' }, 'os:scheduler_hints': { group: '00000000-0000-0000-0000-000000000000' } },
      V96,
    );
    expect(missing.body.badRequest.message).toBe('Instance group 00000000-0000-0000-0000-000000000000 could not be found.');
  });

  it('lets admins disable the compute service: nothing can be scheduled until it is enabled', async () => {
    const services = (await admin.get('/v2.1/os-services', V96)).body.services;
    expect(services.map((s: { binary: string }) => s.binary)).toEqual(['nova-conductor', 'nova-scheduler', 'nova-compute']);
    const compute = services.find((s: { binary: string }) => s.binary === 'nova-compute');
    expect(compute).toMatchObject({ status: 'enabled', state: 'up', zone: 'nova', forced_down: false });
    expect((await admin.put(`/v2.1/os-services/${compute.id}`, { status: 'disabled', disabled_reason: 'test' }, V96)).body.service.status).toBe('disabled');
    const id = await boot(demo, { name: 'nohost', networks: 'none' });
    // A disabled compute is left out by Placement (compute_status_filter: COMPUTE_STATUS_DISABLED
    // is forbidden), before any filter runs: Nova's NoValidHost then has an empty reason.
    expect((await show(id, admin)).fault.message).toBe('No valid host was found. ');
    expect((await admin.get('/v2.1/os-availability-zone', V96)).body.availabilityZoneInfo).toEqual([
      { zoneName: 'nova', zoneState: { available: false }, hosts: null },
    ]);
    expect((await admin.put(`/v2.1/os-services/${compute.id}`, { status: 'enabled' }, V96)).body.service.status).toBe('enabled');
  });

  it('puts the host in the zone its aggregate defines', async () => {
    const host = tc.cloud.services.compute.hostname;
    const agg = (await admin.post('/v2.1/os-aggregates', { aggregate: { name: 'agg1', availability_zone: 'zone-a' } }, V96)).body.aggregate;
    expect(agg).toMatchObject({ name: 'agg1', availability_zone: 'zone-a', deleted: false });
    expect(agg).not.toHaveProperty('hosts');
    // The host already runs servers in `nova`: its zone cannot change under them.
    const add = await admin.post(`/v2.1/os-aggregates/${agg.id}/action`, { add_host: { host } }, V96);
    expect(add.status).toBe(409);
    expect(add.body.conflictingRequest.message).toMatch(
      /^Cannot add host to aggregate \d+\. Reason: The host cannot be added to the aggregate as the availability zone of the host would change from 'None' to 'zone-a'/,
    );
    const meta = await admin.post(`/v2.1/os-aggregates/${agg.id}/action`, { set_metadata: { metadata: { ssd: 'true' } } }, V96);
    expect(meta.body.aggregate.metadata).toEqual({ availability_zone: 'zone-a', ssd: 'true' });
    expect((await admin.delete(`/v2.1/os-aggregates/${agg.id}`)).status).toBe(200);
    expect((await admin.get(`/v2.1/os-aggregates/${agg.id}`)).body.itemNotFound.message).toBe(`Aggregate ${agg.id} could not be found.`);
    // As Nova's autoincrement: a deleted aggregate's id is never given again, so a client still
    // holding it gets a 404 rather than acting on someone else's new aggregate.
    const next = (await admin.post('/v2.1/os-aggregates', { aggregate: { name: 'agg2' } }, V96)).body.aggregate;
    expect(next.id).toBeGreaterThan(agg.id);
    expect((await admin.post(`/v2.1/os-aggregates/${agg.id}/action`, { add_host: { host } }, V96)).status).toBe(404);
    expect((await admin.delete(`/v2.1/os-aggregates/${next.id}`)).status).toBe(200);
  });
});

describe('hypervisors, usage and records', () => {
  it('serves hypervisor details, statistics and uptime per microversion', async () => {
    const list = (await admin.get('/v2.1/os-hypervisors/detail', V('2.87'))).body.hypervisors;
    expect(list[0]).toMatchObject({ state: 'up', status: 'enabled', hypervisor_type: 'PocketStack' });
    expect(list[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await admin.get('/v2.1/os-hypervisors/statistics')).body.hypervisor_statistics.count).toBe(1);
    expect((await admin.get('/v2.1/os-hypervisors/statistics', V96)).status).toBe(404);
    const detail = (await admin.get('/v2.1/os-hypervisors/detail', V96)).body.hypervisors[0];
    expect(detail).not.toHaveProperty('vcpus');
    expect(detail.uptime).toMatch(/ up /);
    expect((await admin.get('/v2.1/os-hypervisors/1/uptime')).body.hypervisor.uptime).toMatch(/load average/);
    const host = tc.cloud.services.compute.hostname;
    expect((await admin.get(`/v2.1/os-hypervisors/${host}/search`)).body.hypervisors).toHaveLength(1);
    expect((await admin.get('/v2.1/os-hypervisors/nomatch/search')).body.itemNotFound.message).toBe("No hypervisor matching 'nomatch' could be found.");
  });

  it('counts usage hours to the microsecond, as Nova does', async () => {
    const id = await boot(demo, { name: 'usage-us' });
    const launched = (await demo.get(`/v2.1/servers/${id}`)).body.server['OS-SRV-USG:launched_at'] as string;
    // A window of 51 µs across a millisecond's edge, a second after the launch, once it is past.
    const second = Math.floor(Date.parse(`${launched.slice(0, 19)}Z`) / 1000) + 1;
    while (Date.now() < (second + 1) * 1000) await new Promise((r) => setTimeout(r, 50));
    const at = new Date(second * 1000).toISOString().slice(0, 19);
    const usage = (await demo.get(`/v2.1/os-simple-tenant-usage/${demoProject}?start=${at}.000999&end=${at}.001050`)).body.tenant_usage;
    const mine = usage.server_usages.find((u: { instance_id: string }) => u.instance_id === id);
    // Counted from milliseconds this window was a whole one: 2.8e-7 hours.
    expect(mine.hours).toBeCloseTo(51e-6 / 3600, 15);
    await demo.delete(`/v2.1/servers/${id}`);
  });

  it('reports tenant usage, deleted servers included', async () => {
    const id = await boot(demo, { name: 'usage' });
    await demo.delete(`/v2.1/servers/${id}`);
    const start = new Date(Date.now() - 3_600_000).toISOString().slice(0, 19);
    const usage = (await demo.get(`/v2.1/os-simple-tenant-usage/${demoProject}?start=${start}`, V96)).body.tenant_usage;
    const mine = usage.server_usages.find((u: { instance_id: string }) => u.instance_id === id);
    expect(mine).toMatchObject({ name: 'usage', state: 'terminated', flavor: 'm1.nano' });
    // The window is echoed as parsed, to the microsecond (openstacksdk's get_compute_usage compares
    // `started_at` with the start it sent); a stop in the future is now.
    const exact = (await admin.get(`/v2.1/os-simple-tenant-usage/${demoProject}?start=${start}.628765&end=2999-01-01T00:00:00.5`)).body.tenant_usage;
    expect(exact.start).toBe(`${start}.628765`);
    expect(exact.stop < '2999').toBe(true);
    expect(exact.stop).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const short = await admin.get(`/v2.1/os-simple-tenant-usage/${demoProject}?start=${start}.5&end=${start}.500001`);
    expect(short.status).toBe(200);
    expect(short.body.tenant_usage).toEqual({});
    const same = await admin.get(`/v2.1/os-simple-tenant-usage/${demoProject}?start=${start}.5&end=${start}.500000`);
    expect(same.body.badRequest.message).toBe('Invalid start time. The start time cannot occur after the end time.');
    // Without bounds both are now, microseconds apart: a window of no time (the servers still
    // running are in it, with no hours), not a refusal.
    // Each server in it accrues at most the window's length (however long a loaded machine took
    // between the two readings of now).
    const none = await admin.get('/v2.1/os-simple-tenant-usage?detailed=1');
    expect(none.status).toBe(200);
    const hoursAt = (t: string) => Date.parse(`${t.slice(0, 19)}Z`) / 3_600_000 + Number(`0${t.slice(19)}`) / 3600;
    for (const u of none.body.tenant_usages as Array<{ start: string; stop: string; server_usages: Array<{ hours: number }> }>) {
      expect(u.start < u.stop).toBe(true);
      const window = hoursAt(u.stop) - hoursAt(u.start);
      expect(window).toBeGreaterThan(0);
      for (const s of u.server_usages) expect(s.hours).toBeLessThanOrEqual(window + 1e-9);
    }
    expect((await demo.get('/v2.1/os-simple-tenant-usage')).status).toBe(403);
    // The deleted server's actions stay readable (2.21).
    const actions = (await demo.get(`/v2.1/servers/${id}/os-instance-actions`, V96)).body.instanceActions;
    expect(actions.map((a: { action: string }) => a.action)).toEqual(['delete', 'create']);
    expect((await demo.get(`/v2.1/servers/${id}/os-instance-actions`, V('2.20'))).status).toBe(404);
  });

  it('keeps quota classes whose default class is every project default (2.50, 2.57 views)', async () => {
    const before = (await admin.get('/v2.1/os-quota-class-sets/default', V('2.49'))).body.quota_class_set;
    expect(before).toMatchObject({ id: 'default', instances: 10, floating_ips: 10, injected_files: 5 });
    expect(before).not.toHaveProperty('server_groups');
    const upd = await admin.put('/v2.1/os-quota-class-sets/gold', { quota_class_set: { key_pairs: '7' } }, V96);
    expect(upd.body.quota_class_set).toMatchObject({ key_pairs: 7, server_groups: 10 });
    expect(upd.body.quota_class_set).not.toHaveProperty('id');
    expect(upd.body.quota_class_set).not.toHaveProperty('injected_files');
    expect(upd.body.quota_class_set).not.toHaveProperty('floating_ips');
    const old = await admin.put('/v2.1/os-quota-class-sets/gold', { quota_class_set: { floating_ips: 3 } }, V('2.57'));
    expect(old.status).toBe(400);
    expect((await demo.get('/v2.1/os-quota-class-sets/default')).status).toBe(403);
    await admin.put('/v2.1/os-quota-class-sets/default', { quota_class_set: { metadata_items: 99 } }, V96);
    expect((await admin.get('/v2.1/os-quota-sets/anyproject/defaults')).body.quota_set.metadata_items).toBe(99);
    await admin.put('/v2.1/os-quota-class-sets/default', { quota_class_set: { metadata_items: 128 } }, V96);
  });

  it('answers the instance usage audit log for the last completed month, with no audit run', async () => {
    const log = (await admin.get('/v2.1/os-instance_usage_audit_log')).body.instance_usage_audit_logs;
    expect(log).toMatchObject({ num_hosts: 1, num_hosts_done: 0, num_hosts_not_run: 1, overall_status: '0 of 1 hosts done. 0 errors.', log: {} });
    expect(log.period_ending).toMatch(/^\d{4}-\d\d-01 00:00:00$/);
    const at = (await admin.get('/v2.1/os-instance_usage_audit_log/2020-03-01%2000:00:00')).body.instance_usage_audit_log;
    expect([at.period_beginning, at.period_ending]).toEqual(['2020-01-01 00:00:00', '2020-02-01 00:00:00']);
    const bad = await admin.get('/v2.1/os-instance_usage_audit_log/yesterday');
    expect(bad.body.badRequest.message).toBe('Invalid timestamp for date yesterday');
    expect((await demo.get('/v2.1/os-instance_usage_audit_log')).status).toBe(403);
    // "os-simple-tenant-usage/" names the empty project, which no route serves.
    expect((await admin.get('/v2.1/os-simple-tenant-usage/')).status).toBe(404);
  });

  it('generates x509 key pairs (2.2) as Nova does, and knows no console token', async () => {
    const kp = (await demo.post('/v2.1/os-keypairs', { keypair: { name: 'win', type: 'x509' } }, V('2.2'))).body.keypair;
    expect(kp.public_key).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(kp.fingerprint).toMatch(/^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);
    expect(Buffer.from(kp.private_key, 'base64').length).toBeGreaterThan(1000);
    expect((await admin.get('/v2.1/os-console-auth-tokens/abc', V96)).body.itemNotFound.message).toBe('Token not found');
    expect((await admin.get('/v2.1/os-console-auth-tokens/abc', V('2.30'))).status).toBe(400);
    expect((await demo.get('/v2.1/os-console-auth-tokens/abc', V96)).status).toBe(403);
  });

  it('checks the images an aggregate is to cache (2.81)', async () => {
    const agg = (await admin.post('/v2.1/os-aggregates', { aggregate: { name: 'cache-agg' } }, V96)).body.aggregate;
    const cache = (ids: string[]) => ({ cache: ids.map((id) => ({ id })) });
    expect((await admin.post(`/v2.1/os-aggregates/${agg.id}/images`, cache([imageId]), V96)).status).toBe(202);
    expect((await admin.post(`/v2.1/os-aggregates/${agg.id}/images`, cache([imageId]), V('2.80'))).status).toBe(404);
    expect((await demo.post(`/v2.1/os-aggregates/${agg.id}/images`, cache([imageId]), V96)).status).toBe(403);
    const dup = await admin.post(`/v2.1/os-aggregates/${agg.id}/images`, cache([imageId, imageId]), V96);
    expect(dup.body.badRequest.message).toBe('Duplicate images in request');
    const missing = '11111111-2222-3333-4444-555555555555';
    const unknown = await admin.post(`/v2.1/os-aggregates/${agg.id}/images`, cache([missing]), V96);
    expect(unknown.body.badRequest.message).toBe(`Image ${missing} could not be found.`);
    expect((await admin.post(`/v2.1/os-aggregates/${agg.id}/images`, { cache: [] }, V96)).status).toBe(400);
    expect((await admin.post('/v2.1/os-aggregates/99999/images', cache([imageId]), V96)).status).toBe(404);
    expect((await admin.post('/v2.1/os-aggregates/abc/images', cache([imageId]), V96)).status).toBe(400);
    await admin.delete(`/v2.1/os-aggregates/${agg.id}`);
  });

  it('answers os-baremetal-nodes as Nova without an Ironic client, and versions by id', async () => {
    const list = await admin.get('/v2.1/os-baremetal-nodes', V('2.35'));
    expect(list.body).toEqual({ notImplemented: { code: 501, message: 'Ironic client unavailable, cannot access Ironic.' } });
    expect((await demo.get('/v2.1/os-baremetal-nodes', V('2.35'))).status).toBe(403);
    expect((await admin.get('/v2.1/os-baremetal-nodes', V('2.36'))).status).toBe(404);
    const create = await admin.post('/v2.1/os-baremetal-nodes', { node: {} }, V('2.35'));
    expect(create.body.badRequest.message).toBe('Command Not supported. Please use Ironic command node-create to perform this action.');
    const iface = await admin.post('/v2.1/os-baremetal-nodes/n1/action', { remove_interface: {} }, V('2.35'));
    expect(iface.body.badRequest.message).toBe('Command Not supported. Please use Ironic command port-delete to perform this action.');
    expect((await demo.get('/v2.1/os-cells/capacities')).status).toBe(410);
    const v = (await demo.get('/v2.1/versions/v2.0')).body.version;
    expect(v).toMatchObject({ id: 'v2.0', status: 'DEPRECATED' });
    expect(v.links[0].href).toMatch(/\/v2\.1\/$/);
    expect((await demo.get('/v2.1/versions/v9')).status).toBe(404);
  });

  it('lists Nova extensions and answers removed APIs with 410', async () => {
    const ext = (await demo.get('/v2.1/extensions')).body.extensions;
    expect(ext.length).toBeGreaterThan(90);
    expect(ext.find((e: { alias: string }) => e.alias === 'os-server-groups')).toBeDefined();
    expect((await demo.get('/v2.1/os-fping')).body).toEqual({
      computeFault: { code: 410, message: 'This resource is no longer available. No forwarding address is given.' },
    });
  });
});

describe('personality and the proxy APIs', () => {
  it('accepts personality files up to 2.56 within the quotas and shows them nowhere', async () => {
    const files = (n: number) => Array.from({ length: n }, (_, i) => ({ path: `/etc/f${i}`, contents: Buffer.from('x').toString('base64') }));
    const over = await demo.post(
      '/v2.1/servers',
      { server: { name: 'p', flavorRef: '42', imageRef: imageId, networks: 'none', personality: files(6) } },
      V('2.56'),
    );
    expect(over.body).toEqual({ forbidden: { code: 403, message: 'Personality file limit exceeded' } });
    const ok = await demo.post(
      '/v2.1/servers',
      { server: { name: 'p', flavorRef: '42', imageRef: imageId, networks: 'none', personality: files(2) } },
      V('2.56'),
    );
    expect(ok.status).toBe(202);
    expect(JSON.stringify(await show(ok.body.server.id))).not.toContain('personality');
    const gone = await demo.post(
      '/v2.1/servers',
      { server: { name: 'p', flavorRef: '42', imageRef: imageId, networks: 'none', personality: files(1) } },
      V('2.57'),
    );
    expect(gone.body.badRequest.message).toMatch(
      /^Invalid input for field\/attribute server\. .*Additional properties are not allowed \('personality' was unexpected\)$/,
    );
  });

  it('proxies images, networks, security groups and floating IPs below 2.36', async () => {
    const imgs = (await demo.get('/v2.1/images/detail', V('2.35'))).body.images;
    expect(imgs.find((i: { id: string }) => i.id === imageId)).toMatchObject({ status: 'ACTIVE', progress: 100, minRam: 0 });
    expect((await demo.get('/v2.1/images', V('2.36'))).status).toBe(404);
    expect((await demo.get('/v2.1/os-tenant-networks', V('2.35'))).body.networks.find((n: { id: string }) => n.id === netId)).toEqual({
      id: netId,
      cidr: 'None',
      label: 'actions',
    });
    const sg = (await demo.post('/v2.1/os-security-groups', { security_group: { name: 'web', description: 'w' } }, V('2.35'))).body.security_group;
    const rule = await demo.post(
      '/v2.1/os-security-group-rules',
      { security_group_rule: { parent_group_id: sg.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, cidr: '0.0.0.0/0' } },
      V('2.35'),
    );
    expect(rule.body.security_group_rule).toMatchObject({ ip_protocol: 'tcp', from_port: 80, to_port: 80, ip_range: { cidr: '0.0.0.0/0' }, group: {} });
    const dup = await demo.post(
      '/v2.1/os-security-group-rules',
      { security_group_rule: { parent_group_id: sg.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, cidr: '0.0.0.0/0' } },
      V('2.35'),
    );
    expect(dup.body.badRequest.message).toBe(`This rule already exists in group ${sg.id}`);
    const bad = await demo.post(
      '/v2.1/os-security-group-rules',
      { security_group_rule: { parent_group_id: sg.id, ip_protocol: 'tcp', from_port: 90, to_port: 80 } },
      V('2.35'),
    );
    expect(bad.body.badRequest.message).toBe('Invalid port range 90:80. Former value cannot be greater than the later');
    expect((await demo.get('/v2.1/os-floating-ip-pools', V('2.35'))).body.floating_ip_pools).toEqual([{ name: 'public' }]);
  });
});
