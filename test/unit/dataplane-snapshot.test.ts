import { describe, expect, it } from 'vitest';
import { loadSnapshot } from '../../src/dataplane/netns/snapshot.js';
import { memoryStore } from '../support/memstore.js';

const store = memoryStore();
const now = '2026-01-01T00:00:00Z';
const std = (id: string) => ({ id, project_id: 'p', name: '', description: '', created_at: now, updated_at: now, revision_number: 0 });

async function rule(id: string, ethertype: 'IPv4' | 'IPv6', remoteAddressGroupId: string, standardAttrId: number) {
  await store()
    .db.insertInto('security_group_rules')
    .values({
      id,
      project_id: 'p',
      security_group_id: 'sg',
      direction: 'ingress',
      ethertype,
      protocol: 'tcp',
      port_range_min: 22,
      port_range_max: 22,
      remote_ip_prefix: null,
      remote_group_id: null,
      remote_address_group_id: remoteAddressGroupId,
      normalized_cidr: null,
      description: '',
      created_at: now,
      updated_at: now,
      revision_number: 0,
      standard_attr_id: standardAttrId,
    })
    .execute();
}

describe('the data plane snapshot', () => {
  it("expands a rule naming an address group into the group's addresses of its ethertype; an empty group admits nothing", async () => {
    await store()
      .db.insertInto('security_groups')
      .values({ ...std('sg'), stateful: 1 })
      .execute();
    await store()
      .db.insertInto('address_groups')
      .values([std('ag'), std('empty')])
      .execute();
    await store()
      .db.insertInto('address_group_addresses')
      .values([
        { address_group_id: 'ag', address: '10.1.0.0/24' },
        { address_group_id: 'ag', address: '192.0.2.7/32' },
        { address_group_id: 'ag', address: '2001:db8::/64' },
      ])
      .execute();
    await rule('r4', 'IPv4', 'ag', 1);
    await rule('r6', 'IPv6', 'ag', 2);
    await rule('none', 'IPv4', 'empty', 3);
    const snap = await loadSnapshot(store());
    const rules = snap.securityGroups.find((g) => g.id === 'sg')!.rules;
    expect(rules.map((r) => [r.id, r.remoteIpPrefix]).sort()).toEqual([
      ['r4', '10.1.0.0/24'],
      ['r4', '192.0.2.7/32'],
      ['r6', '2001:db8::/64'],
    ]);
    expect(rules.every((r) => r.protocol === 'tcp' && r.portMin === 22 && r.portMax === 22 && r.remoteGroupId === null)).toBe(true);
  });

  it('reads each local IP with the ports associated with it and their fixed IPs', async () => {
    await store()
      .db.insertInto('local_ips')
      .values([
        { ...std('lip-a'), local_port_id: 'lp-a', network_id: 'n', local_ip_address: '10.0.0.200', ip_mode: 'translate' },
        { ...std('lip-b'), local_port_id: 'lp-b', network_id: 'n', local_ip_address: '10.0.0.201', ip_mode: 'translate' },
      ])
      .execute();
    await store()
      .db.insertInto('local_ip_associations')
      .values([
        { id: 'port-2', project_id: 'p', local_ip_id: 'lip-a', fixed_ip: '10.0.0.12' },
        { id: 'port-1', project_id: 'p', local_ip_id: 'lip-a', fixed_ip: '10.0.0.11' },
      ])
      .execute();
    expect((await loadSnapshot(store())).localIps).toEqual([
      {
        id: 'lip-a',
        address: '10.0.0.200',
        associations: [
          { portId: 'port-1', fixedIp: '10.0.0.11' },
          { portId: 'port-2', fixedIp: '10.0.0.12' },
        ],
      },
      { id: 'lip-b', address: '10.0.0.201', associations: [] },
    ]);
  });
});
