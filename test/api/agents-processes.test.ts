/**
 * Agents in processes of their own (issue 18): an API-only server (`serve --no-local-agent`) and
 * two hosts' agents (`pocketstack agent --host h1|h2`, each a Cloud in the `agent` role with its
 * own store connection, as separate processes have) on one PostgreSQL store. The agents report
 * heartbeats, hear the server's commits through LISTEN/NOTIFY and touch only their host's ports;
 * an agent that stops is shown dead after agent_down_time and its networks move to the live one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Cloud } from '../../src/server.js';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';

const PG = process.env.POCKETSTACK_TEST_DATABASE_URL;
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = [process.execPath, '--import', 'tsx', 'src/cli/main.ts'] as const;

describe('pocketstack agent on SQLite', () => {
  it('refuses, saying several hosts need the shared PostgreSQL store', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pocketstack-agent-sqlite-'));
    try {
      const r = spawnSync(CLI[0], [...CLI.slice(1), 'agent', '--host', 'h1', '--data-dir', dir], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, POCKETSTACK_DATABASE_URL: '' },
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('agent needs the PostgreSQL store the servers share');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
/** Short, as a test can wait for: Neutron's defaults are 75 s and 30 s. */
const DOWN_TIME_S = 2;

type Agent = { id: string; agent_type: string; host: string; alive: boolean };

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await get();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    v = await get();
  }
  return v;
}

