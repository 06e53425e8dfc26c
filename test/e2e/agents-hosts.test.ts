/**
 * Two hosts' agents as processes of their own (issue 18), on the real kernel: an API-only server
 * (`serve --no-local-agent`) and `pocketstack agent --host … --dataplane netns` twice, each with
 * its own prefix, all on one PostgreSQL store. The network's DHCP port is bound to the host whose
 * DHCP agent holds it: that agent builds its namespace and the other builds nothing of it; moved
 * to the other agent through the API, the namespace moves with it. (One machine stands for two
 * hosts here; the overlay between hosts is not built yet.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../src/dataplane/netns/down.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type Client, type ScratchDatabase, type TestCloud, scratchDatabase, serviceClients, startCloud } from '../support/cloud.js';
import { eventually } from '../support/dataplane.js';
import { sh } from '../support/netns.js';
import { E2E_POSTGRES, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const PG = E2E_POSTGRES;
const skip = missing([ROOT]) ?? needsE2ePostgres();
const REPO = join(import.meta.dirname, '..', '..');
const HOSTS = [
  { host: 'e2e-h1', names: new Names('y1') },
  { host: 'e2e-h2', names: new Names('y2') },
] as const;

interface AgentProcess {
  child: ChildProcess;
  dir: string;
  out: () => string;
  exited: Promise<number | null>;
}

async function startAgent(host: string, prefix: string, databaseUrl: string): Promise<AgentProcess> {
  const dir = mkdtempSync(join(tmpdir(), `pocketstack-agent-${host}-`));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'agent',
      '--host',
      host,
      '--database',
      databaseUrl,
      '--dataplane',
      'netns',
      '--dataplane-prefix',
      prefix,
      '--data-dir',
      dir,
      '--log-level',
      'warn',
    ],
    { cwd: REPO, env: { ...process.env, POCKETSTACK_REPORT_INTERVAL: '2' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!/agents of host .* are up/.test(out)) {
    if (child.exitCode !== null) throw new Error(`agent ${host} exited: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`agent ${host} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, dir, out: () => out, exited };
}

describe.skipIf(skip)(`agents of two hosts on the netns data plane${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let server: TestCloud;
  let admin: Client;
  const agents: AgentProcess[] = [];

  let db: ScratchDatabase | undefined;

  beforeAll(async () => {
    for (const h of HOSTS) await teardown(h.names);
    db = await scratchDatabase(PG!, 'pocketstack_e2e');
    server = await startCloud({ config: { localAgent: false, databaseUrl: db.url } });
    admin = (await serviceClients(server, 'network')).admin;
    for (const h of HOSTS) agents.push(await startAgent(h.host, h.names.prefix, server.config.databaseUrl));
  });

  afterAll(async () => {
    for (const a of agents) {
      if (a.child.exitCode === null) a.child.kill('SIGTERM');
      await a.exited;
      rmSync(a.dir, { recursive: true, force: true });
    }
    for (const h of HOSTS) await teardown(h.names);
    await server?.stop();
    await db?.drop();
  });

  const dhcpAgentOf = async (host: string): Promise<string> =>
    (await admin.get(`/v2.0/agents?agent_type=DHCP%20agent&host=${host}`)).body.agents[0].id as string;
  const namespaces = async () => [...(await listNamespaces()).keys()];

  it("builds the DHCP namespace on the host whose agent holds the network, and the other host's agent touches nothing of it", async () => {
    const live = await eventually(
      async () => (await admin.get('/v2.0/agents?agent_type=DHCP%20agent')).body.agents as Array<{ host: string; alive: boolean }>,
      (l) => l.length === 2 && l.every((a) => a.alive),
    );
    expect(live.map((a) => a.host).sort()).toEqual(['e2e-h1', 'e2e-h2']);
    const net = (await admin.post('/v2.0/networks', { network: { name: 'hosts-e2e' } })).body.network;
    const h1Agent = await dhcpAgentOf('e2e-h1');
    expect((await admin.post(`/v2.0/agents/${h1Agent}/dhcp-networks`, { network_id: net.id })).status).toBe(201);
    await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.77.0.0/24', ip_version: 4 } });

    const [h1, h2] = HOSTS;
    const port = await eventually(
      async () => (await admin.get(`/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`)).body.ports[0],
      (p) => p?.status === 'ACTIVE',
      30_000,
    );
    expect(port).toMatchObject({ 'binding:host_id': 'e2e-h1', status: 'ACTIVE' });
    const ns = await namespaces();
    expect(ns).toContain(h1.names.dhcpNs(net.id));
    expect(ns).not.toContain(h2.names.dhcpNs(net.id));
    // dnsmasq's address is the port's, inside h1's namespace.
    const addrs = await sh(['ip', '-n', h1.names.dhcpNs(net.id), '-4', 'addr', 'show']);
    expect(addrs).toContain(`${port.fixed_ips[0].ip_address}/24`);
    // h2's agent has built no namespace but its switch.
    expect(ns.filter((n) => h2.names.ownsNamespace(n) && n !== h2.names.switchNs)).toEqual([]);

    // Moved to h2's agent: h1's namespace goes, h2 builds its own with the reserved port.
    expect((await admin.delete(`/v2.0/agents/${h1Agent}/dhcp-networks/${net.id}`)).status).toBe(204);
    expect((await admin.post(`/v2.0/agents/${await dhcpAgentOf('e2e-h2')}/dhcp-networks`, { network_id: net.id })).status).toBe(201);
    const moved = await eventually(
      async () => {
        const now = await namespaces();
        return { h1: now.includes(h1.names.dhcpNs(net.id)), h2: now.includes(h2.names.dhcpNs(net.id)) };
      },
      (v) => !v.h1 && v.h2,
      30_000,
    );
    expect(moved).toEqual({ h1: false, h2: true });
    const taken = (await admin.get(`/v2.0/ports/${port.id}`)).body.port;
    expect(taken['binding:host_id']).toBe('e2e-h2');
  });
});
