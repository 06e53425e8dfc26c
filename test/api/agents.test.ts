import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

const { admin, demo } = await cloudForFile('network');

/** Scheduling follows the subnet's create after its commit (Neutron's notifier): poll briefly. */
async function hostedBy(network: string): Promise<Array<{ id: string }>> {
  for (let i = 0; i < 50; i++) {
    const agents = (await admin.get(`/v2.0/networks/${network}/dhcp-agents`)).body.agents as Array<{ id: string }>;
    if (agents.length) return agents;
    await new Promise((r) => setTimeout(r, 20));
  }
  return [];
}

describe("Neutron's agent and dhcp_agent_scheduler extensions", () => {
  it("lists this host's DHCP agent, alive, to an admin only", async () => {
    const ext = (await admin.get('/v2.0/extensions')).body.extensions.map((e: { alias: string }) => e.alias);
    expect(ext).toEqual(expect.arrayContaining(['agent', 'dhcp_agent_scheduler']));
    const list = await admin.get('/v2.0/agents?agent_type=DHCP%20agent');
    expect(list.status).toBe(200);
    expect(list.body.agents).toHaveLength(1);
    const a = list.body.agents[0];
    expect(a).toMatchObject({ agent_type: 'DHCP agent', binary: 'neutron-dhcp-agent', topic: 'dhcp_agent', alive: true, admin_state_up: true });
    expect(a.heartbeat_timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect((await admin.get('/v2.0/agents?agent_type=L3%20agent')).body.agents).toHaveLength(1);
    // Neutron's policy hides agents from a member: an empty list, and 404 for one.
    expect((await demo.get('/v2.0/agents')).body.agents).toEqual([]);
    expect((await demo.get(`/v2.0/agents/${a.id}`)).status).toBe(404);
    const missing = await admin.get('/v2.0/agents/8e6c4a52-7a4b-4a8b-9c55-3c1f5d0e0f00');
    expect(missing.status).toBe(404);
    expect(missing.body.NeutronError.type).toBe('AgentNotFound');
  });

  it('updates description and admin_state_up, and refuses other attributes', async () => {
    const a = (await admin.get('/v2.0/agents?agent_type=DHCP%20agent')).body.agents[0];
    const up = await admin.put(`/v2.0/agents/${a.id}`, { agent: { description: 'the one' } });
    expect(up.status).toBe(200);
    expect(up.body.agent.description).toBe('the one');
    const bad = await admin.put(`/v2.0/agents/${a.id}`, { agent: { host: 'elsewhere' } });
    expect(bad.status).toBe(400);
    expect((await admin.post('/v2.0/agents', { agent: {} })).status).toBe(405);
  });

  it('schedules a network with a DHCP subnet to the agent; removing and adding it back as Neutron answers', async () => {
    const agent = (await admin.get('/v2.0/agents?agent_type=DHCP%20agent')).body.agents[0].id as string;
    const net = (await demo.post('/v2.0/networks', { network: { name: 'sched' } })).body.network.id as string;
    expect(await hostedBy(net)).toEqual([]);
    await demo.post('/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.9.0.0/24' } });
    expect((await hostedBy(net)).map((x) => x.id)).toEqual([agent]);
    const onAgent = await admin.get(`/v2.0/agents/${agent}/dhcp-networks`);
    expect(onAgent.body.networks.map((n: { id: string }) => n.id)).toContain(net);
    // A member may not ask.
    expect((await demo.get(`/v2.0/networks/${net}/dhcp-agents`)).status).toBe(403);

    const again = await admin.post(`/v2.0/agents/${agent}/dhcp-networks`, { network_id: net });
    expect(again.status).toBe(409);
    expect(again.body.NeutronError.type).toBe('NetworkHostedByDHCPAgent');
    expect((await admin.delete(`/v2.0/agents/${agent}/dhcp-networks/${net}`)).status).toBe(204);
    expect((await admin.get(`/v2.0/networks/${net}/dhcp-agents`)).body.agents).toEqual([]);
    const notHosted = await admin.delete(`/v2.0/agents/${agent}/dhcp-networks/${net}`);
    expect(notHosted.status).toBe(409);
    expect(notHosted.body.NeutronError.type).toBe('NetworkNotHostedByDhcpAgent');
    expect((await admin.post(`/v2.0/agents/${agent}/dhcp-networks`, { network_id: net })).status).toBe(201);
    expect((await admin.get(`/v2.0/networks/${net}/dhcp-agents`)).body.agents.map((x: { id: string }) => x.id)).toEqual([agent]);
    expect((await admin.post(`/v2.0/agents/${agent}/dhcp-networks`, { network_id: 'nope' })).status).toBe(400);
  });
});
