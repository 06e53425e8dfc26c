import { readFileSync } from 'node:fs';
import type { BenchClient } from './client.js';

/** One measured figure. */
export interface Result {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  /** The goal the README states, e.g. ">= 1000" or "<= 2". */
  goal?: string;
  /** What the real service measured on the same kind of machine, for comparison. */
  reference?: string;
  note?: string;
}

export interface BenchContext {
  client: BenchClient;
  /** Keystone's endpoint, when known (scenarios that act as a second project need it). */
  identityUrl?: string;
  /** Nova and Glance endpoints, when known (the compute and netns scenarios need them). */
  computeUrl?: string;
  imageUrl?: string;
  /** Octavia endpoint, when known (the load-balancer scenarios need it). */
  loadBalancerUrl?: string;
  /** Server process id when the benchmark started the server itself (RSS is read from /proc). */
  pid?: number;
  /** The server's JS heap now, when the benchmark started the server itself (a Node diagnostic report). */
  heap?: () => Promise<HeapFigures>;
  /** `--quick`: smaller counts for a smoke run. */
  quick: boolean;
  /** Scale test up to this many ports (0 skips it). */
  scalePorts: number;
  log(msg: string): void;
}

export interface Scenario {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Result[]>;
}

/** V8's heap as a Node diagnostic report gives it, in MB. */
export interface HeapFigures {
  usedMb: number;
  totalMb: number;
}

/** Resident set size of a process in MB, from /proc. */
export async function rssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/**
 * User + system CPU seconds of some processes (those gone count nothing), from /proc; with
 * `children`, also what their children that have ended and been waited for used (cutime, cstime:
 * the server's `haproxy -c` checks and the HAProxy processes a reload replaced).
 */
export function cpuSeconds(pids: number[], children = false): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
    } catch {
      /* gone */
    }
  }
  return ticks / 100;
}
