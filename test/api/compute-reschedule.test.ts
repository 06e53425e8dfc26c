/**
 * Rescheduling a failed build and the BuildFailureWeigher (issue 18), over hosts registered as
 * `pocketstack agent` registers them (nova-compute and the Linux bridge agent). A build fails on a
 * host when its spawn fails or when Neutron cannot bind its port there (the host's L2 agent dead). The hypervisor is a test double of an instance host: it runs
 * every server scheduled to its hosts (reporting it running, as the netns data plane does) except
 * on the hosts told to fail, where it reports the spawn failure an instance host reports when it
 * cannot start a machine. What is under test is compute's: the conductor retrying the build on
 * the scheduler's alternates up to max_attempts, the compute node's failed builds weighing a host
 * last, and Nova's MaxRetriesExceeded when the hosts run out (nova/compute/manager.py
 * _do_build_and_run_instance, nova/conductor/manager.py build_instances, nova/scheduler/utils.py
 * populate_retry, nova/scheduler/weights/compute.py).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceReport, type InstanceHost, readInstanceSpecs } from '../../src/core/compute/host.js';
import type { ComputeHost } from '../../src/core/compute/nodes.js';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';
import { startAgentHost } from '../support/hosts.js';

const V = (v: string) => ({ 'openstack-api-version': `compute ${v}` });
const V96 = V('2.96');
const SPAWN_ERROR = 'the machine could not start: init exited with status 1';

/** A hypervisor that spawns what is scheduled to its hosts, except on the hosts in `failing`. */
class TestHypervisor implements InstanceHost {
  readonly failing = new Set<string>();
  /** Every spawn attempted: server and host, in order. */
  readonly spawns: Array<{ server: string; host: string }> = [];
  private readonly reported = new Map<string, string>();
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly tc: TestCloud) {}

  kick(): void {
    this.work = this.work.then(() => this.pass());
  }

  idle(): Promise<void> {
    return this.work;
  }

  private async pass(): Promise<void> {
    const compute = this.tc.cloud.services.compute;
    for (const spec of await readInstanceSpecs(this.tc.cloud.services.network.uow.store.db)) {
      let report: InstanceReport;
      if (this.failing.has(spec.host)) report = { power: 'shutdown', rebootSeq: spec.rebootSeq, error: SPAWN_ERROR, spawnFailed: true };
      else report = { power: spec.power === 'stopped' ? 'shutdown' : spec.power, rebootSeq: spec.rebootSeq };
      const key = JSON.stringify([spec.host, report]);
      if (this.reported.get(spec.id) === key) continue;
      if (!this.reported.has(spec.id) || JSON.parse(this.reported.get(spec.id)!)[0] !== spec.host) this.spawns.push({ server: spec.id, host: spec.host });
      this.reported.set(spec.id, key);
      await compute.reportInstance(spec.id, report);
    }
  }

  async snapshotDisk(): Promise<never> {
    throw new Error('no disk here');
  }

  serialConsole(): never {
    throw new Error('no console here');
  }
}

let tc: TestCloud;
let admin: Client;
let demo: Client;
let neutron: Client;
let imageId = '';
let netId = '';
let hypervisor: TestHypervisor;
const hosts = new Map<string, ComputeHost>();

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await tc.cloud.services.computeManager.idle();
    await tc.cloud.services.dataplane.idle();
    await hypervisor.idle();
  }
}

/** (Re)start a host's nova-compute: its node reports anew (a restarted resource tracker's stats start from 0). */
async function startHost(name: string): Promise<void> {
  hosts.get(name)?.stop();
  hosts.set(name, await startAgentHost(tc, name, { vcpus: 2, memoryMb: 2560, diskGb: 20 }));
}

async function boot(name: string, o: { zone?: string; port?: string; network?: string; fixedIp?: string; client?: Client } = {}): Promise<string> {
  const nic = o.port ? { port: o.port } : { uuid: o.network ?? netId, ...(o.fixedIp ? { fixed_ip: o.fixedIp } : {}) };
  const server: Record<string, unknown> = { name, flavorRef: '42', imageRef: imageId, networks: [nic] };
  if (o.zone) server.availability_zone = o.zone;
  const res = await (o.client ?? demo).post('/v2.1/servers', { server }, V96);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await settle();
  return res.body.server.id;
}