describe.skipIf(!PG)(
  `agents of two hosts in processes of their own${PG ? '' : ' — skipped: needs POCKETSTACK_TEST_DATABASE_URL (npm test provides it as root)'}`,
  () => {
    let server: TestCloud;
    let admin: Client;
    let nova: Client;
    const hosts = new Map<string, { cloud: Cloud; dir: string; stopped: boolean }>();

    // What each host's nova-compute reports (`pocketstack agent --vcpus --memory-mb --disk-gb`).
    const CAPACITY = new Map([
      ['h1', { vcpus: 2, memoryMb: 3072, diskGb: 30 }],
      ['h2', { vcpus: 4, memoryMb: 4096, diskGb: 40 }],
    ]);

    async function startAgent(host: string): Promise<void> {
      const dir = mkdtempSync(join(tmpdir(), `pocketstack-agent-${host}-`));
      const config = loadConfig(
        {
          dataDir: dir,
          databaseUrl: server.config.databaseUrl,
          agentHost: host,
          dataplane: 'noop',
          reportInterval: 1,
          logLevel: 'silent',
          hostCapacity: CAPACITY.get(host) ?? {},
        },
        {},
      );
      const cloud = await Cloud.create(config, pino({ level: 'silent' }), 'agent');
      await cloud.startDataPlane();
      hosts.set(host, { cloud, dir, stopped: false });
    }

    async function stopAgent(host: string): Promise<void> {
      const h = hosts.get(host);
      if (!h || h.stopped) return;
      h.stopped = true;
      await h.cloud.close();
      rmSync(h.dir, { recursive: true, force: true });
    }

    beforeAll(async () => {
      server = await startCloud({ config: { localAgent: false, agentDownTime: DOWN_TIME_S, computeResyncMs: 600_000 } });
      admin = (await serviceClients(server, 'network')).admin;
      nova = (await serviceClients(server, 'compute')).admin;
      await startAgent('h1');
      await startAgent('h2');
    });

    afterAll(async () => {
      for (const host of hosts.keys()) await stopAgent(host);
      await server?.stop();
    });

    const agents = async (): Promise<Agent[]> => (await admin.get('/v2.0/agents')).body.agents;

    it('lists both hosts’ agents, alive, and none of the API-only server’s own host', async () => {
      const list = await agents();
      expect(new Set(list.map((a) => a.host))).toEqual(new Set(['h1', 'h2']));
      expect(
        list
          .filter((a) => a.host === 'h1')
          .map((a) => a.agent_type)
          .sort(),
      ).toEqual(['DHCP agent', 'L3 agent', 'Linux bridge agent', 'Metadata agent']);
      expect(list.every((a) => a.alive)).toBe(true);
    });

    type Hypervisor = { hypervisor_hostname: string; state: string; status: string; vcpus: number; memory_mb: number; local_gb: number };
    const hypervisors = async (): Promise<Hypervisor[]> =>
      (await nova.get('/v2.1/os-hypervisors/detail', { 'openstack-api-version': 'compute 2.87' })).body.hypervisors;

    it('registers each agent host’s nova-compute: os-services and os-hypervisors list it up, with the capacity it reported', async () => {
      const services = (await nova.get('/v2.1/os-services?binary=nova-compute', { 'openstack-api-version': 'compute 2.53' })).body.services;
      // The API-only server runs no instances: it is no nova-compute host (a controller's conductor and scheduler only).
      expect(services.map((x: { host: string }) => x.host).sort()).toEqual(['h1', 'h2']);
      for (const host of ['h1', 'h2']) {
        expect(services.filter((x: { host: string }) => x.host === host)).toEqual([expect.objectContaining({ status: 'enabled', state: 'up', zone: 'nova' })]);
      }
      const list = await hypervisors();
      for (const [host, c] of CAPACITY) {
        expect(list.find((h) => h.hypervisor_hostname === host)).toMatchObject({
          state: 'up',
          status: 'enabled',
          vcpus: c.vcpus,
          memory_mb: c.memoryMb,
          local_gb: c.diskGb,
        });
      }
    });

    it("wakes the host's agent on the server's commit and touches only ports bound to its host", async () => {
      const net = (await admin.post('/v2.0/networks', { network: { name: 'hosts' } })).body.network;
      await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.9.0.0/24', ip_version: 4 } });
      const bound = async (host: string) => (await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': host } })).body.port.id as string;
      const [onH1, onH2, nowhere] = [await bound('h1'), await bound('h2'), await bound('h3')];
      const status = async (id: string) => (await admin.get(`/v2.0/ports/${id}`)).body.port.status as string;
      // Well before the agents' periodic pass (10 s): what woke them is the server's NOTIFY.
      const t0 = Date.now();
      expect(
        await until(
          () => status(onH1),
          (s) => s === 'ACTIVE',
          5000,
        ),
      ).toBe('ACTIVE');
      expect(
        await until(
          () => status(onH2),
          (s) => s === 'ACTIVE',
          5000,
        ),
      ).toBe('ACTIVE');
      expect(Date.now() - t0).toBeLessThan(5000);
      // No agent runs on h3: its port stays DOWN.
      await new Promise((r) => setTimeout(r, 300));
      expect(await status(nowhere)).toBe('DOWN');
    });

    it("turns a server ACTIVE on its host agent's report, heard through LISTEN, not at the compute manager's periodic pass", async () => {
      // The server's unprompted pass is 10 minutes here (computeResyncMs): only the agent's
      // committed report (the server's port ACTIVE) can move the build on within this test.
      const imageId = (await (await serviceClients(server, 'image')).admin.get('/v2/images?name=cirros-0.3.3-x86_64-disk')).body.images[0].id;
      const net = (await admin.post('/v2.0/networks', { network: { name: 'booted' } })).body.network;
      await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.10.0.0/24', ip_version: 4 } });
      const res = await nova.post('/v2.1/servers', {
        server: { name: 'on-h1', flavorRef: '1', imageRef: imageId, networks: [{ uuid: net.id }], availability_zone: 'nova:h1' },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const show = async () => (await nova.get(`/v2.1/servers/${res.body.server.id}`)).body.server;
      const s = await until(show, (v) => v.status !== 'BUILD', 30_000);
      expect(s.status).toBe('ACTIVE');
      expect(s['OS-EXT-SRV-ATTR:host']).toBe('h1');
      expect((await admin.get(`/v2.0/ports?device_id=${s.id}`)).body.ports).toEqual([expect.objectContaining({ status: 'ACTIVE', 'binding:host_id': 'h1' })]);
      await nova.delete(`/v2.1/servers/${s.id}`);
    });

    it('`pocketstack agent --host` as a process of its own registers its host’s agents, and stops on SIGTERM', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pocketstack-agent-proc-'));
      const child = spawn(
        CLI[0],
        [
          ...CLI.slice(1),
          'agent',
          '--host',
          'hproc',
          '--database',
          server.config.databaseUrl,
          '--data-dir',
          dir,
          '--log-level',
          'warn',
          '--vcpus',
          '3',
          '--memory-mb',
          '1536',
          '--disk-gb',
          '12',
        ],
        {
          cwd: ROOT,
          env: { ...process.env, POCKETSTACK_REPORT_INTERVAL: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await until(
          async () => out,
          (o) => /agents of host hproc are up/.test(o) || child.exitCode !== null,
          30_000,
        );
        expect(out).toContain('PocketStack agents of host hproc are up');
        const mine = (await agents()).filter((a) => a.host === 'hproc');
        expect(mine.map((a) => [a.agent_type, a.alive]).sort()).toEqual([
          ['DHCP agent', true],
          ['L3 agent', true],
          ['Linux bridge agent', true],
          ['Metadata agent', true],
        ]);
        // Its host is a nova-compute host too, of the size it was told.
        expect((await hypervisors()).find((h) => h.hypervisor_hostname === 'hproc')).toMatchObject({
          state: 'up',
          vcpus: 3,
          memory_mb: 1536,
          local_gb: 12,
        });
      } finally {
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        rmSync(dir, { recursive: true, force: true });
      }
      // Its agents stay registered (Neutron keeps them until deleted), dead once they stop reporting.
      for (const a of (await agents()).filter((x) => x.host === 'hproc')) expect((await admin.delete(`/v2.0/agents/${a.id}`)).status).toBe(204);
      // So does its compute service (Nova keeps it until an operator deletes it), with its node.
      const svc = (await nova.get('/v2.1/os-services?host=hproc')).body.services[0];
      expect((await nova.delete(`/v2.1/os-services/${svc.id}`)).status).toBe(204);
      expect((await hypervisors()).map((h) => h.hypervisor_hostname)).not.toContain('hproc');
    }, 60_000);

    it('shows a stopped agent dead after agent_down_time, and moves its networks to the live DHCP agent', async () => {
      const net = (await admin.post('/v2.0/networks', { network: { name: 'failover' } })).body.network;
      await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.8.0.0/24', ip_version: 4 } });
      const holders = async () => ((await admin.get(`/v2.0/networks/${net.id}/dhcp-agents`)).body.agents as Agent[]).map((a) => a.host);
      const [held] = await until(holders, (h) => h.length === 1);
      expect(['h1', 'h2']).toContain(held);
      const other = held === 'h1' ? 'h2' : 'h1';

      // Timed from before the stop: its last heartbeat came at most report_interval before this
      // instant (taken after the stop returns, a slow exit on a loaded machine counted against it).
      const stoppedAt = Date.now();
      await stopAgent(held);
      const dead = await until(agents, (l) => l.filter((a) => a.host === held).every((a) => !a.alive), (DOWN_TIME_S + 3) * 1000);
      expect(dead.filter((a) => a.host === held).map((a) => a.alive)).toEqual([false, false, false, false]);
      // Not before agent_down_time: its last heartbeat was at most report_interval (1 s) before it stopped.
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual((DOWN_TIME_S - 1) * 1000);
      expect(dead.filter((a) => a.host === other).every((a) => a.alive)).toBe(true);
      expect((await admin.get(`/v2.0/agents?alive=false`)).body.agents.map((a: Agent) => a.host)).toEqual([held, held, held, held]);

      // Neutron's failover: networks leave an agent dead for twice agent_down_time (plus its start-up grace).
      expect(await until(holders, (h) => h.length === 1 && h[0] === other, 20_000)).toEqual([other]);
    }, 40_000);
  },
);
