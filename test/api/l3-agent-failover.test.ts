import { describe, expect, it } from 'vitest';
import type { AgentReport } from '../../src/core/network/agents.js';
import { type Client, type TestCloud, cloudForFile } from '../support/cloud.js';
import { until } from '../support/poll.js';

// allow_automatic_l3agent_failover: a legacy router leaves an L3 agent that stopped reporting.

type Agent = { id: string; host: string; alive: boolean };
const REPORTS: AgentReport[] = [
  { kind: 'l2', availabilityZone: null, configurations: {} },
  { kind: 'l3', availabilityZone: 'nova', configurations: {} },
];

function helpers(tc: TestCloud, admin: Client, demo: Client) {
  const l3On = async (host: string): Promise<Agent> => (await admin.get(`/v2.0/agents?agent_type=L3%20agent&host=${host}`)).body.agents[0];
  const hostsOf = async (router: string): Promise<string[]> => (await admin.get(`/v2.0/routers/${router}/l3-agents`)).body.agents.map((a: Agent) => a.host);
  return {
    l3On,
    hostsOf,
    silentFor: (host: string, s: number) =>
      tc.cloud.services.store.db
        .updateTable('agents')
        .set({ heartbeat_timestamp: new Date(Date.now() - s * 1000).toISOString() })
        .where('host', '=', host)
        .execute(),
    /** A router with an interface, hosted by `host`'s L3 agent alone; its interface port. */
    async routerOn(host: string, cidr: string): Promise<{ router: string; port: string }> {
      const net = (await demo.post('/v2.0/networks', { network: {} })).body.network.id;
      const subnet = (await demo.post('/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr } })).body.subnet.id;
      const router = (await demo.post('/v2.0/routers', { router: {} })).body.router.id;
      const port = (await demo.put(`/v2.0/routers/${router}/add_router_interface`, { subnet_id: subnet })).body.port_id as string;
      // The interface's update scheduled it to a live agent: hand it to `host`'s, as an admin can.
      for (const a of (await admin.get(`/v2.0/routers/${router}/l3-agents`)).body.agents as Agent[]) {
        expect((await admin.delete(`/v2.0/agents/${a.id}/l3-routers/${router}`)).status).toBe(204);
      }
      expect((await admin.post(`/v2.0/agents/${(await l3On(host)).id}/l3-routers`, { router_id: router })).status).toBe(201);
      return { router, port };
    },
  };
}

describe('with allow_automatic_l3agent_failover, the server', async () => {
  // agent_down_time 2 s (this host's agents report every second), so twice it passes in a test.
  const { tc, admin, demo } = await cloudForFile('network', { config: { allowAutomaticL3agentFailover: true, agentDownTime: 2, reportInterval: 1 } });
  const { hostsOf, routerOn } = helpers(tc, admin, demo);
  const here = tc.cloud.services.compute.hostname;

  it('moves a legacy router and its ports off an agent silent for twice agent_down_time', async () => {
    await tc.cloud.services.agents.report('host-gone', REPORTS, true);
    const { router, port } = await routerOn('host-gone', '10.96.0.0/24');
    expect(await hostsOf(router)).toEqual(['host-gone']);
    expect((await admin.get(`/v2.0/ports/${port}`)).body.port['binding:host_id']).toBe('host-gone');
    // host-gone never reports again: the server's periodic check moves the router to this host,
    // the only other L3 agent, and the router's new agent binds its ports here.
    expect(
      await until(
        'the router on this host',
        () => hostsOf(router),
        (h) => h[0] === here,
        15_000,
      ),
    ).toEqual([here]);
    expect((await admin.get(`/v2.0/ports/${port}`)).body.port['binding:host_id']).toBe(here);
  });
});

describe('the L3 agent status check', async () => {
  // Off by default, as in Neutron: called here as the periodic check would call it.
  const { tc, admin, demo } = await cloudForFile('network');
  const { l3On, hostsOf, silentFor, routerOn } = helpers(tc, admin, demo);
  const agents = tc.cloud.services.agents;

  it('leaves an agent silent for less than twice agent_down_time, a disabled one, and routers with nowhere to go', async () => {
    await agents.report('host-flaky', REPORTS, true);
    const { router } = await routerOn('host-flaky', '10.96.1.0/24');
    // Dead to the API (agent_down_time 75 s) but not yet for rescheduling (150 s).
    await silentFor('host-flaky', 100);
    expect(await agents.rescheduleFromDeadL3Agents()).toEqual([]);
    // An agent the admin disabled keeps its routers, however long it is silent (get_down_router_bindings).
    const flaky = await l3On('host-flaky');
    expect((await admin.put(`/v2.0/agents/${flaky.id}`, { agent: { admin_state_up: false } })).status).toBe(200);
    await silentFor('host-flaky', 200);
    expect(await agents.rescheduleFromDeadL3Agents()).toEqual([]);
    expect(await hostsOf(router)).toEqual(['host-flaky']);
    // With every L3 agent dead there is nowhere to go: the binding stays (RouterReschedulingFailed).
    expect((await admin.put(`/v2.0/agents/${flaky.id}`, { agent: { admin_state_up: true } })).status).toBe(200);
    expect(await agents.rescheduleFromDeadL3Agents(Date.now() + 3_600_000)).toEqual([]);
    expect(await hostsOf(router)).toEqual(['host-flaky']);
    // Then, with this host's agent alive, it moves.
    expect(await agents.rescheduleFromDeadL3Agents()).toEqual([router]);
    expect(await hostsOf(router)).toEqual([tc.cloud.services.compute.hostname]);
  });

  it('leaves HA routers to keepalived', async () => {
    await agents.report('host-ha', REPORTS, true);
    const router = (await admin.post('/v2.0/routers', { router: { ha: true } })).body.router.id;
    const before = (await hostsOf(router)).sort();
    expect(before).toContain('host-ha');
    await silentFor('host-ha', 200);
    expect(await agents.rescheduleFromDeadL3Agents()).toEqual([]);
    expect((await hostsOf(router)).sort()).toEqual(before);
  });
});