const show = async (id: string) => (await admin.get(`/v2.1/servers/${id}`, V96)).body.server;
const portsOf = async (id: string) => (await neutron.get(`/v2.0/ports?device_id=${id}`)).body.ports as Array<Record<string, unknown>>;
const failedBuilds = async (host: string) =>
  (await tc.cloud.services.network.uow.store.db.selectFrom('compute_nodes').select('failed_builds').where('host', '=', host).executeTakeFirstOrThrow())
    .failed_builds;
async function createEvents(id: string): Promise<Array<Record<string, unknown>>> {
  const actions = (await admin.get(`/v2.1/servers/${id}/os-instance-actions`, V96)).body.instanceActions;
  const create = actions.find((a: { action: string }) => a.action === 'create');
  return (await admin.get(`/v2.1/servers/${id}/os-instance-actions/${create.request_id}`, V96)).body.instanceAction.events;
}
const del = async (...ids: string[]) => {
  for (const id of ids) await admin.delete(`/v2.1/servers/${id}`);
  await settle();
};

beforeAll(async () => {
  tc = await startCloud();
  hypervisor = new TestHypervisor(tc);
  tc.cloud.services.compute.attachHost(hypervisor, { reports: true });
  tc.cloud.services.network.uow.changes.subscribe({ kinds: ['server', 'port'] }, () => hypervisor.kick());
  ({ admin, demo } = await serviceClients(tc, 'compute'));
  neutron = (await serviceClients(tc, 'network')).admin;
  const network = await serviceClients(tc, 'network');
  const images = await serviceClients(tc, 'image');
  imageId = (await images.demo.get('/v2/images?name=cirros-0.3.3-x86_64-disk')).body.images[0].id;
  const net = (await network.demo.post('/v2.0/networks', { network: { name: 'resched' } })).body.network;
  await network.demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.31.0.0/24', ip_version: 4 } });
  netId = net.id;
  // The API server's own compute is kept out of rotation: servers go to the agents' hosts.
  const own = (await admin.get('/v2.1/os-services?binary=nova-compute', V96)).body.services[0];
  await admin.put(`/v2.1/os-services/${own.id}`, { status: 'disabled', disabled_reason: 'controller' }, V96);
  await startHost('h1');
  await startHost('h2');
}, 60_000);
afterAll(async () => {
  for (const h of hosts.values()) h.stop();
  await tc.stop();
});

/** ERROR with the conductor's fault once every alternate failed, on no host, its ports gone. */
async function expectAlternatesExhausted(id: string): Promise<void> {
  const s = await show(id);
  expect(s.status).toBe('ERROR');
  expect(s.fault).toMatchObject({
    code: 500,
    message: `Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance ${id}.`,
  });
  expect(s['OS-EXT-SRV-ATTR:host']).toBeNull();
  expect(await portsOf(id)).toEqual([]);
}

