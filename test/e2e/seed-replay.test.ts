/**
 * The seed's commands, verbatim, through Debian's `openstack` client against PocketStack. The
 * printed Field rows must be the rows the same client prints against the real Neutron server
 * (test/fixtures/neutron-cli), with the values the tutorial shows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, type TestCloud, startCloud } from '../support/cloud.js';
import { OPENSTACK_CLIENT, missing } from '../support/requires.js';
import { fieldMap, fieldRows, listHeaders, listRows, openrcV2, openrcV3, referenceFields, referenceOutput, run } from '../support/osc.js';

/** Field names printed, in order, must equal the reference's. */
function expectSameFields(out: string, reference: string) {
  expect(fieldRows(out).map(([f]) => f)).toEqual(referenceFields(reference));
}

const skip = missing([OPENSTACK_CLIENT]);

// The tutorial's openrc (Keystone v2.0 URL, tenant name, no domains) and today's v3 openrc.
const OPENRCS = {
  "v2.0 openrc (the seed's)": (identity: string) => openrcV2(identity, 'admin', ADMIN_PASSWORD),
  'v3 openrc': (identity: string) => openrcV3(identity, 'admin', ADMIN_PASSWORD),
};

describe.skipIf(skip).each(Object.entries(OPENRCS))(`seed replay with a %s: networks, subnets, ports${skip ? ` — skipped: ${skip}` : ''}`, (_name, openrc) => {
  let tc: TestCloud;
  let env: Record<string, string>;
  const osc = (args: string) => run('openstack', args.split(' '), env);

  beforeAll(async () => {
    tc = await startCloud({ listen: true });
    env = openrc(`http://127.0.0.1:${tc.config.ports.identity}`);
  });
  afterAll(async () => tc?.stop());

  it('lists the public network the tutorial expects', async () => {
    const r = await osc('network list');
    expect(r.code).toBe(0);
    expect(listHeaders(r.stdout)).toEqual(listHeaders(referenceOutput('21-net-list')));
    const pub = listRows(r.stdout).find((row) => row[1] === 'public');
    expect(pub).toBeDefined();
  });

  const tiers: Array<[string, string, string, string, string]> = [
    ['worker_network', 'worker_subnet', '10.0.1.0/24', '03-net-create-worker', '04-subnet-create-worker'],
    ['webserver_network', 'webserver_subnet', '10.0.2.0/24', '05-net-create-webserver', '06-subnet-create-webserver'],
    ['api_network', 'api_subnet', '10.0.3.0/24', '07-net-create-api', '08-subnet-create-api'],
  ];
  for (const [net, sub, cidr, netRef, subRef] of tiers) {
    it(`openstack network create ${net} / subnet create ${sub}`, async () => {
      const n = await osc(`network create ${net}`);
      expect(n.stderr).toBe('');
      expect(n.code).toBe(0);
      expectSameFields(n.stdout, netRef);
      const nf = fieldMap(n.stdout);
      expect(nf.get('name')).toBe(net);
      expect(nf.get('mtu')).toBe('1450');
      expect(nf.get('provider:network_type')).toBe('vxlan');
      expect(nf.get('router:external')).toBe('Internal');
      expect(nf.get('admin_state_up')).toBe('UP');
      expect(nf.get('status')).toBe('ACTIVE');
      expect(Number(nf.get('provider:segmentation_id'))).toBeGreaterThan(0);

      const s = await osc(`subnet create ${sub} --network ${net} --subnet-range ${cidr}`);
      expect(s.code).toBe(0);
      expectSameFields(s.stdout, subRef);
      const sf = fieldMap(s.stdout);
      const prefix = cidr.slice(0, cidr.lastIndexOf('.'));
      expect(sf.get('cidr')).toBe(cidr);
      expect(sf.get('allocation_pools')).toBe(`${prefix}.2-${prefix}.254`);
      expect(sf.get('gateway_ip')).toBe(`${prefix}.1`);
      expect(sf.get('enable_dhcp')).toBe('True');
      expect(sf.get('ip_version')).toBe('4');
      expect(sf.get('network_id')).toBe(nf.get('id'));
    });
  }

  it('openstack port create / set / list / delete', async () => {
    const p = await osc('port create --network webserver_network webserver_port');
    expect(p.code).toBe(0);
    expectSameFields(p.stdout, '17-port-create');
    const pf = fieldMap(p.stdout);
    expect(pf.get('fixed_ips')).toMatch(/^ip_address='10\.0\.2\.\d+', subnet_id='[0-9a-f-]{36}'$/);
    expect(pf.get('mac_address')).toMatch(/^fa:16:3e:/);
    expect(pf.get('status')).toBe('DOWN');
    const list = await osc('port list');
    expect(list.code).toBe(0);
    expect(listHeaders(list.stdout)).toEqual(listHeaders(referenceOutput('19-port-list')));
    expect(list.stdout).toContain('webserver_port');
    expect((await osc('port set --name webserver_port2 webserver_port')).code).toBe(0);
    const del = await osc('port delete webserver_port2');
    expect(del.code).toBe(0);
    expect((await osc('port list')).stdout).not.toContain('webserver_port2');
  });

  it('openstack network show / subnet list / network list with the new tiers', async () => {
    const show = await osc('network show worker_network');
    expect(show.code).toBe(0);
    expectSameFields(show.stdout, '24-net-show');
    expect(fieldMap(show.stdout).get('subnets')).toMatch(/^[0-9a-f-]{36}$/);
    const subnets = await osc('subnet list');
    expect(listHeaders(subnets.stdout)).toEqual(listHeaders(referenceOutput('22-subnet-list')));
    expect(
      listRows(subnets.stdout)
        .map((r) => r[1])
        .sort(),
    ).toEqual(expect.arrayContaining(['api_subnet', 'webserver_subnet', 'worker_subnet']));
  });

  it('security group create and a rule, as the tutorial secures the web tier', async () => {
    const sg = await osc('security group create web');
    expect(sg.code).toBe(0);
    expectSameFields(sg.stdout, '25-sg-create');
    const rule = await osc('security group rule create --protocol tcp --dst-port 80:80 --remote-ip 0.0.0.0/0 web');
    expect(rule.code).toBe(0);
    expectSameFields(rule.stdout, '26-sg-rule-create');
    const rf = fieldMap(rule.stdout);
    expect([rf.get('protocol'), rf.get('port_range_min'), rf.get('port_range_max'), rf.get('remote_ip_prefix'), rf.get('direction')]).toEqual([
      'tcp',
      '80',
      '80',
      '0.0.0.0/0',
      'ingress',
    ]);
    const list = await osc('security group list');
    expect(listHeaders(list.stdout)).toEqual(listHeaders(referenceOutput('27-sg-list')));
  });

  it('prints the real errors for bad CIDRs, overlaps, a busy network, exhaustion and missing names', async () => {
    const bad = await osc('subnet create bad_subnet --network worker_network --subnet-range 10.0.300.0/24');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /BadRequestException: 400: Client Error for url: .*\/v2\.0\/subnets, Invalid input for operation: 10\.0\.300\.0\/24 is not in a CIDR format\./,
    );
    const overlap = await osc('subnet create worker_subnet2 --network worker_network --subnet-range 10.0.1.128/25');
    expect(overlap.code).toBe(1);
    expect(overlap.stderr).toMatch(/Requested subnet with cidr: 10\.0\.1\.128\/25 for network: [0-9a-f-]{36} overlaps with another subnet\./);
    await osc('port create --network worker_network busy');
    const busy = await osc('network delete worker_network');
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/ConflictException: 409: .*There are one or more ports still in use on the network, id for these ports is: [0-9a-f-]{36}\./);
    expect((await osc('network create tiny_network')).code).toBe(0);
    expect((await osc('subnet create tiny_subnet --network tiny_network --subnet-range 10.0.9.0/30')).code).toBe(0);
    expect((await osc('port create --network tiny_network tiny1')).code).toBe(0);
    const full = await osc('port create --network tiny_network tiny2');
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/ConflictException: 409: .*No more IP addresses available on network [0-9a-f-]{36}\./);
    const missing = await osc('network show no_such_network');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No Network found for no_such_network');
  });
});
