import { describe, expect, it } from 'vitest';
import type { AgentReport } from '../../src/core/network/agents.js';
import { cloudForFile, serviceClients } from '../support/cloud.js';

const { tc, admin, demo } = await cloudForFile('network');
const agents = tc.cloud.services.agents;
const host = tc.cloud.services.compute.hostname;

type Agent = { id: string; agent_type: string; host: string; alive: boolean; availability_zone: string | null };

/** Scheduling follows the change's commit (Neutron's notifiers): poll briefly. */
async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await get();
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 20));
    v = await get();
  }
  return v;
}

const agentOf = async (type: string, on = host): Promise<Agent> =>
  ((await admin.get(`/v2.0/agents?agent_type=${encodeURIComponent(type)}&host=${on}`)).body.agents as Agent[])[0];

/** Another host's agents reporting (what `pocketstack agent --host` sends), in zone `zone`. */
async function otherHost(name: string, zone: string): Promise<void> {
  const reports: AgentReport[] = [
    { kind: 'l2', availabilityZone: null, configurations: {} },
    { kind: 'dhcp', availabilityZone: zone, configurations: {} },
    { kind: 'l3', availabilityZone: zone, configurations: {} },
    { kind: 'metadata', availabilityZone: null, configurations: {} },
  ];
  await agents.report(name, reports, true);
}

