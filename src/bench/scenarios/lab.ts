import { spawn } from 'node:child_process';
import { run } from '../../dataplane/netns/exec.js';
import { Names } from '../../dataplane/netns/names.js';
import { preflight } from '../../dataplane/netns/preflight.js';
import { labNow } from '../../lab/lab.js';
import { LabStack, buildLabStack } from '../../lab/stack.js';
import { which } from '../../util/which.js';
import { BenchClient, type Many, type One } from '../client.js';
import { echoSeries, ping } from '../icmp.js';
import { type OwnServer, POCKETSTACK_BIN, startOwnServer } from '../ownserver.js';
import type { Result } from '../scenario.js';
import { round, summarize } from '../stats.js';

/**
 * Several hosts (issue 18's performance figures), on simulated hosts: `pocketstack lab hosts 3`,
 * an API-only server (`serve --no-local-agent --dataplane netns`) on a PostgreSQL database of the
 * benchmark's own, and each host's `pocketstack agent` with the arguments `lab hosts` prints —
 * the same set-up as test/e2e/lab-overlay.test.ts. It measures
 *   - ICMP echo round trips from an instance on host1 to one on host2 (across VXLAN over the lab
 *     switch) and to one on host1 (the same bridge), from inside the instances' namespaces;
 *   - TCP throughput over the same two pairs with Debian's iperf3 (run from this machine inside
 *     the instances' network namespaces: the path is the instance's own interface, its security
 *     group, the host's bridge and, across hosts, the tunnel);
 *   - server create → ACTIVE with three hosts, servers one after another, placed by Nova's
 *     scheduler (no host forced), and how they spread.
 * Everything it made — agents, the hosts' data planes, the lab, the server, the database — is
 * removed afterwards, on failure and on Ctrl-C too.
 */
const NAME = 'lab';
const HOSTS = 3;
/** The port iperf3 listens on (its default), admitted by the benchmark's security group. */
const IPERF_PORT = 5201;

export interface LabBenchOptions {
  /** A PostgreSQL server URL on which the benchmark may CREATE DATABASE (its own, dropped after). */
  databaseUrl: string | undefined;
  quick: boolean;
  log(msg: string): void;
}

/** Why the scenario cannot run here (one line), or undefined. */
export async function labSkipReason(databaseUrl: string | undefined): Promise<string | undefined> {
  const why = await preflight();
  if (why) return why;
  if (!databaseUrl) return 'needs a PostgreSQL server the hosts share: --database postgres://USER:PASSWORD@HOST/postgres (or POCKETSTACK_E2E_POSTGRES_URL)';
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) return `--database must be postgres://…, not '${databaseUrl.replace(/\/\/[^@/]*@/, '//***@')}'`;
  const lab = await labNow();
  if (lab.length) return `a lab exists here already (${lab.map((h) => h.name).join(', ')}; its agents may be running): pocketstack lab down first`;
  return undefined;
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface Iperf {
  bitsPerSecond: number;
  retransmits: number;
}

/** iperf3 from namespace `from` to `to` (its server in namespace `toNs`, one test and it exits). */
async function iperf(from: string, toNs: string, to: string, seconds: number): Promise<Iperf> {
  // --forceflush: its "Server listening" reaches the pipe at once (not at exit).
  const server = spawn('ip', ['netns', 'exec', toNs, 'iperf3', '--server', '--one-off', '--forceflush', '--bind', to, '--port', String(IPERF_PORT)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serverOut = '';
  server.stdout.on('data', (d) => (serverOut += d));
  server.stderr.on('data', (d) => (serverOut += d));
  const serverExit = new Promise<void>((r) => server.once('exit', () => r()));
  try {
    await until(
      `iperf3 server in ${toNs}`,
      async () => serverOut,
      (o) => o.includes('Server listening') || server.exitCode !== null,
      10_000,
      20,
    );
    if (server.exitCode !== null) throw new Error(`iperf3 server in ${toNs} exited: ${serverOut.trim()}`);
    // -O 1: the first second (slow start) is not counted.
    const r = await run(
      'ip',
      ['netns', 'exec', from, 'iperf3', '--client', to, '--port', String(IPERF_PORT), '--time', String(seconds), '--omit', '1', '--json'],
      {
        allowFail: true,
      },
    );
    const report = JSON.parse(r.stdout || '{}') as {
      error?: string;
      end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } };
    };
    if (report.error || !report.end?.sum_received) throw new Error(`iperf3 ${from} → ${to}: ${report.error ?? r.stderr.trim()}`);
    return { bitsPerSecond: report.end.sum_received.bits_per_second, retransmits: report.end.sum_sent?.retransmits ?? 0 };
  } finally {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await serverExit;
  }
}

