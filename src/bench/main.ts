#!/usr/bin/env node
/**
 * `npm run bench`: throughput and latency of the calls users make most, measured against a
 * running server. With no --url it starts its own PocketStack (embedded SQLite, temp data dir)
 * so it can also read the server's memory; with --url it measures any Neutron-compatible
 * endpoint (the real Neutron included) given a token.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchClient } from './client.js';
import { type OwnServer, passwordToken, startOwnServer } from './ownserver.js';
import type { BenchContext, Result, Scenario } from './scenario.js';
import { computeScenarios } from './scenarios/compute.js';
import { growthScenario } from './scenarios/growth.js';
import { labSkipReason, runLabScenario } from './scenarios/lab.js';
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
  growthScenario,
  rss,
];
/** Run only with `--dataplane netns` (root: the benchmark's own server builds real namespaces). */
const NETNS_SCENARIOS: Scenario[] = [netnsScenario];
/**
 * Run with `--dataplane netns` and a PostgreSQL server (root): simulated hosts with a server and
 * agents of its own (src/bench/scenarios/lab.ts), after the other scenarios' server has stopped
 * (two data planes on one machine would claim the same public-network gateway).
 */
const LAB = 'lab';
const HOSTS_LINE = 'three simulated hosts (pocketstack lab) on PostgreSQL: ping and iperf3 across VXLAN vs one host, create → ACTIVE';
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
  --only a,b              scenarios to run: ${SCENARIOS.map((s) => s.name).join(', ')} (and with
                          --dataplane netns: ${[...NETNS_SCENARIOS.map((x) => x.name), LAB].join(', ')})
  --scale N               also create up to N ports and compare create rates (default 0: off)
  --quick                 smaller counts (smoke run)
  --out FILE              JSON results (default bench-results/<time>.json)
  --no-local-agent        our own server without its host's agents (\`serve --no-local-agent\`): the
                          API's own cost, without what the agents do after each write (binding
                          router ports, reporting port status, DHCP and L3 scheduling reactions)
  --dataplane netns       (root) start our own server with the real data plane and add the
                          scenario ${NETNS_SCENARIOS.map((x) => x.name).join(', ')}: boot → floating IP answers, associate →
                          answers, 50 instances, teardown, kernel memory per instance; and,
                          with --database, the scenario ${LAB}
  --database URL          (with --dataplane netns) a PostgreSQL server the benchmark may create
                          a database of its own on (dropped after; default
                          POCKETSTACK_E2E_POSTGRES_URL): scenario ${LAB} builds \`pocketstack lab hosts 3\`,
                          an API-only server and the three hosts' agents on it, and measures
                          instance → instance ping (p50/p99) and iperf3 TCP throughput across
                          VXLAN against the same pair on one host, and server create → ACTIVE
                          with three hosts (p50/p99, how they spread); then removes it all
`;

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
      database: { type: 'string' },
      'no-local-agent': { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const headers = Object.fromEntries((values.header ?? []).map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1)]));
  if (values.dataplane !== 'noop' && values.dataplane !== 'netns') throw new Error(`--dataplane is noop or netns, not ${values.dataplane}`);
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const scenarios = (values.dataplane === 'netns' ? [...SCENARIOS, ...NETNS_SCENARIOS] : SCENARIOS).filter((s) => !only || only.has(s.name));
  const results: Result[] = [];
  let labRan = false;
  // With only the lab asked for, no server of the others' is started.
  if (scenarios.length) {
    let own: OwnServer | undefined;
    let networkUrl: string;
    let token: string;
    if (values.url) {
      networkUrl = values.url.replace(/\/$/, '');
      token =
        values.token ?? (values.identity && values.password ? await passwordToken(values.identity, values.user!, values.password, values.project!) : 'none');
    } else {
      own = await startOwnServer({ dataplane: values.dataplane, prefix: BENCH_PREFIX, localAgent: !values['no-local-agent'] });
      networkUrl = own.networkUrl;
      token = own.token;
    }
    const client = new BenchClient(networkUrl, token, headers);
    const ctx: BenchContext = {
      client,
      identityUrl: (values.identity ?? own?.identityUrl)?.replace(/\/$/, ''),
      computeUrl: (values.compute ?? own?.computeUrl)?.replace(/\/$/, ''),
      imageUrl: (values.image ?? own?.imageUrl)?.replace(/\/$/, ''),
      loadBalancerUrl: (values['load-balancer'] ?? own?.loadBalancerUrl)?.replace(/\/$/, ''),
      pid: own?.pid,
      heap: own ? () => own!.heap() : undefined,
      quick: values.quick!,
      scalePorts: Number(values.scale),
      log,
    };
    try {
      for (const s of scenarios) {
        ctx.log(`scenario ${s.name}: ${s.description}`);
        results.push(...(await s.run(ctx)));
      }
    } finally {
      await client.close();
      await own?.stop();
    }
  }
  if (!values.url && (values.dataplane === 'netns' || only?.has(LAB)) && (!only || only.has(LAB))) {
    const databaseUrl = values.database ?? process.env.POCKETSTACK_E2E_POSTGRES_URL;
    const skip = values.dataplane === 'netns' ? await labSkipReason(databaseUrl) : 'needs --dataplane netns';
    if (skip) log(`scenario ${LAB}: skipped: ${skip}`);
    else {
      log(`scenario ${LAB}: ${HOSTS_LINE}`);
      results.push(...(await runLabScenario({ databaseUrl, quick: values.quick!, log })));
      labRan = true;
    }
  }
  const env = {
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    target: values.url ?? `pocketstack (self-started, SQLite, ${values.dataplane} data plane${labRan ? '; lab: 3 simulated hosts, PostgreSQL' : ''})`,
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
