import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, DEMO_PASSWORD, type TestCloud, startCloud } from '../support/cloud.js';
import { fieldMap, listHeaders, listRows, openrcV2, openrcV3, run } from '../support/osc.js';
import { NEUTRON_CLIENT, OPENSTACK_CLIENT, missing } from '../support/requires.js';
import { type Backend, get, httpBackend } from '../support/servers.js';
import { waitFor } from '../support/lb.js';

/**
 * The real clients against PocketStack (noop data plane: load balancers listen on loopback
 * addresses and their members are servers on 127.0.0.1): the seed's `neutron lb-*` commands
 * verbatim, then the same with `openstack loadbalancer …`.
 */
const skip = missing([NEUTRON_CLIENT, OPENSTACK_CLIENT]);

describe.skipIf(skip)('load balancing through the real clients', () => {
  let tc: TestCloud;
  let web1: Backend;
  let web2: Backend;
  let v2env: Record<string, string>;
  let v3env: Record<string, string>;
  let subnetId: string;

  const neutron = (...args: string[]) => run('neutron', args, v2env);
  const openstack = (...args: string[]) => run('openstack', args, v3env);

  beforeAll(async () => {
    tc = await startCloud({ listen: true });
    const identity = `http://127.0.0.1:${tc.config.ports.identity}`;
    v2env = openrcV2(identity, 'demo', DEMO_PASSWORD);
    v3env = openrcV3(identity, 'demo', DEMO_PASSWORD);
    web1 = await httpBackend('web1');
    web2 = await httpBackend('web2');
    const net = await openstack('network', 'create', 'webserver_network', '-f', 'value', '-c', 'id');
    expect(net.code, net.stderr).toBe(0);
    const sub = await openstack(
      'subnet',
      'create',
      '--network',
      'webserver_network',
      '--subnet-range',
      '10.0.2.0/24',
      'webserver_subnet',
      '-f',
      'value',
      '-c',
      'id',
    );
    expect(sub.code, sub.stderr).toBe(0);
    subnetId = sub.stdout.trim();
  }, 120_000);

  afterAll(async () => {
    await tc?.stop();
    await web1?.close();
    await web2?.close();
  });

  it('runs the seed’s neutron lb-* commands verbatim and balances for real', async () => {
    const pool = await neutron('lb-pool-create', '--lb-method', 'ROUND_ROBIN', '--name', 'mypool', '--protocol', 'HTTP', '--subnet-id', subnetId);
    expect(pool.code, pool.stderr).toBe(0);
    expect(pool.stdout).toContain('Created a new pool:');
    for (const b of [web1, web2]) {
      const m = await neutron('lb-member-create', '--address', '127.0.0.1', '--protocol-port', String(b.port), 'mypool');
      expect(m.code, m.stderr).toBe(0);
      expect([...fieldMap(m.stdout).keys()]).toEqual([
        'address',
        'admin_state_up',
        'id',
        'pool_id',
        'protocol_port',
        'status',
        'status_description',
        'tenant_id',
        'weight',
      ]);
      expect(fieldMap(m.stdout).get('status')).toBe('PENDING_CREATE');
    }
    const members = await waitFor(
      () => neutron('lb-member-list'),
      (r) => listRows(r.stdout).length === 2 && listRows(r.stdout).every((x) => x[5] === 'ACTIVE'),
    );
    expect(listHeaders(members.stdout)).toEqual(['id', 'address', 'protocol_port', 'weight', 'admin_state_up', 'status']);
    const hm = await neutron('lb-healthmonitor-create', '--delay', '3', '--type', 'HTTP', '--max-retries', '3', '--timeout', '3');
    expect(hm.code, hm.stderr).toBe(0);
    const hmFields = fieldMap(hm.stdout);
    expect([...hmFields.keys()]).toEqual([
      'admin_state_up',
      'delay',
      'expected_codes',
      'http_method',
      'id',
      'max_retries',
      'pools',
      'tenant_id',
      'timeout',
      'type',
      'url_path',
    ]);
    const hmId = hmFields.get('id')!;
    const assoc = await neutron('lb-healthmonitor-associate', hmId, 'mypool');
    expect(assoc.code, assoc.stderr).toBe(0);
    expect(assoc.stdout.trim()).toBe(`Associated health monitor ${hmId}`);
    const vip = await neutron('lb-vip-create', '--name', 'myvip', '--protocol-port', '80', '--protocol', 'HTTP', '--subnet-id', subnetId, 'mypool');
    expect(vip.code, vip.stderr).toBe(0);
    const vipFields = fieldMap(vip.stdout);
    expect([...vipFields.keys()]).toEqual([
      'address',
      'admin_state_up',
      'connection_limit',
      'description',
      'id',
      'name',
      'pool_id',
      'port_id',
      'protocol',
      'protocol_port',
      'session_persistence',
      'status',
      'status_description',
      'subnet_id',
      'tenant_id',
    ]);
    expect(vipFields.get('address')).toMatch(/^10\.0\.2\.\d+$/);
    const vips = await waitFor(
      () => neutron('lb-vip-list'),
      (r) => listRows(r.stdout)[0]?.[5] === 'ACTIVE',
    );
    expect(listHeaders(vips.stdout)).toEqual(['id', 'name', 'address', 'protocol', 'admin_state_up', 'status']);
    expect(listRows(vips.stdout)[0].slice(1, 4)).toEqual(['myvip', vipFields.get('address'), 'HTTP']);

    // In noop mode the load balancer listens on a loopback address of its own.
    const at = tc.cloud.services.lbEngine.endpoint(vipFields.get('id')!)!;
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push((await get(at.address, 80)).body);
    expect(seen.filter((x) => x === 'web1')).toHaveLength(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);

    // A dead member goes INACTIVE (v1's word for Octavia's ERROR) and comes back.
    await web2.kill();
    await waitFor(
      () => neutron('lb-member-list'),
      (r) => listRows(r.stdout).some((x) => x[5] === 'INACTIVE'),
      20_000,
    );
    await web2.start();
    await waitFor(
      () => neutron('lb-member-list'),
      (r) => listRows(r.stdout).every((x) => x[5] === 'ACTIVE'),
      20_000,
    );

    const stats = await neutron('lb-pool-stats', 'mypool');
    expect([...fieldMap(stats.stdout).keys()]).toEqual(['active_connections', 'bytes_in', 'bytes_out', 'total_connections']);
    const del = await neutron('lb-vip-delete', 'myvip');
    expect(del.stdout).toContain('Deleted vip(s): myvip');
  }, 120_000);

  it('does the same with openstack loadbalancer …', async () => {
    const lb = await openstack('loadbalancer', 'create', '--name', 'lb1', '--vip-subnet-id', subnetId, '--wait');
    expect(lb.code, lb.stderr).toBe(0);
    expect(fieldMap(lb.stdout).get('provisioning_status')).toBe('ACTIVE');
    const lbId = fieldMap(lb.stdout).get('id')!;
    const steps: string[][] = [
      ['loadbalancer', 'listener', 'create', '--name', 'l1', '--protocol', 'HTTP', '--protocol-port', '80', '--wait', 'lb1'],
      ['loadbalancer', 'pool', 'create', '--name', 'p1', '--lb-algorithm', 'ROUND_ROBIN', '--listener', 'l1', '--protocol', 'HTTP', '--wait'],
      ['loadbalancer', 'member', 'create', '--name', 'm1', '--address', '127.0.0.1', '--protocol-port', String(web1.port), '--wait', 'p1'],
      ['loadbalancer', 'member', 'create', '--name', 'm2', '--address', '127.0.0.1', '--protocol-port', String(web2.port), '--wait', 'p1'],
      ['loadbalancer', 'healthmonitor', 'create', '--name', 'hm1', '--delay', '3', '--timeout', '3', '--max-retries', '3', '--type', 'HTTP', '--wait', 'p1'],
    ];
    for (const s of steps) {
      const r = await openstack(...s);
      expect(r.code, `${s.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const members = await waitFor(
      () => openstack('loadbalancer', 'member', 'list', 'p1'),
      (r) => listRows(r.stdout).length === 2 && listRows(r.stdout).every((x) => x[6] === 'ONLINE'),
      20_000,
    );
    expect(listHeaders(members.stdout)).toEqual(['id', 'name', 'project_id', 'provisioning_status', 'address', 'protocol_port', 'operating_status', 'weight']);
    const at = tc.cloud.services.lbEngine.endpoint(lbId)!;
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await get(at.address, 80)).body);
    expect([...seen].sort()).toEqual(['web1', 'web2']);
    const status = await openstack('loadbalancer', 'status', 'show', 'lb1');
    const tree = JSON.parse(status.stdout);
    expect(tree.loadbalancer.operating_status).toBe('ONLINE');
    expect(tree.loadbalancer.listeners[0].pools[0].health_monitor.type).toBe('HTTP');
    const stats = await openstack('loadbalancer', 'stats', 'show', 'lb1');
    expect(Number(fieldMap(stats.stdout).get('total_connections'))).toBeGreaterThanOrEqual(0);
    const dup = await openstack('loadbalancer', 'listener', 'create', '--protocol', 'HTTP', '--protocol-port', '80', 'lb1');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80 (HTTP 409)');
    const del = await openstack('loadbalancer', 'delete', '--cascade', '--wait', 'lb1');
    expect(del.code, del.stderr).toBe(0);
    expect((await openstack('loadbalancer', 'list', '-f', 'value')).stdout.trim()).toBe('');
  }, 180_000);

  it('answers openstack loadbalancer provider list', async () => {
    const admin = openrcV3(`http://127.0.0.1:${tc.config.ports.identity}`, 'admin', ADMIN_PASSWORD);
    const p = await run('openstack', ['loadbalancer', 'provider', 'list', '-f', 'value', '-c', 'name'], admin);
    expect(p.stdout.trim().split('\n')).toEqual(['pocketstack', 'amphora', 'octavia']);
  });
});