describe('a build that fails on its host', () => {
  it('is rebuilt on an alternate host: ACTIVE there, its port made anew and bound there, one event per attempt', async () => {
    hypervisor.failing.clear();
    hypervisor.failing.add('h1');
    // Equal hosts: the first registered (h1) is selected, h2 is the alternate.
    const id = await boot('resched');
    const s = await show(id);
    expect(s.status).toBe('ACTIVE');
    expect(s['OS-EXT-SRV-ATTR:host']).toBe('h2');
    expect(s['OS-EXT-SRV-ATTR:hypervisor_hostname']).toBe('h2');
    expect(s.fault).toBeUndefined();
    expect(hypervisor.spawns.filter((x) => x.server === id)).toEqual([
      { server: id, host: 'h1' },
      { server: id, host: 'h2' },
    ]);
    // deallocate_for_instance deleted the port made on h1; the build on h2 made its own.
    const ports = await portsOf(id);
    expect(ports).toHaveLength(1);
    expect(ports[0]).toMatchObject({ 'binding:host_id': 'h2', device_owner: 'compute:nova', status: 'ACTIVE' });
    expect(Object.keys(s.addresses)).toEqual(['resched']);
    // Each attempt's _do_build_and_run_instance finishes Success: the RescheduledException is
    // caught inside the method its EventReporter wraps.
    const events = await createEvents(id);
    expect(events.map((e) => [e.event, e.host, e.result])).toEqual([
      ['conductor_schedule_and_build_instances', null, 'Success'],
      ['compute__do_build_and_run_instance', 'h1', 'Success'],
      ['compute__do_build_and_run_instance', 'h2', 'Success'],
    ]);
    // h1 counts the failed build; h2's success keeps it at 0.
    expect(await failedBuilds('h1')).toBe(1);
    expect(await failedBuilds('h2')).toBe(0);
    await del(id);
  });

  it('keeps a port the client passed in: unbound from the failed host, bound to the alternate', async () => {
    await startHost('h1');
    hypervisor.failing.clear();
    hypervisor.failing.add('h1');
    const port = (await (await serviceClients(tc, 'network')).demo.post('/v2.0/ports', { port: { network_id: netId, name: 'mine' } })).body.port;
    const id = await boot('own-port', { port: port.id });
    expect(await show(id)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'h2' });
    const ports = await portsOf(id);
    expect(ports.map((p) => [p.id, p['binding:host_id'], p.fixed_ips])).toEqual([[port.id, 'h2', port.fixed_ips]]);
    await del(id);
    // Deleting the server releases the client's port again, as before.
    expect((await neutron.get(`/v2.0/ports/${port.id}`)).body.port).toMatchObject({ device_id: '', 'binding:host_id': '' });
    await neutron.delete(`/v2.0/ports/${port.id}`);
  });

  it('goes to ERROR with MaxRetriesExceeded when every host fails, its network cleaned up', async () => {
    await startHost('h1');
    hypervisor.failing.clear();
    hypervisor.failing.add('h1');
    hypervisor.failing.add('h2');
    const id = await boot('nowhere');
    // nova/conductor/manager.py build_instances: the alternates ran out (two hosts, max_attempts 3).
    await expectAlternatesExhausted(id);
    const events = await createEvents(id);
    expect(events.map((e) => [e.event, e.host, e.result])).toEqual([
      ['conductor_schedule_and_build_instances', null, 'Success'],
      ['compute__do_build_and_run_instance', 'h1', 'Success'],
      ['compute__do_build_and_run_instance', 'h2', 'Success'],
    ]);
    expect(await failedBuilds('h1')).toBe(1);
    expect(await failedBuilds('h2')).toBe(1);
    await del(id);
  });

  it('past max_attempts, MaxRetriesExceeded names the attempts and the last failure', async () => {
    await startHost('h1');
    await startHost('h2');
    await startHost('h3');
    hypervisor.failing.clear();
    for (const h of ['h1', 'h2', 'h3']) hypervisor.failing.add(h);
    const id = await boot('three-tries');
    const s = await show(id);
    expect(s.status).toBe('ERROR');
    // populate_retry: a fourth attempt exceeds [scheduler] max_attempts (3).
    expect(s.fault.message).toBe(`Exceeded maximum number of retries. Exceeded max scheduling attempts 3 for instance ${id}. Last exception: ${SPAWN_ERROR}`);
    expect(hypervisor.spawns.filter((x) => x.server === id).map((x) => x.host)).toEqual(['h1', 'h2', 'h3']);
    await del(id);
    hosts.get('h3')!.stop();
    hosts.delete('h3');
    const h3 = (await admin.get('/v2.1/os-services?host=h3&binary=nova-compute', V96)).body.services[0];
    await admin.put(`/v2.1/os-services/${h3.id}`, { status: 'disabled', disabled_reason: 'test over' }, V96);
  });

  it('is not rescheduled from a forced host: ERROR with the spawn failure as its fault', async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    hypervisor.failing.add('h1');
    const id = await boot('forced', { zone: 'nova:h1', client: admin });
    const s = await show(id);
    expect(s.status).toBe('ERROR');
    // _do_build_and_run_instance without retry information: the reason is the fault's message.
    expect(s.fault).toMatchObject({ code: 500, message: SPAWN_ERROR });
    expect(s['OS-EXT-SRV-ATTR:host']).toBeNull();
    expect(await portsOf(id)).toEqual([]);
    expect(hypervisor.spawns.filter((x) => x.server === id).map((x) => x.host)).toEqual(['h1']);
    expect(await failedBuilds('h1')).toBe(1);
    await del(id);
  });
});

