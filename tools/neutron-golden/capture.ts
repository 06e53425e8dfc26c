/**
 * Captures the golden fixtures: runs every scenario (scenarios/*.ts) against the REAL Neutron
 * server (shared/tools/neutron-reference, Debian's Neutron Zed) and writes
 * test/fixtures/neutron-ext/<extension>.json with each step's request and normalised response.
 *
 *   npx tsx tools/neutron-golden/capture.ts --start            # (re)start the server with PLUGINS below, fresh DB
 *   npx tsx tools/neutron-golden/capture.ts [--only qos,trunk] # use the server already on --url
 *   npx tsx tools/neutron-golden/capture.ts --stop             # stop it afterwards (port 9696 is shared)
 *
 * Callers on the reference server (noauth, setup.sh's header filter): `admin` sends its own
 * project id with `X-Roles: admin`, `member` and `alt` send projects A and B with `X-Roles:
 * member`. Every scenario gets three fresh project ids, so scenarios never see each other's
 * project-owned objects, default security groups or quotas.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Normaliser } from './normalise.js';
import type { Caller, Scenario, Step } from './scenario.js';
import { SCENARIOS } from './scenarios/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
/** shared/ sits beside the repository (a clone) or two levels up (a worktree under /work/wt). */
const REFERENCE =
  process.env.NEUTRON_REFERENCE_TOOLS ??
  [join(ROOT, '..', 'shared'), join(ROOT, '..', '..', 'shared')].map((d) => join(d, 'tools', 'neutron-reference')).find((d) => existsSync(d)) ??
  join(ROOT, '..', 'shared', 'tools', 'neutron-reference');

/**
 * The DevStack ML2/OVS-like configuration the fixtures were captured with (see the fixture
 * README for what differs from the brief's list and why).
 */
export const REFERENCE_CONFIG = {
  MECH_DRIVERS: 'openvswitch',
  SERVICE_PLUGINS: [
    'router',
    'qos',
    'trunk',
    'segments',
    'port_forwarding',
    'network_segment_range',
    'placement',
    'log',
    'auto_allocate',
    'flavors',
    'tag',
    'revisions',
    'local_ip',
    'ndp_proxy',
    'conntrack_helper',
    'metering',
    'network_ip_availability',
  ].join(','),
  EXTENSION_DRIVERS: [
    'port_security',
    'qos',
    'dns_domain_keywords',
    'uplink_status_propagation',
    'data_plane_status',
    'tag_ports_during_bulk_creation',
    'port_device_profile',
    'port_numa_affinity_policy',
  ].join(','),
};

interface Args {
  url: string;
  only?: Set<string>;
  start: boolean;
  stop: boolean;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { url: 'http://127.0.0.1:9696', start: false, stop: false, out: join(ROOT, 'test', 'fixtures', 'neutron-ext') };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--url') a.url = argv[++i];
    else if (v === '--only') a.only = new Set(argv[++i].split(','));
    else if (v === '--start') a.start = true;
    else if (v === '--stop') a.stop = true;
    else if (v === '--out') a.out = argv[++i];
    else throw new Error(`unknown argument ${v}`);
  }
  return a;
}

const REQUEST_TIMEOUT_MS = 60_000;

const hex = () => randomUUID().replace(/-/g, '');

/** `${var}` in a path or body, from the bindings so far. */
export function substitute(v: unknown, vars: Record<string, unknown>): unknown {
  if (typeof v === 'string') {
    const whole = /^\$\{([A-Za-z0-9_]+)\}$/.exec(v);
    if (whole) {
      if (vars[whole[1]] === undefined) throw new Error(`unbound variable \${${whole[1]}}`);
      return vars[whole[1]];
    }
    return v.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_m, k: string) => {
      if (vars[k] === undefined) throw new Error(`unbound variable \${${k}}`);
      return String(vars[k]);
    });
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, vars)]));
  return v;
}

