#!/usr/bin/env node
/**
 * `npm run bench`: throughput and latency of the calls users make most, measured against a
 * running server. With no --url it starts its own PocketStack (embedded SQLite, temp data dir)
 * so it can also read the server's memory; with --url it measures any Neutron-compatible
 * endpoint (the real Neutron included) given a token.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { freeServicePorts, servicePortEnv } from '../util/ports.js';
import { BenchClient } from './client.js';
import type { BenchContext, HeapFigures, Result, Scenario } from './scenario.js';
import { computeScenarios } from './scenarios/compute.js';
import { loadBalancerScenarios } from './scenarios/loadbalancer.js';
import { netnsScenario } from './scenarios/netns.js';
import { l3Scenarios } from './scenarios/l3.js';
import { limitsScenario } from './scenarios/limits.js';
import { neutronScenarios, rss } from './scenarios/neutron.js';
import { startupScenarios } from './scenarios/startup.js';

// The machine's limits first (the others report ratios to them); memory last: it reads what the
// whole run left behind.
const SCENARIOS: Scenario[] = [
  limitsScenario,
  ...startupScenarios,
  ...neutronScenarios.filter((s) => s !== rss),
  ...l3Scenarios,
  ...computeScenarios,
  ...loadBalancerScenarios,
  rss,
];
/** Run only with `--dataplane netns` (root: the benchmark's own server builds real namespaces). */
const NETNS_SCENARIOS: Scenario[] = [netnsScenario];
/** The benchmark's data plane owns namespaces with this prefix (removed when it ends). */
const BENCH_PREFIX = 'pb';

const USAGE = `usage: npm run bench -- [options]
  (no --url)              start a PocketStack of our own on free ports and measure it
  --url URL               network endpoint to measure (e.g. http://127.0.0.1:9696)
  --token TOKEN           token for --url (or --identity/--user/--password/--project)
  --identity URL          Keystone URL to get a token from (e.g. http://127.0.0.1:5000)
  --user NAME --password PW --project NAME
  --compute URL           Nova endpoint for the compute scenarios (e.g. http://127.0.0.1:8774)
  --image URL             Glance endpoint for the compute scenarios (e.g. http://127.0.0.1:9292)
  --load-balancer URL     Octavia endpoint for the lb scenario (e.g. http://127.0.0.1:9876)
  --header K:V            extra request header (repeatable; e.g. X-Project-Id:demo for noauth Neutron)
  --only a,b              scenarios to run: ${SCENARIOS.map((s) => s.name).join(', ')}
  --scale N               also create up to N ports and compare create rates (default 0: off)
  --quick                 smaller counts (smoke run)
  --out FILE              JSON results (default bench-results/<time>.json)
  --dataplane netns       (root) start our own server with the real data plane and add the
                          scenario ${NETNS_SCENARIOS.map((x) => x.name).join(', ')}: boot → floating IP answers, associate →
                          answers, 50 instances, teardown, kernel memory per instance
`;