describe("every host's agents", () => {
  it('lists the L2, DHCP, L3 and metadata agents of this host, alive, with their zones', async () => {
    const ext = (await admin.get('/v2.0/extensions')).body.extensions.map((e: { alias: string }) => e.alias);
    expect(ext).toEqual(
      expect.arrayContaining([
        'agent',
        'dhcp_agent_scheduler',
        'l3_agent_scheduler',
        'availability_zone',
        'availability_zone_filter',
        'network_availability_zone',
        'router_availability_zone',
      ]),
    );
    const list = (await admin.get(`/v2.0/agents?host=${host}`)).body.agents;
    const byType = new Map(list.map((a: Agent) => [a.agent_type, a]));
    expect([...byType.keys()].sort()).toEqual(['DHCP agent', 'L3 agent', 'Linux bridge agent', 'Metadata agent']);
    expect(byType.get('Linux bridge agent')).toMatchObject({
      binary: 'neutron-linuxbridge-agent',
      topic: 'N/A',
      availability_zone: null,
      alive: true,
      admin_state_up: true,
    });
    expect(byType.get('DHCP agent')).toMatchObject({ binary: 'neutron-dhcp-agent', topic: 'dhcp_agent', availability_zone: 'nova', alive: true });
    expect(byType.get('L3 agent')).toMatchObject({ binary: 'neutron-l3-agent', topic: 'l3_agent', availability_zone: 'nova', alive: true });
    expect(byType.get('L3 agent')).toMatchObject({ configurations: expect.objectContaining({ agent_mode: 'legacy', handle_internal_only_routers: true }) });
    expect(byType.get('Metadata agent')).toMatchObject({ binary: 'neutron-metadata-agent', topic: 'N/A', availability_zone: null });
    expect((await admin.get('/v2.0/agents?availability_zone=nova')).body.agents.map((a: Agent) => a.agent_type).sort()).toEqual(['DHCP agent', 'L3 agent']);
  });

  it("Nova's os-services and os-hypervisors name the same hosts as the agents (one machine: this one)", async () => {
    const compute = (await serviceClients(tc, 'compute')).admin;
    const V = { 'openstack-api-version': 'compute 2.96' };
    const services = (await compute.get('/v2.1/os-services?binary=nova-compute', V)).body.services;
    const hypervisors = (await compute.get('/v2.1/os-hypervisors/detail', V)).body.hypervisors;
    const agentHosts = new Set(((await admin.get('/v2.0/agents')).body.agents as Agent[]).map((a) => a.host));
    expect(services.map((s: { host: string }) => s.host)).toEqual([...agentHosts]);
    expect(hypervisors.map((h: { service: { host: string } }) => h.service.host)).toEqual([...agentHosts]);
  });

  it('lists availability zones from the DHCP and L3 agents, to any caller, with the filters', async () => {
    const zones = (await demo.get('/v2.0/availability_zones')).body.availability_zones;
    expect(zones).toEqual(
      expect.arrayContaining([
        { name: 'nova', resource: 'network', state: 'available' },
        { name: 'nova', resource: 'router', state: 'available' },
      ]),
    );
    expect((await demo.get('/v2.0/availability_zones?resource=router&name=nova')).body.availability_zones).toEqual([
      { name: 'nova', resource: 'router', state: 'available' },
    ]);
    expect((await demo.get('/v2.0/availability_zones?state=unavailable&name=nova')).body.availability_zones).toEqual([]);
  });

  it("checks a network's hints against the DHCP agents' zones and shows the zone of the agent hosting it", async () => {
    const bad = await demo.post('/v2.0/networks', { network: { name: 'az-bad', availability_zone_hints: ['elsewhere'] } });
    expect(bad.status).toBe(404);
    expect(bad.body.NeutronError).toEqual({ type: 'AvailabilityZoneNotFound', message: 'AvailabilityZone elsewhere could not be found.', detail: '' });
    const net = (await demo.post('/v2.0/networks', { network: { name: 'az-ok', availability_zone_hints: ['nova'] } })).body.network;
    expect(net).toMatchObject({ availability_zone_hints: ['nova'], availability_zones: [] });
    await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.91.0.0/24' } });
    const shown = await until(
      async () => (await demo.get(`/v2.0/networks/${net.id}`)).body.network,
      (n) => n.availability_zones.length > 0,
    );
    expect(shown.availability_zones).toEqual(['nova']);
  });

  it('schedules a router to the L3 agent when it gets an interface, and moves it as Neutron does', async () => {
    const l3 = await agentOf('L3 agent');
    const dhcp = await agentOf('DHCP agent');
    const net = (await demo.post('/v2.0/networks', { network: { name: 'l3-sched' } })).body.network.id;
    const sub = (await demo.post('/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.92.0.0/24' } })).body.subnet.id;
    const router = (await demo.post('/v2.0/routers', { router: { name: 'l3-sched' } })).body.router;
    expect(router).toMatchObject({ availability_zone_hints: [], availability_zones: [] });
    // Created without a gateway: not scheduled until an update.
    expect((await admin.get(`/v2.0/routers/${router.id}/l3-agents`)).body.agents).toEqual([]);
    expect((await demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub })).status).toBe(200);
    const hosting = await until(
      async () => (await admin.get(`/v2.0/routers/${router.id}/l3-agents`)).body.agents as Agent[],
      (a) => a.length > 0,
    );
    expect(hosting.map((a) => a.id)).toEqual([l3.id]);
    expect((await demo.get(`/v2.0/routers/${router.id}`)).body.router.availability_zones).toEqual(['nova']);
    // The agent binds the interface to its host, and the port comes up (Tempest's test_router_interface_status).
    const intf = await until(
      async () => ((await admin.get(`/v2.0/ports?device_id=${router.id}`)).body.ports as Array<Record<string, unknown>>)[0],
      (p) => p?.status === 'ACTIVE',
    );
    expect(intf).toMatchObject({ device_owner: 'network:router_interface', status: 'ACTIVE', 'binding:host_id': l3.host, 'binding:vif_type': 'bridge' });
    const on = (await admin.get(`/v2.0/agents/${l3.id}/l3-routers`)).body.routers;
    expect(on.map((r: { id: string }) => r.id)).toContain(router.id);
    expect(on.find((r: { id: string }) => r.id === router.id)).toMatchObject({ name: 'l3-sched', project_id: router.project_id });

    // Policy: admin only.
    for (const r of [await demo.get(`/v2.0/routers/${router.id}/l3-agents`), await demo.get(`/v2.0/agents/${l3.id}/l3-routers`)]) {
      expect(r.status).toBe(403);
      expect(r.body.NeutronError.type).toBe('PolicyNotAuthorized');
    }
    expect((await demo.get(`/v2.0/routers/${router.id}/l3-agents`)).body.NeutronError.message).toBe('rule:get_l3-agents is disallowed by policy');

    // Adding it again to its agent is no error; to a DHCP agent is InvalidL3Agent (a 404).
    expect((await admin.post(`/v2.0/agents/${l3.id}/l3-routers`, { router_id: router.id })).status).toBe(201);
    const notL3 = await admin.post(`/v2.0/agents/${dhcp.id}/l3-routers`, { router_id: router.id });
    expect(notL3.status).toBe(404);
    expect(notL3.body.NeutronError).toEqual({ type: 'InvalidL3Agent', message: `Agent ${dhcp.id} is not a L3 Agent or has been disabled`, detail: '' });
    // The router is looked up before the agent.
    const missing = '8e6c4a52-7a4b-4a8b-9c55-3c1f5d0e0f00';
    const noRouter = await admin.post(`/v2.0/agents/${missing}/l3-routers`, { router_id: 'nope' });
    expect(noRouter.status).toBe(404);
    expect(noRouter.body.NeutronError.message).toBe('Router nope could not be found');
    expect((await admin.post(`/v2.0/agents/${missing}/l3-routers`, { router_id: router.id })).body.NeutronError.type).toBe('AgentNotFound');
    expect((await admin.get(`/v2.0/routers/${missing}/l3-agents`)).body.NeutronError.type).toBe('RouterNotFound');
    expect((await admin.get(`/v2.0/agents/${missing}/l3-routers`)).body.NeutronError.type).toBe('AgentNotFound');
    expect((await admin.delete(`/v2.0/agents/${missing}/l3-routers/${router.id}`)).body.NeutronError.type).toBe('AgentNotFound');

    // Removing leaves it unhosted (and removing again is no error); adding it back hosts it.
    expect((await admin.delete(`/v2.0/agents/${l3.id}/l3-routers/${router.id}`)).status).toBe(204);
    expect((await admin.get(`/v2.0/routers/${router.id}/l3-agents`)).body.agents).toEqual([]);
    expect((await admin.delete(`/v2.0/agents/${l3.id}/l3-routers/${router.id}`)).status).toBe(204);
    expect((await admin.delete(`/v2.0/agents/${l3.id}/l3-routers/${missing}`)).body.NeutronError.type).toBe('RouterNotFound');
    const back = await admin.post(`/v2.0/agents/${l3.id}/l3-routers`, { router_id: router.id });
    expect(back.status).toBe(201);
    expect(back.body).toBeNull();
    expect((await admin.get(`/v2.0/routers/${router.id}/l3-agents`)).body.agents.map((a: Agent) => a.id)).toEqual([l3.id]);
  });

  it("takes a router's hints on create only, checked against the L3 agents' zones", async () => {
    const bad = await demo.post('/v2.0/routers', { router: { name: 'az', availability_zone_hints: ['elsewhere'] } });
    expect(bad.status).toBe(404);
    expect(bad.body.NeutronError.type).toBe('AvailabilityZoneNotFound');
    const r = (await demo.post('/v2.0/routers', { router: { name: 'az', availability_zone_hints: ['nova'] } })).body.router;
    expect(r.availability_zone_hints).toEqual(['nova']);
    const put = await demo.put(`/v2.0/routers/${r.id}`, { router: { availability_zone_hints: ['nova'] } });
    expect(put.status).toBe(400);
    expect(put.body.NeutronError.message).toBe('Cannot update read-only attribute availability_zone_hints');
  });

  it('schedules to the least loaded live agent, in the hinted zone, and never to a dead or disabled one', async () => {
    await otherHost('host-b', 'zone-b');
    const b = await agentOf('DHCP agent', 'host-b');
    expect(b).toMatchObject({ alive: true, availability_zone: 'zone-b' });
    expect((await admin.get('/v2.0/availability_zones?name=zone-b')).body.availability_zones).toHaveLength(2);
    // A network hinted to zone-b lands on host-b's DHCP agent.
    const net = (await demo.post('/v2.0/networks', { network: { name: 'to-b', availability_zone_hints: ['zone-b'] } })).body.network.id;
    await demo.post('/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.93.0.0/24' } });
    const hosting = await until(
      async () => (await admin.get(`/v2.0/networks/${net}/dhcp-agents`)).body.agents as Agent[],
      (a) => a.length > 0,
    );
    expect(hosting.map((a) => a.host)).toEqual(['host-b']);
    // host-b's L3 agent hosts nothing yet: the next router goes there (LeastRoutersScheduler).
    const l3b = await agentOf('L3 agent', 'host-b');
    const sub = (await demo.post('/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.94.0.0/24' } })).body.subnet.id;
    const r1 = (await demo.post('/v2.0/routers', { router: { name: 'least' } })).body.router.id;
    await demo.put(`/v2.0/routers/${r1}/add_router_interface`, { subnet_id: sub });
    const on = await until(
      async () => (await admin.get(`/v2.0/routers/${r1}/l3-agents`)).body.agents as Agent[],
      (a) => a.length > 0,
    );
    expect(on.map((a) => a.id)).toEqual([l3b.id]);

    // host-b stops reporting: shown dead after agent_down_time, and nothing new goes there.
    await tc.cloud.services.store.db
      .updateTable('agents')
      .set({ heartbeat_timestamp: new Date(Date.now() - 120_000).toISOString() })
      .where('host', '=', 'host-b')
      .execute();
    expect((await agentOf('L3 agent', 'host-b')).alive).toBe(false);
    expect((await admin.get('/v2.0/agents?alive=false')).body.agents.map((a: Agent) => a.host)).toEqual(['host-b', 'host-b', 'host-b', 'host-b']);
    const r2 = (await demo.post('/v2.0/routers', { router: { name: 'alive-only' } })).body.router.id;
    await demo.put(`/v2.0/routers/${r2}`, { router: { name: 'alive-only-2' } });
    const on2 = await until(
      async () => (await admin.get(`/v2.0/routers/${r2}/l3-agents`)).body.agents as Agent[],
      (a) => a.length > 0,
    );
    expect(on2.map((a) => a.host)).toEqual([host]);
    // A dead agent may still be scheduled to by hand; a disabled one may not.
    const r3 = (await demo.post('/v2.0/routers', { router: { name: 'manual' } })).body.router.id;
    expect((await admin.post(`/v2.0/agents/${l3b.id}/l3-routers`, { router_id: r3 })).status).toBe(201);
    const moved = await admin.post(`/v2.0/agents/${(await agentOf('L3 agent')).id}/l3-routers`, { router_id: r3 });
    expect(moved.status).toBe(409);
    expect(moved.body.NeutronError).toEqual({
      type: 'RouterHostedByL3Agent',
      message: `The router ${r3} has been already hosted by the L3 Agent ${l3b.id}.`,
      detail: '',
    });
    expect((await admin.put(`/v2.0/agents/${l3b.id}`, { agent: { admin_state_up: false } })).body.agent.admin_state_up).toBe(false);
    expect((await admin.get('/v2.0/availability_zones?name=zone-b&resource=router')).body.availability_zones).toEqual([
      { name: 'zone-b', resource: 'router', state: 'unavailable' },
    ]);
    const r4 = (await demo.post('/v2.0/routers', { router: { name: 'disabled' } })).body.router.id;
    expect((await admin.post(`/v2.0/agents/${l3b.id}/l3-routers`, { router_id: r4 })).body.NeutronError.type).toBe('InvalidL3Agent');

    // Deleting host-b's agents drops what they held; their next report registers them again.
    for (const a of (await admin.get('/v2.0/agents?host=host-b')).body.agents as Agent[]) {
      expect((await admin.delete(`/v2.0/agents/${a.id}`)).status).toBe(204);
    }
    expect((await admin.get(`/v2.0/routers/${r3}/l3-agents`)).body.agents).toEqual([]);
    expect((await admin.get(`/v2.0/networks/${net}/dhcp-agents`)).body.agents).toEqual([]);
    await otherHost('host-b', 'zone-b');
    expect((await admin.get('/v2.0/agents?host=host-b')).body.agents).toHaveLength(4);
  });

  it('moves networks off a DHCP agent dead for twice agent_down_time, not off one starting up', async () => {
    await otherHost('host-c', 'nova');
    const c = await agentOf('DHCP agent', 'host-c');
    const net = (await demo.post('/v2.0/networks', { network: { name: 'failover' } })).body.network.id;
    expect((await admin.post(`/v2.0/agents/${c.id}/dhcp-networks`, { network_id: net })).status).toBe(201);
    await demo.post('/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.95.0.0/24' } });
    const db = tc.cloud.services.store.db;
    const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
    // Silent for 100 s: dead to the API (75 s) but not yet for rescheduling (150 s).
    await db
      .updateTable('agents')
      .set({ heartbeat_timestamp: ago(100), started_at: ago(3600) })
      .where('host', '=', 'host-c')
      .execute();
    expect(await agents.rescheduleFromDeadDhcpAgents()).toEqual([]);
    // Silent for 200 s but started 100 s ago: still starting up.
    await db
      .updateTable('agents')
      .set({ heartbeat_timestamp: ago(200), started_at: ago(100) })
      .where('host', '=', 'host-c')
      .execute();
    expect(await agents.rescheduleFromDeadDhcpAgents()).toEqual([]);
    await db
      .updateTable('agents')
      .set({ started_at: ago(3600) })
      .where('host', '=', 'host-c')
      .execute();
    expect(await agents.rescheduleFromDeadDhcpAgents()).toEqual([net]);
    // To the least loaded live agent: host-b's, which holds nothing since it registered again.
    expect((await admin.get(`/v2.0/networks/${net}/dhcp-agents`)).body.agents.map((a: Agent) => a.host)).toEqual(['host-b']);
    // With every DHCP agent dead, nothing moves (there is nowhere to go).
    expect((await admin.post(`/v2.0/agents/${c.id}/dhcp-networks`, { network_id: net })).status).toBe(201);
    expect(await agents.rescheduleFromDeadDhcpAgents(Date.now() + 3_600_000)).toEqual([]);
    expect((await admin.get(`/v2.0/networks/${net}/dhcp-agents`)).body.agents).toHaveLength(2);
  });
});
