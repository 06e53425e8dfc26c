import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { ROOT, missing } from '../support/requires.js';
import { eventually, names, netnsSuite } from '../support/dataplane.js';
import { ping } from '../support/netns.js';

/**
 * The Linux bridge agent's `bridge_mappings` on the netns data plane, on the real kernel: a
 * bridge of the host's own (`ptbrphys`, with an address of the host's on it) mapped to physical
 * network `physnet1`. A flat network on `physnet1` is joined to it — the host reaches the
 * network's DHCP port across it, with no routed leg and no address of ours on the host — and the
 * L2 agent reports the mapping as `bridge_mappings`.
 */
const BRIDGE = 'ptbrphys';
const skip = missing([ROOT]);

// Before the suite's cloud starts: the agent refuses to start when a mapped bridge is missing.
beforeAll(async () => {
  if (skip) return;
  await run('ip', ['link', 'del', BRIDGE], { allowFail: true });
  await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await run('ip', ['addr', 'add', '198.51.100.1/24', 'dev', BRIDGE]);
  await run('ip', ['link', 'set', BRIDGE, 'up']);
});
afterAll(async () => {
  if (skip) return;
  await run('ip', ['link', 'del', BRIDGE], { allowFail: true });
});

const s = netnsSuite({ config: { bridgeMappings: new Map([['physnet1', BRIDGE]]) } });

describe.skipIf(skip)(`netns data plane: bridge_mappings${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it("reports the mapping as the Linux bridge agent's bridge_mappings", async () => {
    const agents = (await s.admin.get('/v2.0/agents?agent_type=Linux%20bridge%20agent')).body.agents;
    expect(agents).toHaveLength(1);
    expect(agents[0].configurations.bridge_mappings).toEqual({ physnet1: BRIDGE });
  });

  it("joins a flat network on the mapped physical network to the host's bridge: the host reaches its DHCP port across it", async () => {
    const net = (
      await s.admin.post('/v2.0/networks', {
        network: { name: 'bm-flat', 'provider:network_type': 'flat', 'provider:physical_network': 'physnet1' },
      })
    ).body.network;
    const sub = await s.admin.post('/v2.0/subnets', {
      subnet: {
        network_id: net.id,
        cidr: '198.51.100.0/24',
        ip_version: 4,
        gateway_ip: null,
        allocation_pools: [{ start: '198.51.100.10', end: '198.51.100.99' }],
      },
    });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    const dhcp = await eventually(
      async () => (await s.admin.get(`/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`)).body.ports[0],
      (p) => p?.status === 'ACTIVE',
      20_000,
    );
    expect(dhcp?.status).toBe('ACTIVE');
    await s.dp.idle();
    // The network's bridge in the switch is joined to the host's by the leg, which is on the host's bridge.
    const leg = JSON.parse((await run('ip', ['-j', 'link', 'show', 'dev', names.hostLeg(net.id)])).stdout)[0];
    expect(leg.master).toBe(BRIDGE);
    expect((await run('ip', ['-4', '-o', 'addr', 'show', 'dev', names.hostLeg(net.id)])).stdout).toBe('');
    const end = JSON.parse((await run('ip', ['-n', names.switchNs, '-j', 'link', 'show', 'dev', names.hostLegSwitchEnd(net.id)])).stdout)[0];
    expect(end.master).toBe(names.bridge(net.id));
    expect(await ping(dhcp.fixed_ips[0].ip_address, { timeoutS: 10 })).toBe(true);
    // The network gone, so is the leg; the host's bridge stays.
    expect((await s.admin.delete(`/v2.0/networks/${net.id}`)).status).toBe(204);
    await s.dp.idle();
    expect((await run('ip', ['link', 'show', 'dev', names.hostLeg(net.id)], { allowFail: true })).code).not.toBe(0);
    expect((await run('ip', ['link', 'show', 'dev', BRIDGE])).code).toBe(0);
  });
});
