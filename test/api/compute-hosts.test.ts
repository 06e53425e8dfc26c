/**
 * Compute across several hosts (issue 18): hosts registered as `pocketstack agent` registers them
 * (startComputeHost: the nova-compute service, its node's capacity, heartbeats; and the Linux
 * bridge agent that binds their ports), the API
 * server's own host disabled as an operator keeps a controller out of rotation. Servers are
 * placed by Placement's capacity (Nova's allocation ratios and reserved memory), availability
 * zones and server groups, spread by the RAM/CPU/disk weighers; NoValidHost in Nova's words when
 * nothing fits; cold and live migrations move a server and rebind its ports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ComputeHost, startComputeHost } from '../../src/core/compute/nodes.js';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';
import { startAgentHost } from '../support/hosts.js';

const V = (v: string) => ({ 'openstack-api-version': `compute ${v}` });
const V96 = V('2.96');

let tc: TestCloud;
let admin: Client;
let demo: Client;
let neutron: Client;
let imageId = '';
let netId = '';
const hosts: ComputeHost[] = [];

async function settle(): Promise<void> {
  for (let i = 0; i < 6; i++) {
    await tc.cloud.services.computeManager.idle();
    await tc.cloud.services.dataplane.idle();
  }
}

async function flavor(id: string, ram: number, vcpus: number, disk: number): Promise<string> {
  const res = await admin.post('/v2.1/flavors', { flavor: { name: `f-${id}`, id, ram, vcpus, disk } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return id;
}

async function boot(name: string, o: { flavorRef?: string; zone?: string; group?: string } = {}): Promise<string> {
  const server: Record<string, unknown> = { name, flavorRef: o.flavorRef ?? '42', imageRef: imageId, networks: [{ uuid: netId }] };
  if (o.zone) server.availability_zone = o.zone;
  const res = await demo.post('/v2.1/servers', { server, ...(o.group ? { 'os:scheduler_hints': { group: o.group } } : {}) }, V96);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await settle();
  return res.body.server.id;
}

const show = async (id: string) => (await admin.get(`/v2.1/servers/${id}`, V96)).body.server;
const hostOf = async (id: string) => (await show(id))['OS-EXT-SRV-ATTR:host'] as string;
const act = (id: string, body: unknown, version = '2.96') => admin.post(`/v2.1/servers/${id}/action`, body, V(version));
const portsOf = async (id: string) => (await neutron.get(`/v2.0/ports?device_id=${id}`)).body.ports as Array<Record<string, unknown>>;
const del = async (...ids: string[]) => {
  for (const id of ids) await admin.delete(`/v2.1/servers/${id}`);
  await settle();
};

beforeAll(async () => {
  tc = await startCloud();
  ({ admin, demo } = await serviceClients(tc, 'compute'));
  const images = await serviceClients(tc, 'image');
  neutron = (await serviceClients(tc, 'network')).admin;
  const network = await serviceClients(tc, 'network');
  imageId = (await images.demo.get('/v2/images?name=cirros-0.3.3-x86_64-disk')).body.images[0].id;
  const net = (await network.demo.post('/v2.0/networks', { network: { name: 'hosts' } })).body.network;
  await network.demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.30.0.0/24', ip_version: 4 } });
  netId = net.id;
  await admin.put(`/v2.1/os-quota-sets/${net.project_id}`, { quota_set: { instances: 50, cores: 100, ram: 200000 } });
  // The API server's own compute is kept out of rotation: servers go to the agents' hosts.
  const own = (await admin.get('/v2.1/os-services?binary=nova-compute', V96)).body.services[0];
  await admin.put(`/v2.1/os-services/${own.id}`, { status: 'disabled', disabled_reason: 'controller' }, V96);
  // Two lab hosts as `pocketstack agent --host hN --vcpus 2 --memory-mb M --disk-gb 20` report them.
  // Each with its Linux bridge agent, which ML2 needs alive on a host to bind ports there.
  hosts.push(await startAgentHost(tc, 'h1', { vcpus: 2, memoryMb: 2560, diskGb: 20 }));
  hosts.push(await startAgentHost(tc, 'h2', { vcpus: 2, memoryMb: 2560, diskGb: 20 }));
}, 60_000);
afterAll(async () => {
  for (const h of hosts) h.stop();
  await tc.stop();
});

describe('compute hosts registered by their agents', () => {
  it('lists every host in os-services and os-hypervisors, up, with the capacity it reported', async () => {
    const services = (await admin.get('/v2.1/os-services?binary=nova-compute', V96)).body.services;
    expect(services.filter((s: { host: string }) => s.host === 'h1' || s.host === 'h2')).toEqual([
      expect.objectContaining({ host: 'h1', status: 'enabled', state: 'up', zone: 'nova' }),
      expect.objectContaining({ host: 'h2', status: 'enabled', state: 'up', zone: 'nova' }),
    ]);
    const list = (await admin.get('/v2.1/os-hypervisors/detail', V('2.87'))).body.hypervisors;
    const h1 = list.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === 'h1');
    expect(h1).toMatchObject({ state: 'up', status: 'enabled', vcpus: 2, memory_mb: 2560, local_gb: 20, memory_mb_used: 512, vcpus_used: 0 });
    // A restart finds its service again (no second one) and reports its node anew.
    const again = await startComputeHost(tc.cloud.services.network.uow, { host: 'h1', capacity: { vcpus: 2, memoryMb: 2560, diskGb: 20 } });
    again.stop();
    const after = (await admin.get('/v2.1/os-services?host=h1', V96)).body.services;
    expect(after).toHaveLength(1);
  });

  it('spreads servers over the hosts (RAMWeigher and friends) and binds their ports to the host', async () => {
    const a = await boot('spread-a');
    const b = await boot('spread-b');
    const [ha, hb] = [await hostOf(a), await hostOf(b)];
    expect(new Set([ha, hb])).toEqual(new Set(['h1', 'h2']));
    expect((await show(a))['OS-EXT-SRV-ATTR:hypervisor_hostname']).toBe(ha);
    expect((await portsOf(a)).map((p) => p['binding:host_id'])).toEqual([ha]);
    expect((await portsOf(b)).map((p) => p['binding:host_id'])).toEqual([hb]);
    const hv = (await admin.get('/v2.1/os-hypervisors/detail', V('2.87'))).body.hypervisors;
    expect(hv.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === ha)).toMatchObject({ vcpus_used: 1, memory_mb_used: 640, running_vms: 1 });
    await del(a, b);
  });

  it('places by capacity as Placement does, and fails with NoValidHost when nothing fits', async () => {
    // 1800 MB fits a host (2560 − 512 reserved = 2048) once: the second goes to the other host.
    const big = await flavor('big', 1800, 1, 1);
    const one = await boot('big-1', { flavorRef: big });
    const two = await boot('big-2', { flavorRef: big });
    expect(new Set([await hostOf(one), await hostOf(two)])).toEqual(new Set(['h1', 'h2']));
    const three = await boot('big-3', { flavorRef: big });
    const s = await show(three);
    expect(s.status).toBe('ERROR');
    expect(s.fault).toMatchObject({ code: 500, message: 'No valid host was found. ' });
    expect(s['OS-EXT-SRV-ATTR:host']).toBeNull();
    // VCPU: 4 × 2 CPUs may be allocated (cpu_allocation_ratio 4.0), but no one allocation above max_unit 2.
    const wide = await flavor('wide', 64, 3, 1);
    expect((await show(await boot('wide', { flavorRef: wide }))).fault.message).toBe('No valid host was found. ');
    await del(one, two, three);
    const many: string[] = [];
    for (let i = 0; i < 8; i++) many.push(await boot(`cpu-${i}`));
    const placed = await Promise.all(many.map(hostOf));
    expect(placed.filter((h) => h === 'h1')).toHaveLength(4);
    expect(placed.filter((h) => h === 'h2')).toHaveLength(4);
    const hv = (await admin.get('/v2.1/os-hypervisors/detail', V('2.87'))).body.hypervisors;
    expect(hv.filter((h: { hypervisor_hostname: string }) => h.hypervisor_hostname.startsWith('h')).map((h: { vcpus_used: number }) => h.vcpus_used)).toEqual([
      4, 4,
    ]);
    await del(...many);
  });

  it('keeps a server in the zone it asked for', async () => {
    const agg = (await admin.post('/v2.1/os-aggregates', { aggregate: { name: 'rack2', availability_zone: 'az2' } }, V96)).body.aggregate;
    expect((await admin.post(`/v2.1/os-aggregates/${agg.id}/action`, { add_host: { host: 'h2' } }, V96)).status).toBe(200);
    const ids = [await boot('az-1', { zone: 'az2' }), await boot('az-2', { zone: 'az2' })];
    for (const id of ids) {
      expect(await hostOf(id)).toBe('h2');
      expect((await show(id))['OS-EXT-AZ:availability_zone']).toBe('az2');
    }
    const big = await flavor('az-big', 2000, 1, 1);
    expect((await show(await boot('az-full', { zone: 'az2', flavorRef: big }))).fault.message).toBe('No valid host was found. ');
    await del(...ids);
    await admin.post(`/v2.1/os-aggregates/${agg.id}/action`, { remove_host: { host: 'h2' } }, V96);
    await admin.delete(`/v2.1/os-aggregates/${agg.id}`);
  });

  it('puts an affinity group on one host and an anti-affinity group on two, and no third', async () => {
    const aff = (await demo.post('/v2.1/os-server-groups', { server_group: { name: 'together', policy: 'affinity' } }, V96)).body.server_group;
    const a = [await boot('aff-1', { group: aff.id }), await boot('aff-2', { group: aff.id })];
    expect(await hostOf(a[0])).toBe(await hostOf(a[1]));
    const anti = (await demo.post('/v2.1/os-server-groups', { server_group: { name: 'apart', policy: 'anti-affinity' } }, V96)).body.server_group;
    const b = [await boot('anti-1', { group: anti.id }), await boot('anti-2', { group: anti.id })];
    expect(new Set([await hostOf(b[0]), await hostOf(b[1])])).toEqual(new Set(['h1', 'h2']));
    const third = await show(await boot('anti-3', { group: anti.id }));
    expect(third.status).toBe('ERROR');
    expect(third.fault.message).toBe('No valid host was found. There are not enough hosts available.');
    // soft-affinity only weighs: its weigher outweighs the spreading ones, so the second joins the first.
    const soft = (await demo.post('/v2.1/os-server-groups', { server_group: { name: 'near', policy: 'soft-affinity' } }, V96)).body.server_group;
    const c = [await boot('soft-1', { group: soft.id }), await boot('soft-2', { group: soft.id })];
    expect(await hostOf(c[1])).toBe(await hostOf(c[0]));
    await del(...a, ...b, third.id, ...c);
  });
});

describe('moving servers between hosts', () => {
  it('cold-migrates to the other host, rebinding the ports, and reverts or confirms', async () => {
    const id = await boot('cold');
    const source = await hostOf(id);
    const target = source === 'h1' ? 'h2' : 'h1';
    expect((await act(id, { migrate: null })).status).toBe(202);
    await settle();
    let s = await show(id);
    expect(s.status).toBe('VERIFY_RESIZE');
    expect(s['OS-EXT-SRV-ATTR:host']).toBe(target);
    expect((await portsOf(id)).map((p) => p['binding:host_id'])).toEqual([target]);
    const m = (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations[0];
    expect(m).toMatchObject({ migration_type: 'migration', status: 'finished', source_compute: source, dest_compute: target });
    // While it is not confirmed the source keeps the server's resources (the migration's allocation).
    const hv = (await admin.get('/v2.1/os-hypervisors/detail', V('2.87'))).body.hypervisors;
    expect(hv.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === source).vcpus_used).toBe(1);
    expect((await act(id, { revertResize: null })).status).toBe(202);
    await settle();
    s = await show(id);
    expect(s.status).toBe('ACTIVE');
    expect(s['OS-EXT-SRV-ATTR:host']).toBe(source);
    expect((await portsOf(id)).map((p) => p['binding:host_id'])).toEqual([source]);
    // 2.56: to a named host; then confirmed there.
    expect((await act(id, { migrate: { host: target } }, '2.56')).status).toBe(202);
    await settle();
    expect((await act(id, { confirmResize: null })).status).toBe(204);
    await settle();
    s = await show(id);
    expect(s.status).toBe('ACTIVE');
    expect(s['OS-EXT-SRV-ATTR:host']).toBe(target);
    const statuses = (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations.map((x: { status: string }) => x.status);
    expect(statuses).toEqual(['confirmed', 'reverted']);
    expect((await act(id, { migrate: { host: target } }, '2.56')).body.badRequest.message).toBe('Cannot migrate to the host where the server exists.');
    await del(id);
  });

  it('live-migrates, scheduled or to a host, with migrating_to on the ports until it lands', async () => {
    const id = await boot('live');
    const source = await hostOf(id);
    const target = source === 'h1' ? 'h2' : 'h1';
    const manager = tc.cloud.services.computeManager;
    await manager.stop();
    try {
      expect((await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto' } })).status).toBe(202);
      expect((await show(id))['OS-EXT-STS:task_state']).toBe('migrating');
      // The conductor chose the destination; the ports say where they go while still bound here.
      expect((await portsOf(id)).map((p) => [p['binding:host_id'], p['binding:profile']])).toEqual([[source, { migrating_to: target }]]);
      const inProgress = (await admin.get(`/v2.1/servers/${id}/migrations`, V96)).body.migrations;
      expect(inProgress).toEqual([expect.objectContaining({ status: 'queued', source_compute: source, dest_compute: target })]);
    } finally {
      manager.start();
    }
    await settle();
    const s = await show(id);
    expect(s).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null, 'OS-EXT-SRV-ATTR:host': target });
    expect((await portsOf(id)).map((p) => [p['binding:host_id'], p['binding:profile']])).toEqual([[target, {}]]);
    const m = (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations[0];
    expect(m).toMatchObject({ migration_type: 'live-migration', status: 'completed', source_compute: source, dest_compute: target });
    // To a named host (2.30 force): back to the source.
    expect((await act(id, { 'os-migrateLive': { host: source, block_migration: 'auto', force: true } }, '2.30')).status).toBe(202);
    await settle();
    expect(await hostOf(id)).toBe(source);
    await del(id);
  });

  it('aborts and force-completes a live migration in progress as Nova does, with its errors otherwise', async () => {
    const id = await boot('abortable');
    const source = await hostOf(id);
    const target = source === 'h1' ? 'h2' : 'h1';
    const manager = tc.cloud.services.computeManager;
    const migrations = async () => (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations as Array<Record<string, unknown>>;
    const actions = async () =>
      ((await admin.get(`/v2.1/servers/${id}/os-instance-actions`, V96)).body.instanceActions as Array<{ action: string }>).map((a) => a.action);
    await manager.stop();
    try {
      expect((await act(id, { 'os-migrateLive': { host: target, block_migration: 'auto' } })).status).toBe(202);
      const mid = String((await migrations())[0].id);
      const path = `/v2.1/servers/${id}/migrations`;
      // Unknown: 400 for force_complete, 404 for abort (MigrationNotFoundForInstance).
      expect((await admin.post(`${path}/999/action`, { force_complete: null }, V('2.22'))).body).toEqual({
        badRequest: { code: 400, message: `Migration 999 not found for instance ${id}` },
      });
      expect((await admin.delete(`${path}/999`, V('2.24'))).body).toEqual({
        itemNotFound: { code: 404, message: `Migration 999 not found for instance ${id}` },
      });
      // Queued: only running can be forced, and aborted before 2.65 (InvalidMigrationState).
      expect((await admin.post(`${path}/${mid}/action`, { force_complete: null }, V('2.22'))).body.badRequest.message).toBe(
        `Migration ${mid} state of instance ${id} is queued. Cannot force complete while the migration is in this state.`,
      );
      expect((await admin.delete(`${path}/${mid}`, V('2.24'))).body.badRequest.message).toBe(
        `Migration ${mid} state of instance ${id} is queued. Cannot abort live migration while the migration is in this state.`,
      );
      // 2.65 aborts it in the queue: the server stays where it runs, its ports no longer migrating.
      expect((await admin.delete(`${path}/${mid}`, V('2.65'))).status).toBe(202);
      expect(await show(id)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null, 'OS-EXT-SRV-ATTR:host': source });
      expect((await portsOf(id)).map((p) => [p['binding:host_id'], p['binding:profile']])).toEqual([[source, {}]]);
      expect((await migrations())[0]).toMatchObject({ id: Number(mid), status: 'cancelled' });
      expect((await admin.get(path, V('2.23'))).body.migrations).toEqual([]);
      expect(await actions()).toContain('live_migration_cancel');
      expect((await admin.delete(`${path}/${mid}`, V('2.65'))).status).toBe(409);

      // Running (a handover under way: the source's agent has not handed the machine over yet).
      expect((await act(id, { 'os-migrateLive': { host: target, block_migration: 'auto' } })).status).toBe(202);
      const run = String((await migrations())[0].id);
      await tc.cloud.services.store.db.updateTable('migrations').set({ status: 'running' }).where('id', '=', Number(run)).execute();
      expect((await admin.get(path, V('2.23'))).body.migrations).toEqual([expect.objectContaining({ id: Number(run), status: 'running' })]);
      expect((await admin.post(`${path}/${run}/action`, { force_complete: null }, V('2.22'))).status).toBe(202);
      expect(await actions()).toContain('live_migration_force_complete');
      expect((await admin.delete(`${path}/${run}`, V('2.24'))).status).toBe(202);
      expect(await show(id)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null, 'OS-EXT-SRV-ATTR:host': source });
      expect((await migrations())[0]).toMatchObject({ id: Number(run), status: 'cancelled' });

      // A handover recorded by the source's agent (handedOver): the server is the destination's in
      // one transaction, once; an abort is then too late.
      expect((await act(id, { 'os-migrateLive': { host: target, block_migration: 'auto' } })).status).toBe(202);
      const [handed] = await migrations();
      await tc.cloud.services.store.db.updateTable('migrations').set({ status: 'running' }).where('id', '=', Number(handed.id)).execute();
      expect(await tc.cloud.services.compute.handedOver(id, String(handed.uuid))).toBe(true);
      expect(await tc.cloud.services.compute.handedOver(id, String(handed.uuid))).toBe(false);
      expect(await show(id)).toMatchObject({ 'OS-EXT-STS:task_state': 'migrating', 'OS-EXT-SRV-ATTR:host': target });
      expect((await portsOf(id)).map((p) => [p['binding:host_id'], p['binding:profile']])).toEqual([[target, {}]]);
      expect((await migrations())[0]).toMatchObject({ status: 'post-migrating' });
      expect((await admin.get(path, V('2.23'))).body.migrations).toEqual([expect.objectContaining({ status: 'post-migrating' })]);
      expect((await admin.delete(`${path}/${handed.id}`, V('2.65'))).body.badRequest.message).toBe(
        `Migration ${handed.id} state of instance ${id} is post-migrating. Cannot abort live migration while the migration is in this state.`,
      );
    } finally {
      manager.start();
    }
    await settle();
    expect(await show(id)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null, 'OS-EXT-SRV-ATTR:host': target });
    expect((await migrations())[0]).toMatchObject({ status: 'completed' });
    await del(id);
  });

  it('evacuates a server off a host that is down, rebuilding it on another', async () => {
    const id = await boot('evacuee');
    const here = await hostOf(id);
    const other = here === 'h1' ? 'h2' : 'h1';
    expect((await act(id, { evacuate: {} })).body.badRequest.message).toBe(`Compute service of ${here} is still in use.`);
    const svc = (await admin.get(`/v2.1/os-services?host=${here}`, V96)).body.services[0];
    await admin.put(`/v2.1/os-services/${svc.id}`, { forced_down: true }, V('2.53'));
    try {
      expect((await act(id, { evacuate: {} })).status).toBe(200);
      await settle();
      const s = await show(id);
      expect(s).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': other });
      expect((await portsOf(id)).map((p) => p['binding:host_id'])).toEqual([other]);
      const m = (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations[0];
      expect(m).toMatchObject({ migration_type: 'evacuation', status: 'done', source_compute: here, dest_compute: other });
    } finally {
      await admin.put(`/v2.1/os-services/${svc.id}`, { forced_down: false }, V('2.53'));
    }
    await del(id);
  });

  it('refuses moves as Nova does: same host, a host that is down, nowhere to go, the wrong state', async () => {
    const id = await boot('refused');
    const here = await hostOf(id);
    const other = here === 'h1' ? 'h2' : 'h1';
    const live = (body: Record<string, unknown>, v: string) => act(id, { 'os-migrateLive': { block_migration: 'auto', ...body } }, v);
    expect((await live({ host: here, disk_over_commit: false, block_migration: false }, '2.1')).body.badRequest.message).toBe(
      `Unable to migrate instance (${id}) to current host (${here}).`,
    );
    // Scheduled to the host it is on: the scheduler leaves its source out.
    expect((await live({ host: here }, '2.30')).body.badRequest.message).toBe('No valid host was found. There are not enough hosts available.');
    const big = await flavor('live-big', 2000, 1, 1);
    // The emptier host takes the hog (RAMWeigher); a forced move there finds 48 MB free.
    const hog = await boot('hog', { flavorRef: big });
    expect(await hostOf(hog)).toBe(other);
    expect((await live({ host: other, force: true }, '2.30')).body.badRequest.message).toBe(
      `Migration pre-check error: Unable to migrate ${id} to ${other}: Lack of memory(host:48.0 <= instance:128)`,
    );
    await del(hog);
    const svc = (await admin.get(`/v2.1/os-services?host=${other}`, V96)).body.services[0];
    expect((await admin.put(`/v2.1/os-services/${svc.id}`, { forced_down: true }, V('2.53'))).status).toBe(200);
    try {
      expect((await live({ host: other, force: true }, '2.30')).body.badRequest.message).toBe(`Compute service of ${other} is unavailable at this time.`);
      expect((await live({ host: null }, '2.25')).body.badRequest.message).toBe('No valid host was found. There are not enough hosts available.');
      // From 2.34 the API has answered already: the migration is in error, the server where it was.
      expect((await live({ host: null }, '2.34')).status).toBe(202);
      expect(await hostOf(id)).toBe(here);
      expect((await act(id, { migrate: null })).status).toBe(202);
      await settle();
      const s = await show(id);
      expect(s).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': here });
      const actions = (await admin.get(`/v2.1/servers/${id}/os-instance-actions`, V96)).body.instanceActions;
      expect(actions[0]).toMatchObject({ action: 'migrate', message: 'Error' });
    } finally {
      await admin.put(`/v2.1/os-services/${svc.id}`, { forced_down: false }, V('2.53'));
    }
    const types = (await admin.get(`/v2.1/os-migrations?instance_uuid=${id}`, V96)).body.migrations.map((m: { migration_type: string; status: string }) => [
      m.migration_type,
      m.status,
    ]);
    expect(types).toEqual([['migration', 'error'], ...Array(6).fill(['live-migration', 'error'])]);
    expect((await act(id, { 'os-stop': null })).status).toBe(202);
    await settle();
    expect((await live({ host: null }, '2.25')).body.conflictingRequest.message).toBe(`Cannot 'os-migrateLive' instance ${id} while it is in vm_state stopped`);
    await del(id);
  });
});
