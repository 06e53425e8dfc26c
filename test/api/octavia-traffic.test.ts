import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCloud, freePort, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';
import { type Backend, get, httpBackend } from '../support/servers.js';

/**
 * The whole stack in noop data-plane mode: a load balancer placed on a loopback address really
 * balances to members on 127.0.0.1 and health-checks them, with either engine.
 */
for (const engine of ['builtin', 'haproxy'] as const) {
  describe(`traffic through the ${engine} engine`, () => {
    let tc: TestCloud;
    let c: Awaited<ReturnType<typeof lbClients>>;
    let web1: Backend;
    let web2: Backend;
    let lbId: string;
    let address: string;
    let port: number;
    let poolId: string;

    const show = (path: string) => c.demo.get(`/v2.0/lbaas/${path}`);
    const settled = async (lb: string) =>
      waitFor(
        () => show(`loadbalancers/${lb}`),
        (r) => r.body.loadbalancer.provisioning_status === 'ACTIVE',
      );

    beforeAll(async () => {
      tc = await startCloud({ config: { lbEngine: engine } });
      c = await lbClients(tc);
      const { subnetId } = await makeSubnet(c.net.demo);
      web1 = await httpBackend('web1');
      web2 = await httpBackend('web2');
      port = await freePort();
      const lb = await c.demo.post('/v2.0/lbaas/loadbalancers', { loadbalancer: { name: 'web', vip_subnet_id: subnetId } });
      lbId = lb.body.loadbalancer.id;
      await settled(lbId);
      const l = await c.demo.post('/v2.0/lbaas/listeners', {
        listener: { loadbalancer_id: lbId, protocol: 'HTTP', protocol_port: port, insert_headers: { 'X-Forwarded-For': 'true' } },
      });
      expect(l.status).toBe(201);
      await settled(lbId);
      const p = await c.demo.post('/v2.0/lbaas/pools', { pool: { listener_id: l.body.listener.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } });
      poolId = p.body.pool.id;
      await settled(lbId);
      for (const b of [web1, web2]) {
        const m = await c.demo.post(`/v2.0/lbaas/pools/${poolId}/members`, { member: { address: '127.0.0.1', protocol_port: b.port } });
        expect(m.status).toBe(201);
        await settled(lbId);
      }
      const hm = await c.demo.post('/v2.0/lbaas/healthmonitors', {
        healthmonitor: { pool_id: poolId, type: 'HTTP', delay: 1, timeout: 1, max_retries: 1, max_retries_down: 2 },
      });
      expect(hm.status).toBe(201);
      await settled(lbId);
      address = tc.cloud.services.lbEngine.endpoint(lbId)!.address;
    });
    afterAll(async () => {
      await tc?.stop();
      await web1?.close();
      await web2?.close();
    });

    it('alternates requests between the two members and inserts X-Forwarded-For', async () => {
      const seen: string[] = [];
      for (let i = 0; i < 10; i++) seen.push((await get(address, port)).body);
      expect(seen.filter((x) => x === 'web1').length).toBe(5);
      expect(seen.filter((x) => x === 'web2').length).toBe(5);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
      expect(web1.lastForwardedFor).toBe('127.0.0.1');
    });

    it('says where it listens through the amphora API (admin): the loopback address, the VIP as ha_ip', async () => {
      const amps = await c.admin.get(`/v2/octavia/amphorae?loadbalancer_id=${lbId}`);
      expect(amps.status).toBe(200);
      expect(amps.body.amphorae).toHaveLength(1);
      const lb = (await show(`loadbalancers/${lbId}`)).body.loadbalancer;
      expect(amps.body.amphorae[0]).toMatchObject({
        loadbalancer_id: lbId,
        lb_network_ip: address,
        ha_ip: lb.vip_address,
        ha_port_id: lb.vip_port_id,
        status: 'ALLOCATED',
        role: 'STANDALONE',
      });
      expect(address).toMatch(/^127\./);
      expect((await c.demo.get(`/v2/octavia/amphorae?loadbalancer_id=${lbId}`)).status).toBe(403);
    });

    it('reports members ONLINE and the tree ONLINE from real health checks', async () => {
      await waitFor(
        () => show(`loadbalancers/${lbId}/status`),
        (r) => r.body.statuses.loadbalancer.operating_status === 'ONLINE',
        10_000,
      );
      const tree = (await show(`loadbalancers/${lbId}/status`)).body.statuses.loadbalancer;
      const members = tree.listeners[0].pools[0].members;
      expect(members.map((m: any) => m.operating_status)).toEqual(['ONLINE', 'ONLINE']);
    });

    it('takes a dead member out without failing requests, and back after it returns', async () => {
      await web2.kill();
      for (let i = 0; i < 6; i++) expect((await get(address, port)).body).toBe('web1');
      const tree = await waitFor(
        () => show(`loadbalancers/${lbId}/status`),
        (r) => r.body.statuses.loadbalancer.operating_status === 'DEGRADED',
        10_000,
      );
      const members = tree.body.statuses.loadbalancer.listeners[0].pools[0].members;
      expect(members.map((m: any) => m.operating_status).sort()).toEqual(['ERROR', 'ONLINE']);
      await web2.start();
      await waitFor(
        () => show(`loadbalancers/${lbId}/status`),
        (r) => r.body.statuses.loadbalancer.operating_status === 'ONLINE',
        10_000,
      );
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add((await get(address, port)).body);
      expect([...seen].sort()).toEqual(['web1', 'web2']);
    });

    it('counts traffic in the listener statistics', async () => {
      await tc.cloud.services.lbEngine.flush();
      const s = await show(`loadbalancers/${lbId}/stats`);
      expect(s.body.stats.total_connections).toBeGreaterThanOrEqual(20);
      expect(s.body.stats.bytes_out).toBeGreaterThan(0);
    });

    // The built-in engine has no process to keep: this is HAProxy's runtime API (serverplan.ts).
    if (engine === 'haproxy')
      it('adds and removes a member through the running HAProxy, without a new process', async () => {
        /** The HAProxy processes serving this load balancer (a reload's old one lingers while it drains). */
        const haproxies = () =>
          readdirSync('/proc')
            .filter((p) => /^\d+$/.test(p))
            .filter((p) => {
              try {
                return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`/${lbId}/haproxy.cfg`);
              } catch {
                return false; // it ended meanwhile
              }
            });
        const [before] = await waitFor(
          async () => haproxies(),
          (p) => p.length === 1,
        );
        const web3 = await httpBackend('web3');
        try {
          const m = await c.demo.post(`/v2.0/lbaas/pools/${poolId}/members`, { member: { address: '127.0.0.1', protocol_port: web3.port } });
          expect(m.status).toBe(201);
          await settled(lbId);
          expect(haproxies()).toEqual([before]);
          const seen: string[] = [];
          for (let i = 0; i < 6; i++) seen.push((await get(address, port)).body);
          expect(seen.filter((x) => x === 'web3').length).toBe(2);
          expect((await c.demo.delete(`/v2.0/lbaas/pools/${poolId}/members/${m.body.member.id}`)).status).toBe(204);
          await settled(lbId);
          expect(haproxies()).toEqual([before]);
          for (let i = 0; i < 6; i++) expect((await get(address, port)).body).not.toBe('web3');
        } finally {
          await web3.close();
        }
      });
  });
}
