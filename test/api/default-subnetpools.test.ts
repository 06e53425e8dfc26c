import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

// `--default-subnetpools`: DevStack's initial networking (create_neutron_initial_network), so a
// project's topology can be auto-allocated on the first start, as on a DevStack.
const { admin, demo } = await cloudForFile('network', { config: { defaultSubnetpools: true } });

describe('DevStack default subnet pools at bootstrap', () => {
  it('creates the shared default pools and makes public the default external network', async () => {
    const pools = (await demo.get('/v2.0/subnetpools?is_default=true')).body.subnetpools;
    expect(
      pools
        .map((p: { name: string; prefixes: string[]; default_prefixlen: number | string; shared: boolean; ip_version: number }) => [
          p.name,
          p.ip_version,
          p.prefixes,
          Number(p.default_prefixlen),
          p.shared,
        ])
        .sort(),
    ).toEqual([
      ['shared-default-subnetpool', 4, ['10.0.0.0/8'], 24, true],
      ['shared-default-subnetpool', 6, ['2001:db8:8000::/48'], 64, true],
    ]);
    const nets = (await demo.get('/v2.0/networks?name=public')).body.networks;
    expect(nets).toHaveLength(1);
    expect(nets[0]).toMatchObject({ is_default: true, 'router:external': true });
  });

  it("auto-allocates a member's topology from them", async () => {
    const me = (await demo.get('/v2.0/security-groups?name=default')).body.security_groups[0].project_id as string;
    const dry = await demo.get(`/v2.0/auto-allocated-topology/${me}?fields=dry-run`);
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ auto_allocated_topology: { id: 'dry-run=pass', tenant_id: me } });

    const made = await demo.get(`/v2.0/auto-allocated-topology/${me}`);
    expect(made.status).toBe(200);
    const netId = made.body.auto_allocated_topology.id as string;
    const subnets = (await demo.get(`/v2.0/subnets?network_id=${netId}`)).body.subnets;
    // The first prefix of each pool, by its default length.
    expect(subnets.map((s: { cidr: string }) => s.cidr).sort()).toEqual(['10.0.0.0/24', '2001:db8:8000::/64']);
    const router = (await demo.get('/v2.0/routers')).body.routers;
    expect(router).toHaveLength(1);
    expect(router[0].external_gateway_info.network_id).toBe((await admin.get('/v2.0/networks?name=public')).body.networks[0].id);
  });
});