describe('a build whose port binding failed on its host', () => {
  /**
   * The host's agents stop reporting (its process is gone), last heard from two agent_down_times
   * ago: its nova-compute is still up for the scheduler (service_down_time has not passed for
   * it in this test), but ML2 refuses to bind ports to its dead Linux bridge agent.
   */
  async function agentDead(name: string): Promise<void> {
    hosts.get(name)!.stop();
    const past = new Date(Date.now() - 2 * tc.cloud.services.agents.downTimeS * 1000).toISOString();
    await tc.cloud.services.network.uow.store.db.updateTable('agents').set({ heartbeat_timestamp: past }).where('host', '=', name).execute();
  }

  it('is rescheduled to an alternate host (PortBindingFailed is a RescheduledException), ACTIVE there', async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    await agentDead('h1');
    const id = await boot('unbindable-h1');
    const s = await show(id);
    expect(s).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'h2' });
    expect(s.fault).toBeUndefined();
    // Nothing spawned on h1: the failure came from the network allocation.
    expect(hypervisor.spawns.filter((x) => x.server === id).map((x) => x.host)).toEqual(['h2']);
    const ports = await portsOf(id);
    expect(ports).toHaveLength(1);
    expect(ports[0]).toMatchObject({ 'binding:host_id': 'h2', 'binding:vif_type': 'bridge', status: 'ACTIVE' });
    expect((await createEvents(id)).map((e) => [e.event, e.host, e.result])).toEqual([
      ['conductor_schedule_and_build_instances', null, 'Success'],
      ['compute__do_build_and_run_instance', 'h1', 'Success'],
      ['compute__do_build_and_run_instance', 'h2', 'Success'],
    ]);
    expect(await failedBuilds('h1')).toBe(1);
    await del(id);
  });

  it("refuses a client's port whose binding had already failed (_validate_requested_port_ids), unbinds it, and binds it on the alternate", async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    // Bound by an admin to a host with no L2 agent: ML2 could not bind it.
    const port = (await neutron.post('/v2.0/ports', { port: { network_id: netId, 'binding:host_id': 'nowhere' } })).body.port;
    expect(port['binding:vif_type']).toBe('binding_failed');
    const id = await boot('failed-port', { port: port.id, client: admin });
    const s = await show(id);
    expect(s.status).toBe('ACTIVE');
    const attempts = (await createEvents(id)).filter((e) => e.event === 'compute__do_build_and_run_instance').map((e) => e.host);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]).toBe(s['OS-EXT-SRV-ATTR:host']);
    expect(attempts[0]).not.toBe(attempts[1]);
    expect((await neutron.get(`/v2.0/ports/${port.id}`)).body.port).toMatchObject({
      device_id: id,
      'binding:host_id': s['OS-EXT-SRV-ATTR:host'],
      'binding:vif_type': 'bridge',
    });
    await del(id);
    // Deleting the server keeps the client's port, unbound.
    expect((await neutron.get(`/v2.0/ports/${port.id}`)).body.port).toMatchObject({ device_id: '', 'binding:host_id': '' });
    await neutron.delete(`/v2.0/ports/${port.id}`);
  });

  it("on a forced host, a client's port whose binding had failed is the fault, and the port is left unbound", async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    const port = (await neutron.post('/v2.0/ports', { port: { network_id: netId, 'binding:host_id': 'nowhere' } })).body.port;
    const id = await boot('failed-port-forced', { port: port.id, zone: 'nova:h1', client: admin });
    const s = await show(id);
    expect(s.status).toBe('ERROR');
    expect(s.fault).toMatchObject({ code: 500, message: `Binding failed for port ${port.id}, please check neutron logs for more information.` });
    expect((await neutron.get(`/v2.0/ports/${port.id}`)).body.port).toMatchObject({ device_id: '', 'binding:host_id': '', 'binding:vif_type': 'unbound' });
    await del(id);
    await neutron.delete(`/v2.0/ports/${port.id}`);
  });

  it('goes to ERROR with MaxRetriesExceeded when no alternate binds it, its ports gone', async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    await agentDead('h1');
    await agentDead('h2');
    const id = await boot('unbindable-everywhere');
    await expectAlternatesExhausted(id);
    expect(hypervisor.spawns.filter((x) => x.server === id)).toEqual([]);
    expect((await createEvents(id)).map((e) => [e.event, e.host, e.result])).toEqual([
      ['conductor_schedule_and_build_instances', null, 'Success'],
      ['compute__do_build_and_run_instance', 'h1', 'Success'],
      ['compute__do_build_and_run_instance', 'h2', 'Success'],
    ]);
    await del(id);
  });

  it('past max_attempts, MaxRetriesExceeded names the binding failure as the last exception', async () => {
    await startHost('h1');
    await startHost('h2');
    await startHost('h3');
    // The spawn test above left h3 disabled by the operator: enabled again for this one.
    const h3 = (await admin.get('/v2.1/os-services?host=h3&binary=nova-compute', V96)).body.services[0];
    await admin.put(`/v2.1/os-services/${h3.id}`, { status: 'enabled' }, V96);
    hypervisor.failing.clear();
    for (const h of ['h1', 'h2', 'h3']) await agentDead(h);
    const id = await boot('unbindable-three');
    const s = await show(id);
    expect(s.status).toBe('ERROR');
    expect(s.fault.message).toMatch(
      new RegExp(
        `^Exceeded maximum number of retries\\. Exceeded max scheduling attempts 3 for instance ${id}\\. Last exception: Binding failed for port [0-9a-f-]{36}, please check neutron logs for more information\\.$`,
      ),
    );
    await del(id);
    hosts.delete('h3');
    await admin.put(`/v2.1/os-services/${h3.id}`, { status: 'disabled', disabled_reason: 'test over' }, V96);
  });
});

