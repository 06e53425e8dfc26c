import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freeServicePorts, servicePortEnv } from '../util/ports.js';
import type { HeapFigures } from './scenario.js';

/** The repository (or installed package) root: bin/pocketstack runs the built dist beside it. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `bin/pocketstack`, the command every process the benchmark starts runs. */
export const POCKETSTACK_BIN = join(PACKAGE_ROOT, 'bin', 'pocketstack');

export async function passwordToken(identity: string, user: string, password: string, project: string): Promise<string> {
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

export interface OwnServer {
  pid: number;
  /** Its data directory (a temporary one, removed by stop()). */
  dir: string;
  heap(): Promise<HeapFigures>;
  identityUrl: string;
  networkUrl: string;
  computeUrl: string;
  imageUrl: string;
  loadBalancerUrl: string;
  token: string;
  stop(): Promise<void>;
}

export interface OwnServerOptions {
  dataplane: 'noop' | 'netns';
  /** The data plane's namespace prefix (removed with `dataplane down` when the server stops). */
  prefix: string;
  /** A PostgreSQL database of the server's own (default: SQLite in its data directory). */
  databaseUrl?: string;
  /** false: `serve --no-local-agent`, the API only (hosts run `pocketstack agent`). */
  localAgent?: boolean;
}

/** Start `pocketstack serve` (the built dist) with unlimited quotas in a temp data dir. */
export async function startOwnServer(opts: OwnServerOptions): Promise<OwnServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pocketstack-bench-'));
  const ports = await freeServicePorts();
  const password = 'bench-admin';
  // The server writes a Node diagnostic report (with V8's heap figures) when sent SIGUSR2: the JS
  // heap is read from outside, with no endpoint of ours for it.
  const reports = join(dir, 'reports');
  mkdirSync(reports);
  const args = ['serve', '--data-dir', dir, '--log-level', 'warn'];
  if (opts.databaseUrl) args.push('--database', opts.databaseUrl);
  if (opts.localAgent === false) args.push('--no-local-agent');
  const child = spawn(POCKETSTACK_BIN, args, {
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
      // The benchmark measures the service, not this machine's size: its compute host reports room
      // for the scenarios' thousands of servers (Nova places by the host's vCPUs and memory times
      // the allocation ratios, and a 2-core machine holds 8 m1.tiny servers by Nova's defaults).
      POCKETSTACK_HOST_VCPUS: '8192',
      POCKETSTACK_HOST_MEMORY_MB: String(4 * 1024 * 1024),
      POCKETSTACK_HOST_DISK_GB: '65536',
      POCKETSTACK_DATAPLANE: opts.dataplane,
      POCKETSTACK_DATAPLANE_PREFIX: opts.prefix,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    if (opts.dataplane === 'netns' && opts.localAgent !== false) {
      // The data plane outlives its server by design; the benchmark's is removed with it.
      const down = spawn(POCKETSTACK_BIN, ['dataplane', 'down', '--prefix', opts.prefix, '--data-dir', dir], { stdio: 'ignore' });
      await new Promise<void>((r) => down.once('exit', () => r()));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (!out.includes('PocketStack is up')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`server did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const token = await passwordToken(`http://127.0.0.1:${ports.identity}`, 'admin', password, 'admin');
  return {
    pid: child.pid!,
    dir,
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
    identityUrl: `http://127.0.0.1:${ports.identity}`,
    networkUrl: `http://127.0.0.1:${ports.network}`,
    computeUrl: `http://127.0.0.1:${ports.compute}`,
    imageUrl: `http://127.0.0.1:${ports.image}`,
    loadBalancerUrl: `http://127.0.0.1:${ports.loadBalancer}`,
    token,
    stop,
  };
}