async function passwordToken(identity: string, user: string, password: string, project: string): Promise<string> {
  const res = await request(`${identity.replace(/\/v3\/?$/, '')}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
        scope: { project: { name: project, domain: { name: 'Default' } } },
      },
    }),
  });
  await res.body.text();
  if (res.statusCode !== 201) throw new Error(`token request failed: HTTP ${res.statusCode}`);
  return res.headers['x-subject-token'] as string;
}

interface OwnServer {
  pid: number;
  heap(): Promise<HeapFigures>;
  networkUrl: string;
  computeUrl: string;
  imageUrl: string;
  loadBalancerUrl: string;
  token: string;
  stop(): Promise<void>;
}

/** Start `pocketstack serve` (the built dist) with unlimited quotas in a temp data dir. */
async function startOwnServer(dataplane: 'noop' | 'netns'): Promise<OwnServer> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'pocketstack-bench-'));
  const ports = await freeServicePorts();
  const password = 'bench-admin';
  // The server writes a Node diagnostic report (with V8's heap figures) when sent SIGUSR2: the JS
  // heap is read from outside, with no endpoint of ours for it.
  const reports = join(dir, 'reports');
  mkdirSync(reports);
  const child = spawn(join(root, 'bin', 'pocketstack'), ['serve', '--data-dir', dir, '--log-level', 'warn'], {
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --report-on-signal --report-signal=SIGUSR2 --report-directory=${reports}`.trim(),
      ...servicePortEnv(ports),
      POCKETSTACK_ADMIN_PASSWORD: password,
      POCKETSTACK_VXLAN_RANGE: '1:16000000',
      POCKETSTACK_QUOTA_NETWORK: '-1',
      POCKETSTACK_QUOTA_SUBNET: '-1',
      POCKETSTACK_QUOTA_PORT: '-1',
      POCKETSTACK_QUOTA_ROUTER: '-1',
      POCKETSTACK_QUOTA_FLOATINGIP: '-1',
      POCKETSTACK_QUOTA_SECURITY_GROUP: '-1',
      POCKETSTACK_QUOTA_SECURITY_GROUP_RULE: '-1',
      POCKETSTACK_DATAPLANE: dataplane,
      POCKETSTACK_DATAPLANE_PREFIX: BENCH_PREFIX,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('PocketStack is up')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const token = await passwordToken(`http://127.0.0.1:${ports.identity}`, 'admin', password, 'admin');
  return {
    pid: child.pid!,
    async heap() {
      const before = new Set(readdirSync(reports));
      child.kill('SIGUSR2');
      const deadline = Date.now() + 10_000;
      for (;;) {
        const file = readdirSync(reports).find((f) => !before.has(f) && f.endsWith('.json'));
        if (file) {
          try {
            const report = JSON.parse(readFileSync(join(reports, file), 'utf8')) as { javascriptHeap: { usedMemory: number; totalMemory: number } };
            rmSync(join(reports, file));
            return { usedMb: report.javascriptHeap.usedMemory / 2 ** 20, totalMb: report.javascriptHeap.totalMemory / 2 ** 20 };
          } catch {
            // still being written
          }
        }
        if (Date.now() > deadline) throw new Error('the server wrote no diagnostic report');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    networkUrl: `http://127.0.0.1:${ports.network}`,
    computeUrl: `http://127.0.0.1:${ports.compute}`,
    imageUrl: `http://127.0.0.1:${ports.image}`,
    loadBalancerUrl: `http://127.0.0.1:${ports.loadBalancer}`,
    token,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      if (dataplane === 'netns') {
        // The data plane outlives its server by design; the benchmark's is removed with it.
        const down = spawn(join(root, 'bin', 'pocketstack'), ['dataplane', 'down', '--prefix', BENCH_PREFIX, '--data-dir', dir], { stdio: 'ignore' });
        await new Promise<void>((r) => down.once('exit', () => r()));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function table(results: Result[]): string {
  const rows = results.map((r) => [r.metric, `${r.value} ${r.unit}`, r.goal ?? '', r.reference ?? '']);
  const head = ['metric', 'measured', 'goal', 'real service'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      compute: { type: 'string' },
      image: { type: 'string' },
      'load-balancer': { type: 'string' },
      token: { type: 'string' },
      identity: { type: 'string' },
      user: { type: 'string', default: 'admin' },
      password: { type: 'string' },
      project: { type: 'string', default: 'admin' },
      header: { type: 'string', multiple: true },
      only: { type: 'string' },
      scale: { type: 'string', default: '0' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
      dataplane: { type: 'string', default: 'noop' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const headers = Object.fromEntries((values.header ?? []).map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1)]));
  let own: OwnServer | undefined;
  let networkUrl: string;
  let token: string;
  if (values.url) {
    networkUrl = values.url.replace(/\/$/, '');
    token =
      values.token ?? (values.identity && values.password ? await passwordToken(values.identity, values.user!, values.password, values.project!) : 'none');
  } else {
    if (values.dataplane !== 'noop' && values.dataplane !== 'netns') throw new Error(`--dataplane is noop or netns, not ${values.dataplane}`);
    own = await startOwnServer(values.dataplane);
    networkUrl = own.networkUrl;
    token = own.token;
  }
  const client = new BenchClient(networkUrl, token, headers);
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const ctx: BenchContext = {
    client,
    computeUrl: (values.compute ?? own?.computeUrl)?.replace(/\/$/, ''),
    imageUrl: (values.image ?? own?.imageUrl)?.replace(/\/$/, ''),
    loadBalancerUrl: (values['load-balancer'] ?? own?.loadBalancerUrl)?.replace(/\/$/, ''),
    pid: own?.pid,
    heap: own ? () => own!.heap() : undefined,
    quick: values.quick!,
    scalePorts: Number(values.scale),
    log: (m) => process.stderr.write(`${m}\n`),
  };
  const scenarios = values.dataplane === 'netns' ? [...SCENARIOS, ...NETNS_SCENARIOS] : SCENARIOS;
  const results: Result[] = [];
  try {
    for (const s of scenarios) {
      if (only && !only.has(s.name)) continue;
      ctx.log(`scenario ${s.name}: ${s.description}`);
      results.push(...(await s.run(ctx)));
    }
  } finally {
    await client.close();
    await own?.stop();
  }
  const env = {
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    target: values.url ?? `pocketstack (self-started, SQLite, ${values.dataplane} data plane)`,
  };
  process.stdout.write(`\n${table(results)}\n\n`);
  const outFile = values.out ?? join('bench-results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify({ env, results }, null, 2)}\n`);
  process.stdout.write(`results written to ${outFile}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