describe('a build whose network allocation fails on its host', () => {
  it('is rescheduled when Neutron refuses the fixed IP as in use (FixedIpAlreadyInUse is no abort clause): every host tried, then MaxRetriesExceeded', async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    const taken = (await neutron.post('/v2.0/ports', { port: { network_id: netId, fixed_ips: [{ ip_address: '10.31.0.200' }] } })).body.port;
    const id = await boot('fixed-ip-taken', { fixedIp: '10.31.0.200' });
    await expectAlternatesExhausted(id);
    expect(hypervisor.spawns.filter((x) => x.server === id)).toEqual([]);
    const attempts = (await createEvents(id)).filter((e) => e.event === 'compute__do_build_and_run_instance');
    expect(attempts.map((e) => e.host).sort()).toEqual(['h1', 'h2']);
    expect((await neutron.get(`/v2.0/ports/${taken.id}`)).body.port.device_id).toBe('');
    await del(id);
    await neutron.delete(`/v2.0/ports/${taken.id}`);
  });

  it('is aborted on its first host when the network has no address left (NoMoreFixedIps): not rescheduled, the wrapped reason as the fault', async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    const full = (await neutron.post('/v2.0/networks', { network: { name: 'full' } })).body.network;
    await neutron.post('/v2.0/subnets', {
      subnet: { network_id: full.id, cidr: '10.32.0.0/24', ip_version: 4, allocation_pools: [{ start: '10.32.0.10', end: '10.32.0.10' }] },
    });
    await neutron.post('/v2.0/ports', { port: { network_id: full.id } });
    const id = await boot('no-address', { network: full.id, client: admin });
    const s = await show(id);
    expect(s.status).toBe('ERROR');
    expect(s.fault).toMatchObject({
      code: 500,
      message: `Build of instance ${id} aborted: Failed to allocate the network(s) with error No fixed IP addresses available for network: ${full.id}, not rescheduling.`,
    });
    // One attempt: _do_build_and_run_instance records the fault and returns FAILED (its event a Success).
    const attempts = (await createEvents(id)).filter((e) => e.event === 'compute__do_build_and_run_instance');
    expect(attempts.map((e) => e.result)).toEqual(['Success']);
    expect(s['OS-EXT-SRV-ATTR:host']).toBeNull();
    await del(id);
  });
});

