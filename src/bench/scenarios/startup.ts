import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort, freeServicePorts, servicePortEnv } from '../../util/ports.js';
import type { BenchContext, Result, Scenario } from '../scenario.js';
import { round } from '../stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Start {
  /** From spawning the command until the Network API answered its first request. */
  firstAnswerMs: number;
  /** The server's own "PocketStack is up in … ms" line and its start-up breakdown. */
  upLine: string;
}

/**
 * Start a PocketStack the way a user does (`npm start` or `bin/pocketstack serve`) on fresh ports,
 * time it until the Network API answers `GET /`, then stop it. Its own process group, so SIGTERM
 * reaches the server under npm's shell too.
 */
async function timeStart(how: 'npm start' | 'serve', dataDir: string): Promise<Start> {
  const ports = await freeServicePorts();
  const args = ['--data-dir', dataDir, '--log-level', 'warn'];
  const env = { ...process.env, ...servicePortEnv(ports), POCKETSTACK_DASHBOARD_PORT: String(await freePort()), POCKETSTACK_ADMIN_PASSWORD: 'bench-admin' };
  const t0 = performance.now();
  const child: ChildProcess =
    how === 'serve'
      ? spawn(join(ROOT, 'bin', 'pocketstack'), ['serve', ...args], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('npm', ['start', '--silent', '--', ...args], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const deadline = t0 + 120_000;
    for (;;) {
      if (child.exitCode !== null || performance.now() > deadline) throw new Error(`${how} did not answer:\n${out}`);
      const answered = await request(`http://127.0.0.1:${ports.network}/`, { headersTimeout: 5000 }).then(
        async (res) => {
          await res.body.dump();
          return true;
        },
        () => false,
      );
      if (answered) break;
      await sleep(5);
    }
    const firstAnswerMs = performance.now() - t0;
    // The summary is printed once the data plane has started too, just after the APIs answer.
    while (!/PocketStack is up.*\n.*\n/.test(out) && child.exitCode === null && performance.now() < deadline) await sleep(10);
    const up = /PocketStack is up in (\d+) ms[^\n]*\n\s*start-up\s+([^\n]*)/.exec(out);
    return { firstAnswerMs, upLine: up ? `up in ${up[1]} ms: ${up[2]}` : 'no start-up line' };
  } finally {
    if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
    await exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/**
 * Start-up as a user meets it: `npm start` on an already-built tree (the build finds nothing to
 * do), and `pocketstack serve` on a new data directory (migrations, bootstrap, the cirros image)
 * and on an existing one, each until the Network API answers its first request. Starts are
 * interleaved over the rounds so the machine's other load touches each kind alike.
 */
const startupScenario: Scenario = {
  name: 'startup',
  description: 'npm start on a built tree, pocketstack serve on a new and an existing data directory → first answer',
  async run(ctx: BenchContext): Promise<Result[]> {
    if (ctx.pid === undefined) {
      ctx.log('  skipped: measures starting PocketStack itself (no --url)');
      return [];
    }
    const rounds = ctx.quick ? 1 : 3;
    const kinds = ['serve, new data directory', 'serve, existing data directory', 'npm start, built tree, existing data directory'] as const;
    const goals: Record<(typeof kinds)[number], string> = {
      'serve, new data directory': '< 2000',
      'serve, existing data directory': '< 1000',
      'npm start, built tree, existing data directory': '< 2000',
    };
    const samples = new Map(kinds.map((k) => [k, [] as Start[]]));
    const dirs: string[] = [];
    try {
      for (let r = 0; r < rounds; r++) {
        const dir = mkdtempSync(join(tmpdir(), 'pocketstack-bench-start-'));
        dirs.push(dir);
        for (const kind of kinds) {
          const s = await timeStart(kind.startsWith('npm') ? 'npm start' : 'serve', dir);
          samples.get(kind)?.push(s);
          ctx.log(`  round ${r + 1} ${kind}: first answer after ${Math.round(s.firstAnswerMs)} ms (${s.upLine})`);
        }
      }
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
    return kinds.map((kind) => {
      const list = samples.get(kind) ?? [];
      const ms = list.map((s) => s.firstAnswerMs);
      const mid = list.find((s) => s.firstAnswerMs === median(ms));
      return {
        scenario: this.name,
        metric: `${kind} → first answer`,
        value: round(median(ms), 0),
        unit: `ms (median of ${ms.length}, ${round(Math.min(...ms), 0)}–${round(Math.max(...ms), 0)})`,
        goal: goals[kind],
        note: mid?.upLine,
      };
    });
  },
};

export const startupScenarios: Scenario[] = [startupScenario];
