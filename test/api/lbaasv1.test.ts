import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCloud, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';

/** Neutron LBaaS v1 on the network endpoint, as `neutron lb-*` 8.1 sends it (numbers as strings). */
let tc: TestCloud;
let c: Awaited<ReturnType<typeof lbClients>>;
let subnetId: string;

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  c = await lbClients(tc);
  subnetId = (await makeSubnet(c.net.demo, '10.30.0.0/24', 'webserver_network')).subnetId;
});
afterAll(async () => tc?.stop());

const net = () => c.net.demo;
const until = <T>(get: () => Promise<T>, ok: (v: T) => boolean) => waitFor(get, ok, 5000);

describe('LBaaS v1', () => {
  let poolId: string;
  let hmId: string;
  let vipId: string;

  it('advertises the lbaas extension', async () => {
    const r = await net().get('/v2.0/extensions/lbaas');
    expect(r.status).toBe(200);
    expect(r.body.extension.name).toBe('LoadBalancing service');
  });

  it('creates a pool, members and a health monitor as the seed does', async () => {
    const p = await net().post('/v2.0/lb/pools', {
      pool: { admin_state_up: true, subnet_id: subnetId, lb_method: 'ROUND_ROBIN', name: 'mypool', protocol: 'HTTP' },
    });
    expect(p.status).toBe(201);
    poolId = p.body.pool.id;
    expect(Object.keys(p.body.pool)).toEqual([
      'id',
      'tenant_id',
      'vip_id',
      'name',
      'description',
      'subnet_id',
      'protocol',
      'provider',
      'lb_method',
      'members',
      'health_monitors',
      'health_monitors_status',
      'admin_state_up',
      'status',
      'status_description',
    ]);
    expect(p.body.pool.status).toBe('PENDING_CREATE');
    for (const address of ['203.0.113.21', '203.0.113.22']) {
      const m = await net().post('/v2.0/lb/members', { member: { pool_id: poolId, admin_state_up: true, address, protocol_port: '80' } });
      expect(m.status).toBe(201);
      expect(m.body.member).toMatchObject({ address, protocol_port: 80, weight: 1, status: 'PENDING_CREATE', status_description: null });
    }
    const list = await until(
      () => net().get('/v2.0/lb/members'),
      (r) => r.body.members.every((m: any) => m.status === 'ACTIVE'),
    );
    expect(list.body.members).toHaveLength(2);
    const hm = await net().post('/v2.0/lb/health_monitors', {
      health_monitor: { admin_state_up: true, delay: '3', max_retries: '3', timeout: '3', type: 'HTTP' },
    });
    expect(hm.status).toBe(201);
    hmId = hm.body.health_monitor.id;
    expect(hm.body.health_monitor).toEqual({
      id: hmId,
      tenant_id: expect.any(String),
      type: 'HTTP',
      delay: 3,
      timeout: 3,
      max_retries: 3,
      http_method: 'GET',
      url_path: '/',
      expected_codes: '200',
      admin_state_up: true,
      pools: [],
    });
    const a = await net().post(`/v2.0/lb/pools/${poolId}/health_monitors`, { health_monitor: { id: hmId } });
    expect(a.status).toBe(201);
    const again = await net().post(`/v2.0/lb/pools/${poolId}/health_monitors`, { health_monitor: { id: hmId } });
    expect(again.status).toBe(409);
    expect(again.body.NeutronError.type).toBe('PoolMonitorAssociationExists');
  });

  it('refuses a monitor whose timeout exceeds its delay (v2 accepts it)', async () => {
    const r = await net().post('/v2.0/lb/health_monitors', { health_monitor: { delay: '3', timeout: '5', max_retries: '3', type: 'HTTP' } });
    expect(r.status).toBe(400);
    expect(r.body.NeutronError).toEqual({ type: 'DelayOrTimeoutInvalid', message: 'Delay must be greater than or equal to timeout', detail: '' });
  });

  it('creates a VIP: a real port with device_owner neutron:LOADBALANCER, ACTIVE soon', async () => {
    const v = await net().post('/v2.0/lb/vips', {
      vip: { pool_id: poolId, admin_state_up: true, subnet_id: subnetId, name: 'myvip', protocol_port: '80', protocol: 'HTTP' },
    });
    expect(v.status).toBe(201);
    vipId = v.body.vip.id;
    expect(v.body.vip).toMatchObject({
      name: 'myvip',
      protocol_port: 80,
      protocol: 'HTTP',
      pool_id: poolId,
      connection_limit: -1,
      session_persistence: null,
      status: 'PENDING_CREATE',
    });
    const port = await net().get(`/v2.0/ports/${v.body.vip.port_id}`);
    expect(port.body.port.device_owner).toBe('neutron:LOADBALANCER');
    expect(port.body.port.fixed_ips[0].ip_address).toBe(v.body.vip.address);
    await until(
      () => net().get(`/v2.0/lb/vips/${vipId}`),
      (r) => r.body.vip.status === 'ACTIVE',
    );
    const pool = await until(
      () => net().get(`/v2.0/lb/pools/${poolId}`),
      (r) => r.body.pool.health_monitors_status[0]?.status === 'ACTIVE',
    );
    expect(pool.body.pool.vip_id).toBe(vipId);
    expect(pool.body.pool.health_monitors).toEqual([hmId]);
    const second = await net().post('/v2.0/lb/vips', { vip: { pool_id: poolId, subnet_id: subnetId, name: 'x', protocol_port: '81', protocol: 'HTTP' } });
    expect(second.status).toBe(409);
    expect(second.body.NeutronError.type).toBe('VipExists');
  });

  it('lists VIPs with v1 fields, updates the connection limit, reports pool stats', async () => {
    const l = await net().get('/v2.0/lb/vips');
    expect(l.body.vips.map((v: any) => v.name)).toEqual(['myvip']);
    const u = await net().put(`/v2.0/lb/vips/${vipId}`, { vip: { connection_limit: '100' } });
    expect(u.status).toBe(200);
    expect(u.body.vip.connection_limit).toBe(100);
    const s = await net().get(`/v2.0/lb/pools/${poolId}/stats`);
    expect(Object.keys(s.body.stats).sort()).toEqual(['active_connections', 'bytes_in', 'bytes_out', 'total_connections']);
  });

  it('is the same model Octavia v2 status tree and engine use (members measured, INACTIVE when down)', async () => {
    // 203.0.113.x is unreachable from this host: the HTTP monitor marks the members down.
    const members = await until(
      () => net().get('/v2.0/lb/members'),
      (r) => r.body.members.every((m: any) => m.status === 'INACTIVE'),
    );
    expect(members.body.members).toHaveLength(2);
  });

  it('refuses bad input in Neutron’s format', async () => {
    const bad = await net().post('/v2.0/lb/members', { member: { pool_id: poolId, address: '10.0.0.1', protocol_port: '70000' } });
    expect(bad.status).toBe(400);
    expect(bad.body.NeutronError.type).toBe('HTTPBadRequest');
    const dup = await net().post('/v2.0/lb/members', { member: { pool_id: poolId, address: '203.0.113.21', protocol_port: '80' } });
    expect(dup.status).toBe(409);
    expect(dup.body.NeutronError.type).toBe('MemberExists');
    const inUse = await net().delete(`/v2.0/lb/pools/${poolId}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.NeutronError.type).toBe('PoolInUse');
    const missing = await net().get('/v2.0/lb/pools/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.body.NeutronError.message).toBe('Pool 00000000-0000-4000-8000-000000000000 could not be found');
  });

  it('deletes the VIP (port released), disassociates and deletes the rest', async () => {
    const vip = (await net().get(`/v2.0/lb/vips/${vipId}`)).body.vip;
    expect((await net().delete(`/v2.0/lb/vips/${vipId}`)).status).toBe(204);
    await until(
      () => net().get(`/v2.0/lb/vips/${vipId}`),
      (r) => r.status === 404,
    );
    expect((await net().get(`/v2.0/ports/${vip.port_id}`)).status).toBe(404);
    expect((await net().delete(`/v2.0/lb/pools/${poolId}/health_monitors/${hmId}`)).status).toBe(204);
    expect((await net().delete(`/v2.0/lb/pools/${poolId}/health_monitors/${hmId}`)).status).toBe(404);
    expect((await net().delete(`/v2.0/lb/pools/${poolId}`)).status).toBe(204);
    await until(
      () => net().get(`/v2.0/lb/pools/${poolId}`),
      (r) => r.status === 404,
    );
    expect((await net().get('/v2.0/lb/members')).body.members).toEqual([]);
    expect((await net().delete(`/v2.0/lb/health_monitors/${hmId}`)).status).toBe(204);
  });
});
