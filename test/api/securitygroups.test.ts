import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

const { admin, demo } = await cloudForFile('network');

const group = async (name: string) => (await demo.post('/v2.0/security-groups', { security_group: { name } })).body.security_group;
const rule = (body: Record<string, unknown>) => demo.post('/v2.0/security-group-rules', { security_group_rule: { direction: 'ingress', ...body } });

describe('security groups', () => {
  it('shows a group as its list does: its rules in order and sharing with the caller', async () => {
    // A show reads the rules and the RBAC sharing with the group in one statement, a list in one
    // statement per kind for all its rows: the two must render the same object.
    const sg = await group('show-like-list');
    for (const port of [22, 80, 443])
      expect((await rule({ security_group_id: sg.id, protocol: 'tcp', port_range_min: port, port_range_max: port })).status).toBe(201);
    const adminProject = (await admin.post('/v2.0/networks', { network: { name: 'sg-probe' } })).body.network.project_id;
    const grant = await demo.post('/v2.0/rbac-policies', {
      rbac_policy: { object_type: 'security_group', object_id: sg.id, action: 'access_as_shared', target_tenant: adminProject },
    });
    expect(grant.status).toBe(201);
    for (const who of [admin, demo]) {
      const shown = (await who.get(`/v2.0/security-groups/${sg.id}`)).body.security_group;
      const [listed] = (await who.get(`/v2.0/security-groups?id=${sg.id}`)).body.security_groups;
      expect(shown).toEqual(listed);
    }
    const asAdmin = (await admin.get(`/v2.0/security-groups/${sg.id}`)).body.security_group;
    expect(asAdmin.shared).toBe(true);
    // Two egress rules the group came with, then the three added.
    expect(asAdmin.security_group_rules).toHaveLength(5);
    expect(
      asAdmin.security_group_rules
        .filter((r: { port_range_min: number | null }) => r.port_range_min !== null)
        .map((r: { port_range_min: number }) => r.port_range_min)
        .sort(),
    ).toEqual([22, 443, 80]);
    expect((await demo.get(`/v2.0/security-groups/${sg.id}`)).body.security_group.shared).toBe(false);
  });

  it('gives a project its default group on first list, with Neutron four rules, under underscore keys', async () => {
    const res = await demo.get('/v2.0/security-groups');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['security_groups']);
    const defaults = res.body.security_groups.filter((g: { name: string }) => g.name === 'default');
    expect(defaults).toHaveLength(1);
    const sg = defaults[0];
    expect(sg.description).toBe('Default security group');
    const rules = sg.security_group_rules.map((r: Record<string, unknown>) => [
      r.direction,
      r.ethertype,
      r.remote_group_id === sg.id ? 'self' : r.remote_group_id,
      r.remote_ip_prefix,
    ]);
    expect(rules.sort()).toEqual(
      [
        ['egress', 'IPv4', null, null],
        ['egress', 'IPv6', null, null],
        ['ingress', 'IPv4', 'self', null],
        ['ingress', 'IPv6', 'self', null],
      ].sort(),
    );
    // Listing again makes no second one; listing rules sees the same four.
    expect((await demo.get('/v2.0/security-groups?name=default')).body.security_groups).toHaveLength(1);
    const ruleList = await demo.get(`/v2.0/security-group-rules?security_group_id=${sg.id}`);
    expect(Object.keys(ruleList.body)).toEqual(['security_group_rules']);
    expect(ruleList.body.security_group_rules).toHaveLength(4);
  });

  it('creates rules by protocol name or number, with port ranges and ICMP type/code checked', async () => {
    const sg = await group('web');
    const tcp = await rule({ security_group_id: sg.id, protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_ip_prefix: '0.0.0.0/0' });
    expect(tcp.status).toBe(201);
    expect(tcp.body.security_group_rule).toMatchObject({
      protocol: 'tcp',
      port_range_min: 80,
      port_range_max: 80,
      ethertype: 'IPv4',
      remote_ip_prefix: '0.0.0.0/0',
      normalized_cidr: '0.0.0.0/0',
    });
    const num = await rule({ security_group_id: sg.id, protocol: 17 });
    expect(num.body.security_group_rule.protocol).toBe('17');
    const icmp = await rule({ security_group_id: sg.id, protocol: 'icmp', port_range_min: 8, port_range_max: 0 });
    expect(icmp.status).toBe(201);
    const cases: Array<[Record<string, unknown>, number, string, string]> = [
      [
        { protocol: 'tcp', port_range_min: 80, port_range_max: 79 },
        400,
        'SecurityGroupInvalidPortRange',
        'For TCP/UDP protocols, port_range_min must be <= port_range_max',
      ],
      [{ protocol: 'tcp', port_range_min: -16, port_range_max: 80 }, 400, 'SecurityGroupInvalidPortValue', 'Invalid value for port -16'],
      [
        { protocol: 'icmp', port_range_min: 1, port_range_max: 256 },
        400,
        'SecurityGroupInvalidIcmpValue',
        'Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255.',
      ],
      [
        { protocol: 'icmp', port_range_max: 6 },
        400,
        'SecurityGroupMissingIcmpType',
        'ICMP code (port-range-max) 6 is provided but ICMP type (port-range-min) is missing.',
      ],
      [{ port_range_min: 22, port_range_max: 22 }, 400, 'SecurityGroupProtocolRequiredWithPorts', 'Must also specify protocol if port range is given.'],
      [
        { protocol: 'gre', port_range_min: 1, port_range_max: 2 },
        400,
        'SecurityGroupInvalidProtocolForPort',
        'Ports cannot be specified for protocol 47. Ports are only supported for TCP, UDP, UDPLITE, SCTP, DCCP.',
      ],
      [
        { ethertype: 'IPv6', remote_ip_prefix: '10.0.0.0/8' },
        400,
        'SecurityGroupRuleParameterConflict',
        'Conflicting value ethertype IPv6 for CIDR 10.0.0.0/8',
      ],
    ];
    for (const [body, status, type, message] of cases) {
      const res = await rule({ security_group_id: sg.id, ...body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.NeutronError, JSON.stringify(body)).toEqual({ type, message, detail: '' });
    }
    const badProto = await rule({ security_group_id: sg.id, protocol: 'bad_protocol_name' });
    expect(badProto.body.NeutronError.type).toBe('SecurityGroupRuleInvalidProtocol');
    const badPrefix = await rule({ security_group_id: sg.id, remote_ip_prefix: '192.168.1.1/33' });
    expect(badPrefix.body.NeutronError).toEqual({ type: 'InvalidCIDR', message: 'Invalid CIDR 192.168.1.1/33 given as IP prefix.', detail: '' });
    const both = await rule({ security_group_id: sg.id, remote_ip_prefix: '10.0.0.0/8', remote_group_id: sg.id });
    expect(both.status).toBe(400);
    expect(both.body.NeutronError.type).toBe('SecurityGroupMultipleRemoteEntites');
  });

  it('refuses duplicates with the existing rule id and unknown groups with 404', async () => {
    const sg = await group('dup');
    const first = (await rule({ security_group_id: sg.id, protocol: 'tcp', port_range_min: 66, port_range_max: 67 })).body.security_group_rule;
    const dup = await rule({ security_group_id: sg.id, protocol: '6', port_range_min: 66, port_range_max: 67 });
    expect(dup.status).toBe(409);
    expect(dup.body.NeutronError).toEqual({
      type: 'SecurityGroupRuleExists',
      message: `Security group rule already exists. Rule id is ${first.id}.`,
      detail: '',
    });
    for (const remote of ['bad_group_id', '00000000-0000-0000-0000-000000000000']) {
      const res = await rule({ security_group_id: sg.id, protocol: 'tcp', remote_group_id: remote });
      expect(res.status).toBe(404);
      expect(res.body.NeutronError.type).toBe('SecurityGroupNotFound');
    }
    expect((await rule({ security_group_id: '00000000-0000-0000-0000-000000000000' })).status).toBe(404);
    expect((await demo.get('/v2.0/security-groups/00000000-0000-0000-0000-000000000000')).body.NeutronError).toEqual({
      type: 'SecurityGroupNotFound',
      message: 'Security group 00000000-0000-0000-0000-000000000000 does not exist',
      detail: '',
    });
    expect((await demo.get('/v2.0/security-group-rules/00000000-0000-0000-0000-000000000000')).body.NeutronError.message).toBe(
      'Security group rule 00000000-0000-0000-0000-000000000000 does not exist',
    );
  });

  it('keeps the default group name for the default group only', async () => {
    const again = await demo.post('/v2.0/security-groups', { security_group: { name: 'default' } });
    expect(again.status).toBe(409);
    expect(again.body.NeutronError.type).toBe('SecurityGroupDefaultAlreadyExists');
    const sg = await group('renameme');
    expect((await demo.put(`/v2.0/security-groups/${sg.id}`, { security_group: { name: 'default' } })).status).toBe(409);
    const def = (await demo.get('/v2.0/security-groups?name=default')).body.security_groups[0];
    const del = await demo.delete(`/v2.0/security-groups/${def.id}`);
    expect(del.status).toBe(409);
    expect(del.body.NeutronError).toEqual({
      type: 'SecurityGroupCannotRemoveDefault',
      message: 'Insufficient rights for removing default security group.',
      detail: '',
    });
  });

  it('puts new ports in the default group, or in none when port security is off', async () => {
    const net = (await demo.post('/v2.0/networks', { network: { name: 'sgnet' } })).body.network;
    await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.5.0.0/24', ip_version: 4 } });
    const def = (await demo.get('/v2.0/security-groups?name=default')).body.security_groups[0];
    const plain = (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    expect(plain.security_groups).toEqual([def.id]);
    const off = (await demo.post('/v2.0/ports', { port: { network_id: net.id, port_security_enabled: false } })).body.port;
    expect(off.security_groups).toEqual([]);
    const refused = await demo.post('/v2.0/ports', { port: { network_id: net.id, port_security_enabled: false, security_groups: [def.id] } });
    expect(refused.status).toBe(400);
    expect(refused.body.NeutronError.type).toBe('PortSecurityAndIPRequiredForSecurityGroups');
    const sg = await group('inuse');
    const custom = (await demo.post('/v2.0/ports', { port: { network_id: net.id, security_groups: [sg.id] } })).body.port;
    expect(custom.security_groups).toEqual([sg.id]);
    const inUse = await demo.delete(`/v2.0/security-groups/${sg.id}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.NeutronError).toEqual({ type: 'SecurityGroupInUse', message: `Security Group ${sg.id} in use.`, detail: '' });
    await demo.delete(`/v2.0/ports/${custom.id}`);
    expect((await demo.delete(`/v2.0/security-groups/${sg.id}`)).status).toBe(204);
  });

  it('deleting a group removes its rules; an admin may delete a default group', async () => {
    const sg = await group('gone');
    const r = (await rule({ security_group_id: sg.id, protocol: 'tcp' })).body.security_group_rule;
    expect((await demo.delete(`/v2.0/security-groups/${sg.id}`)).status).toBe(204);
    expect((await demo.get(`/v2.0/security-group-rules/${r.id}`)).status).toBe(404);
    // Tempest's cleanup: an admin lists a project's default group (making it) and deletes it.
    const project = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    const listed = (await admin.get(`/v2.0/security-groups?tenant_id=${project}&name=default`)).body.security_groups;
    expect(listed).toHaveLength(1);
    expect(listed[0].project_id).toBe(project);
    expect((await admin.delete(`/v2.0/security-groups/${listed[0].id}`)).status).toBe(204);
    // A member cannot make another project's default group by listing it.
    expect((await demo.get('/v2.0/security-groups?tenant_id=someoneelse')).body.security_groups).toEqual([]);
  });
});