export async function runLabScenario(opts: LabBenchOptions): Promise<Result[]> {
  const stack = new LabStack<OwnServer>(HOSTS);
  let client: BenchClient | undefined;
  // Ctrl-C (or a kill) mid-run: the same removal, then exit as the signal would have.
  const onSignal = (signal: NodeJS.Signals) => {
    opts.log(`scenario ${NAME}: ${signal}: removing the lab`);
    void stack.remove().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await measure(stack, opts, (c) => (client = c));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    client?.close();
    const failures = await stack.remove();
    for (const f of failures) opts.log(`scenario ${NAME}: clean-up: ${f}`);
  }
}

async function measure(stack: LabStack<OwnServer>, opts: LabBenchOptions, opened: (c: BenchClient) => void): Promise<Result[]> {
  const { log, quick } = opts;
  await buildLabStack(stack, {
    hosts: HOSTS,
    adminUrl: opts.databaseUrl!,
    name: 'pocketstack_bench_lab',
    server: async (databaseUrl) => {
      const server = await startOwnServer({ dataplane: 'netns', prefix: 'pb', databaseUrl, localAgent: false });
      log(`scenario ${NAME}: lab of ${HOSTS} hosts and an API-only server up; starting the hosts' agents`);
      return server;
    },
    agentCommand: [POCKETSTACK_BIN],
  });
  const server = stack.server!;
  const c = new BenchClient(server.networkUrl, server.token);
  opened(c);
  const compute = server.computeUrl;
  const out: Result[] = [];

  // Every host a live nova-compute and a live L2 agent with its tunnel endpoint.
  await until(
    'three live nova-compute services',
    async () =>
      (await c.expect<Many<'services', { host: string; state: string }>>(200, 'GET', `${compute}/v2.1/os-services?binary=nova-compute`)).body.services,
    (s) => s.filter((x) => x.state === 'up').length === HOSTS,
    60_000,
  );
  await until(
    'three live Linux bridge agents',
    async () => (await c.expect<Many<'agents', { alive: boolean }>>(200, 'GET', '/v2.0/agents?agent_type=Linux%20bridge%20agent')).body.agents,
    (a) => a.filter((x) => x.alive).length === HOSTS,
    60_000,
  );

  const netRow = (await c.expect<One<'network', { id: string; project_id: string }>>(201, 'POST', '/v2.0/networks', { network: { name: 'bench-lab' } })).body
    .network;
  const net = netRow.id;
  await c.expect(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.202.0.0/24' } });
  await c.expect(200, 'PUT', `${compute}/v2.1/os-quota-sets/${netRow.project_id}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  const sg = (await c.expect<One<'security_group'>>(201, 'POST', '/v2.0/security-groups', { security_group: { name: 'bench-lab' } })).body.security_group.id;
  for (const rule of [{ protocol: 'icmp' }, { protocol: 'tcp', port_range_min: IPERF_PORT, port_range_max: IPERF_PORT }]) {
    await c.expect(201, 'POST', '/v2.0/security-group-rules', {
      security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', ...rule },
    });
  }
  const imageRef = (await c.expect<Many<'images'>>(200, 'GET', `${server.imageUrl}/v2/images?name=cirros-0.3.3-x86_64-disk`)).body.images[0].id;
  const create = async (name: string, host?: string) =>
    (
      await c.expect<One<'server'>>(202, 'POST', `${compute}/v2.1/servers`, {
        server: {
          name,
          flavorRef: '1',
          imageRef,
          networks: [{ uuid: net }],
          security_groups: [{ name: 'bench-lab' }],
          ...(host ? { availability_zone: `nova:${host}` } : {}),
        },
      })
    ).body.server.id;
  type ServerView = { id: string; status: string; fault?: { message: string }; 'OS-EXT-SRV-ATTR:host': string | null };
  const show = async (id: string) => (await c.expect<One<'server', ServerView>>(200, 'GET', `${compute}/v2.1/servers/${id}`)).body.server;
  const active = async (id: string, everyMs = 200) => {
    const s = await until(
      `server ${id} ACTIVE`,
      () => show(id),
      (v) => v.status === 'ACTIVE' || v.status === 'ERROR',
      120_000,
      everyMs,
    );
    if (s.status !== 'ACTIVE') throw new Error(`server ${id} went to ERROR: ${s.fault?.message ?? ''}`);
    return s;
  };
  const remove = async (ids: string[]) => {
    for (const id of ids) await c.expect(204, 'DELETE', `${compute}/v2.1/servers/${id}`);
    await until(
      'servers deleted',
      async () => Promise.all(ids.map(async (id) => (await c.call('GET', `${compute}/v2.1/servers/${id}`)).status)),
      (codes) => codes.every((x) => x === 404),
      60_000,
    );
  };

  // The pairs: a on host1, b on host2 (across the tunnel), c on host1 (the same bridge).
  const [h1, h2] = stack.hosts;
  const placed = [
    { name: 'bench-lab-a', host: h1 },
    { name: 'bench-lab-b', host: h2 },
    { name: 'bench-lab-c', host: h1 },
  ];
  const ids: string[] = [];
  for (const p of placed) ids.push(await create(p.name, p.host.name));
  await Promise.all(ids.map((id) => active(id)));
  const guests = await Promise.all(
    placed.map(async (p, i) => {
      const port = (await c.expect<Many<'ports', { fixed_ips: Array<{ ip_address: string }> }>>(200, 'GET', `/v2.0/ports?device_id=${ids[i]}`)).body.ports[0];
      const ns = new Names(p.host.prefix).instanceNs(ids[i]);
      const ip = port.fixed_ips[0].ip_address;
      // The guest's init configured the address it got by DHCP (the DHCP agent is on one host).
      await until(
        `${p.name}'s address by DHCP`,
        async () => (await run('ip', ['-n', ns, '-o', '-4', 'addr', 'show'], { allowFail: true })).stdout,
        (o) => o.includes(` ${ip}/`),
        60_000,
      );
      return { ...p, ns, ip };
    }),
  );
  const [a, b, cc] = guests;
  const pairs = [
    { label: 'across VXLAN (host1 → host2)', from: a, to: b },
    { label: 'one host (host1 → host1)', from: a, to: cc },
  ];
  for (const p of pairs) {
    if (!(await ping(p.to.ip, { ns: p.from.ns, timeoutS: 20 }))) throw new Error(`${p.from.name} cannot ping ${p.to.name} (${p.label})`);
  }

  // Latency: one echo at a time from inside the instance (as `ping -c N -i 0.05` would).
  const count = quick ? 20 : 200;
  for (const p of pairs) {
    const { rttMs, lost } = await echoSeries(p.to.ip, { ns: p.from.ns, count, intervalS: 0.05 });
    const s = summarize(rttMs);
    out.push({
      scenario: NAME,
      metric: `instance → instance ICMP round trip, ${p.label}, median`,
      value: round(s.p50, 3),
      unit: `ms (p99 ${round(s.p99, 3)} ms, n=${count}${lost ? `, ${lost} lost` : ''})`,
    });
  }

  // Throughput: Debian's iperf3 inside the instances' network namespaces.
  if (which('iperf3')) {
    const seconds = quick ? 3 : 6;
    for (const p of pairs) {
      const r = await iperf(p.from.ns, p.to.ns, p.to.ip, seconds);
      out.push({
        scenario: NAME,
        metric: `instance → instance TCP throughput (iperf3, 1 stream), ${p.label}`,
        value: round(r.bitsPerSecond / 1e9, 2),
        unit: `Gbit/s (${seconds - 1} s measured, ${r.retransmits} retransmits)`,
      });
    }
  } else {
    log(`scenario ${NAME}: TCP throughput skipped: iperf3 is missing (apt-get install iperf3)`);
  }
  await remove(ids);

  // Server create → ACTIVE, one after another, Nova's scheduler choosing the host.
  const n = quick ? 3 : 12;
  const timed: string[] = [];
  const ms: number[] = [];
  const where = new Map<string, number>(stack.hosts.map((h) => [h.name, 0]));
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const id = await create(`bench-lab-${i}`);
    const s = await active(id, 20);
    ms.push(performance.now() - t0);
    timed.push(id);
    const host = s['OS-EXT-SRV-ATTR:host'] ?? '(none)';
    where.set(host, (where.get(host) ?? 0) + 1);
  }
  const t = summarize(ms);
  out.push({
    scenario: NAME,
    metric: `server create → ACTIVE, ${HOSTS} hosts, one at a time, median`,
    value: round(t.p50, 0),
    unit: `ms (p99 ${round(t.p99, 0)} ms, n=${n}; placed ${[...where].map(([h, k]) => `${h} ${k}`).join(', ')})`,
  });
  await remove(timed);
  return out;
}
