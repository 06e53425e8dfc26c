import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ComputeHost, startComputeHost } from '../../src/core/compute/nodes.js';
import type { AgentReport } from '../../src/core/network/agents.js';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';

/**
 * Which host a load balancer runs on (core/loadbalancer/hosts.ts): a live host whose Linux
 * bridge agent is up and reaches the VIP network, in the Nova zone its Octavia availability
 * zone's `compute_zone` names, the least loaded first; the VIP port is bound there, and only
 * that host's engine serves it. A load balancer whose host's agent died moves to another.
 * Other hosts are agents reporting as `pocketstack agent --host` does (no engine runs for them).
 */
let tc: TestCloud;
let c: Awaited<ReturnType<typeof lbClients>>;
let nova: Client;
let subnet: { networkId: string; subnetId: string };
let here: string;
const computes: ComputeHost[] = [];
const V96 = { 'openstack-api-version': 'compute 2.96' };

/** A host's agents reporting; `tunnels`: its L2 agent builds vxlan networks (every agent here does). */
async function host(name: string, tunnels: boolean): Promise<void> {
  const reports: AgentReport[] = [
    { kind: 'l2', availabilityZone: null, configurations: tunnels ? { tunnel_types: ['vxlan'] } : {} },
    { kind: 'dhcp', availabilityZone: 'nova', configurations: {} },
  ];
  await tc.cloud.services.agents.report(name, reports, true);
  // …and a nova-compute of its own (an aggregate takes only compute hosts).
  computes.push(await startComputeHost(tc.cloud.services.network.uow, { host: name, capacity: { vcpus: 2, memoryMb: 2048, diskGb: 20 } }));
}

const l2Agent = async (name: string) => (await c.net.admin.get(`/v2.0/agents?agent_type=Linux%20bridge%20agent&host=${name}`)).body.agents[0];

/** The host's agents last heard from two minutes ago (dead under agent_down_time 75 s). */
async function silence(name: string): Promise<void> {
  await tc.cloud.store.db
    .updateTable('agents')
    .set({ heartbeat_timestamp: new Date(Date.now() - 120_000).toISOString() })
    .where('host', '=', name)
    .execute();
}

async function createLb(name: string, extra: Record<string, unknown> = {}) {
  const r = await c.admin.post('/v2/lbaas/loadbalancers', { loadbalancer: { name, vip_subnet_id: subnet.subnetId, ...extra } });
  expect(r.status).toBe(201);
  return r.body.loadbalancer as { id: string; vip_port_id: string };
}

const hostOf = async (lb: { vip_port_id: string }) => (await c.net.admin.get(`/v2.0/ports/${lb.vip_port_id}`)).body.port['binding:host_id'] as string;
const lbStatus = async (id: string) => (await c.admin.get(`/v2/lbaas/loadbalancers/${id}`)).body.loadbalancer.provisioning_status as string;

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  c = await lbClients(tc);
  nova = (await serviceClients(tc, 'compute')).admin;
  subnet = await makeSubnet(c.net.admin);
  here = tc.cloud.services.compute.hostname;
  await host('lb-b', true);
  // Its L2 agent reaches no vxlan network.
  await host('lb-c', false);
  await host('lb-d', true);
  await silence('lb-d');
  await host('lb-e', true);
  expect((await c.net.admin.put(`/v2.0/agents/${(await l2Agent('lb-e')).id}`, { agent: { admin_state_up: false } })).status).toBe(200);
});
afterAll(async () => {
  for (const h of computes) h.stop();
  await tc?.stop();
});

describe("a load balancer's host", () => {
  let onB: { id: string; vip_port_id: string };

  it('is a live, enabled host whose agent reaches the VIP network, the least loaded first (ties to the first registered)', async () => {
    const first = await createLb('first');
    onB = await createLb('second');
    const third = await createLb('third');
    expect([await hostOf(first), await hostOf(onB), await hostOf(third)]).toEqual([here, 'lb-b', here]);
    const port = (await c.net.admin.get(`/v2.0/ports/${onB.vip_port_id}`)).body.port;
    expect(port).toMatchObject({ device_owner: 'Octavia', 'binding:vif_type': 'bridge' });

    // This host's engine serves its own two; lb-b's stays pending (its agent's engine would serve it).
    await waitFor(
      async () => Promise.all([lbStatus(first.id), lbStatus(third.id)]),
      (s) => s.every((x) => x === 'ACTIVE'),
    );
    await tc.cloud.services.lbEngine.idle();
    expect(await lbStatus(onB.id)).toBe('PENDING_CREATE');
    expect(tc.cloud.services.lbEngine.endpoint(onB.id)).toBeUndefined();
    expect((await c.admin.get(`/v2/octavia/amphorae?loadbalancer_id=${onB.id}`)).body.amphorae).toEqual([]);
  });

  it("is in the Nova zone its availability zone's compute_zone names", async () => {
    const agg = (await nova.post('/v2.1/os-aggregates', { aggregate: { name: 'lb-zone-b', availability_zone: 'zone-b' } }, V96)).body.aggregate;
    expect((await nova.post(`/v2.1/os-aggregates/${agg.id}/action`, { add_host: { host: 'lb-b' } }, V96)).status).toBe(200);
    const profile = (
      await c.admin.post('/v2/lbaas/availabilityzoneprofiles', {
        availability_zone_profile: { name: 'zb', provider_name: 'amphora', availability_zone_data: '{"compute_zone": "zone-b"}' },
      })
    ).body.availability_zone_profile;
    expect(
      (await c.admin.post('/v2/lbaas/availabilityzones', { availability_zone: { name: 'lb-zone-b', availability_zone_profile_id: profile.id } })).status,
    ).toBe(201);
    // lb-b is the more loaded host, but the only one in zone-b.
    const zoned = await createLb('zoned', { availability_zone: 'lb-zone-b' });
    expect(await hostOf(zoned)).toBe('lb-b');
    // A zone without a compute_zone puts it anywhere.
    const anyProfile = (
      await c.admin.post('/v2/lbaas/availabilityzoneprofiles', {
        availability_zone_profile: { name: 'any', provider_name: 'amphora', availability_zone_data: '{}' },
      })
    ).body.availability_zone_profile;
    await c.admin.post('/v2/lbaas/availabilityzones', { availability_zone: { name: 'lb-any', availability_zone_profile_id: anyProfile.id } });
    expect(await hostOf(await createLb('anywhere', { availability_zone: 'lb-any' }))).toBe(here);
  });

  it("moves to another live host when its host's agent dies, where that host's engine serves it", async () => {
    await silence('lb-b');
    const moved = await tc.cloud.services.loadBalancer.failoverFromLostHosts();
    // The zoned one has nowhere to go (zone-b has no other host): it stays until a host can take it.
    expect(moved).toEqual([{ id: onB.id, from: 'lb-b', to: here }]);
    expect(await hostOf(onB)).toBe(here);
    await waitFor(
      () => lbStatus(onB.id),
      (s) => s === 'ACTIVE',
    );
    expect(tc.cloud.services.lbEngine.endpoint(onB.id)).toBeDefined();
    expect((await c.admin.get(`/v2/octavia/amphorae?loadbalancer_id=${onB.id}`)).body.amphorae).toHaveLength(1);
    // Done once: a second check finds nothing more to move.
    expect(await tc.cloud.services.loadBalancer.failoverFromLostHosts()).toEqual([]);
  });
});