export function dig(body: unknown, path: string): unknown {
  let cur: unknown = body;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

async function runScenario(url: string, sc: Scenario, neutronVersion: string) {
  const projects = { projectAdmin: hex(), projectA: hex(), projectB: hex() };
  const vars: Record<string, unknown> = { ...projects };
  const norm = new Normaliser();
  for (const [k, v] of Object.entries(projects)) norm.bindName(k, v);
  const headersFor = (as: Caller): Record<string, string> =>
    as === 'admin'
      ? { 'X-Project-Id': projects.projectAdmin, 'X-Roles': 'admin' }
      : { 'X-Project-Id': as === 'member' ? projects.projectA : projects.projectB, 'X-Roles': 'member', 'X-User-Id': `user-${as}` };
  const steps: unknown[] = [];
  const warnings: string[] = [];
  for (const step of sc.steps) {
    let path: string;
    let body: unknown;
    try {
      path = substitute(step.path, vars) as string;
      body = step.body === undefined ? undefined : substitute(step.body, vars);
    } catch (e) {
      // An earlier step did not give what this one needs: kept in the fixture as skipped.
      warnings.push(`${step.name}: skipped, ${(e as Error).message}`);
      steps.push({ ...stepRecord(step, undefined, null), skipped: (e as Error).message });
      continue;
    }
    norm.sawRequest(path);
    norm.sawRequest(body);
    let res: Response;
    try {
      res = await fetch(url + path, {
        method: step.method,
        headers: { Accept: 'application/json', ...headersFor(step.as), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      // The reference hung (seen: a DB retry loop): kept in the fixture as skipped, never guessed.
      warnings.push(`${step.name}: no answer from the real server (${(e as Error).message})`);
      steps.push({ ...stepRecord(step, undefined, null), skipped: `the real server did not answer within ${REQUEST_TIMEOUT_MS / 1000} s` });
      continue;
    }
    const text = await res.text();
    let parsed: unknown = text || undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep text */
    }
    for (const [name, p] of Object.entries(step.bind ?? {})) {
      const v = dig(parsed, p);
      if (v === undefined) warnings.push(`${step.name}: bind ${name} <- ${p}: nothing there (status ${res.status})`);
      vars[name] = v;
      norm.bindName(name, v);
    }
    if (step.expect !== undefined && step.expect !== res.status) {
      const msg = parsed && typeof parsed === 'object' ? JSON.stringify(parsed).slice(0, 300) : String(parsed).slice(0, 300);
      warnings.push(`${step.name}: expected ${step.expect}, real Neutron said ${res.status} ${msg}`);
    }
    if (res.status >= 500) warnings.push(`${step.name}: ${res.status} from the real server (see neutron-server.log)`);
    const sorted = /[?&]sort_key=/.test(path);
    steps.push(stepRecord(step, res, norm.body(parsed, sorted)));
  }
  const fixture = {
    extension: sc.extension,
    title: sc.title,
    aliases: sc.aliases,
    captured_from: `neutron-server ${neutronVersion}, ML2 mechanism_drivers=${REFERENCE_CONFIG.MECH_DRIVERS}, service_plugins=${REFERENCE_CONFIG.SERVICE_PLUGINS}, extension_drivers=${REFERENCE_CONFIG.EXTENSION_DRIVERS}`,
    steps,
  };
  return { fixture, warnings };
}

function stepRecord(step: Step, res: Response | undefined, body: unknown) {
  const ct = res?.headers.get('content-type');
  return {
    name: step.name,
    as: step.as,
    method: step.method,
    path: step.path,
    ...(step.body !== undefined ? { body: step.body } : {}),
    ...(step.bind ? { bind: step.bind } : {}),
    ...(step.note ? { note: step.note } : {}),
    status: res?.status ?? 0,
    headers: ct ? { 'content-type': ct } : {},
    response: body === undefined ? null : body,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.start) {
    execFileSync(join(REFERENCE, 'setup.sh'), [], { stdio: 'inherit', env: { ...process.env, RESET: '1', ...REFERENCE_CONFIG } });
  }
  let version = 'unknown';
  try {
    version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'neutron-server'], { encoding: 'utf8' });
  } catch {
    /* not a Debian install */
  }
  mkdirSync(args.out, { recursive: true });
  let failed = 0;
  const written: string[] = [];
  for (const sc of SCENARIOS) {
    if (args.only && !args.only.has(sc.extension)) continue;
    const { fixture, warnings } = await runScenario(args.url, sc, version);
    const file = join(args.out, `${sc.extension}.json`);
    writeFileSync(file, `${JSON.stringify(fixture, null, 2)}\n`);
    written.push(file);
    console.log(`${sc.extension}: ${sc.steps.length} steps${warnings.length ? `, ${warnings.length} warnings` : ''}`);
    for (const w of warnings) console.log(`  ! ${w}`);
    failed += warnings.length;
  }
  // The repository's formatter has the last word on layout (key order is untouched).
  if (written.length && args.out.startsWith(ROOT)) {
    execFileSync(join(ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', ...written], { cwd: ROOT, stdio: 'ignore' });
  }
  if (args.stop) execFileSync(join(REFERENCE, 'stop.sh'), [], { stdio: 'inherit' });
  if (failed) process.exitCode = 1;
}

await main();