describe('the options', () => {
  /** Run with these scheduler options (the cloud reads them at each build, as after a restart with them set). */
  async function withOptions(o: Partial<TestCloud['config']['scheduler']>, fn: () => Promise<void>): Promise<void> {
    const before = { ...tc.config.scheduler };
    Object.assign(tc.config.scheduler, o);
    try {
      await fn();
    } finally {
      Object.assign(tc.config.scheduler, before);
    }
  }

  it('max_attempts 1: no retry, the spawn failure is the fault', () =>
    withOptions({ maxAttempts: 1 }, async () => {
      await startHost('h1');
      await startHost('h2');
      hypervisor.failing.clear();
      hypervisor.failing.add('h1');
      const id = await boot('one-try');
      expect(await show(id)).toMatchObject({ status: 'ERROR', fault: { code: 500, message: SPAWN_ERROR }, 'OS-EXT-SRV-ATTR:host': null });
      expect(hypervisor.spawns.filter((x) => x.server === id).map((x) => x.host)).toEqual(['h1']);
      await del(id);
    }));

  it('consecutive_build_service_disable_threshold 0: failed builds are not counted, the host is not weighed down', () =>
    withOptions({ consecutiveBuildServiceDisableThreshold: 0 }, async () => {
      await startHost('h1');
      await startHost('h2');
      hypervisor.failing.clear();
      hypervisor.failing.add('h1');
      const moved = await boot('moved');
      expect((await show(moved))['OS-EXT-SRV-ATTR:host']).toBe('h2');
      expect(await failedBuilds('h1')).toBe(0);
      hypervisor.failing.clear();
      // h1 is the freer host and nothing counts against it.
      const next = await boot('next');
      expect((await show(next))['OS-EXT-SRV-ATTR:host']).toBe('h1');
      await del(moved, next);
    }));
});

describe('BuildFailureWeigher', () => {
  it('weighs a host with failed builds last, and a successful build there resets its count', async () => {
    await startHost('h1');
    await startHost('h2');
    hypervisor.failing.clear();
    // h2 busier: without failures h1 wins on free RAM, CPU and disk.
    const busy = await boot('busy', { zone: 'nova:h2', client: admin });
    expect((await show(busy))['OS-EXT-SRV-ATTR:host']).toBe('h2');
    const first = await boot('first');
    expect((await show(first))['OS-EXT-SRV-ATTR:host']).toBe('h1');
    await del(first);

    // One failed build on h1 (it is rescheduled to h2) weighs h1 last, though it is the freer.
    hypervisor.failing.add('h1');
    const moved = await boot('moved');
    expect((await show(moved))['OS-EXT-SRV-ATTR:host']).toBe('h2');
    hypervisor.failing.clear();
    const next = await boot('next');
    expect((await show(next))['OS-EXT-SRV-ATTR:host']).toBe('h2');

    // A build that succeeds on h1 (forced there) resets its failed builds: h1 is weighed by its
    // free resources again.
    const forced = await boot('forced-ok', { zone: 'nova:h1', client: admin });
    expect(await show(forced)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'h1' });
    expect(await failedBuilds('h1')).toBe(0);
    const after = await boot('after');
    expect((await show(after))['OS-EXT-SRV-ATTR:host']).toBe('h1');
    await del(busy, moved, next, forced, after);
  });
});
