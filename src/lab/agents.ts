import { type ChildProcess, spawn } from 'node:child_process';
import { type LabHost, agentArgs } from './lab.js';

/** One lab host's `pocketstack agent`, run as a child of the caller (the benchmark, a test). */
export interface LabAgent {
  host: LabHost;
  child: ChildProcess;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then wait for it to exit (its data plane stays: `teardown` removes it). */
  stop(): Promise<void>;
}

/**
 * Start host `h`'s agents with the arguments `pocketstack lab hosts` prints (agentArgs), `command`
 * being how pocketstack runs here (bin/pocketstack, or node with tsx and src/cli/main.ts), and
 * resolve once it says they are up. An agent that exits or stays silent for a minute is an error.
 */
export async function startLabAgent(
  command: string[],
  h: LabHost,
  databaseUrl: string,
  dataDir: string,
  opts: { cwd?: string; env?: Record<string, string>; extraArgs?: string[] } = {},
): Promise<LabAgent> {
  const child = spawn(command[0], [...command.slice(1), ...agentArgs(h, databaseUrl, dataDir), ...(opts.extraArgs ?? []), '--log-level', 'warn'], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 60_000;
  while (!/agents of host .* are up/.test(out)) {
    if (child.exitCode !== null) throw new Error(`agent ${h.name} exited: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`agent ${h.name} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: h, child, output: () => out, stop };
}
