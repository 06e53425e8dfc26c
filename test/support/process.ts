import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type ServicePorts, servicePortEnv } from '../../src/util/ports.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  identityUrl: string;
  networkUrl: string;
  output: () => string;
  /** SIGKILL: no shutdown code runs, as in a crash. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Run `pocketstack serve` from the sources (tsx) as a separate process and wait until it answers. */
export async function startServerProcess(dataDir: string, ports: ServicePorts, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--data-dir', dataDir, '--log-level', 'warn'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...servicePortEnv(ports),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!/PocketStack is up/.test(out)) {
    if (child.exitCode !== null) throw new Error(`server exited: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    identityUrl: `http://127.0.0.1:${ports.identity}`,
    networkUrl: `http://127.0.0.1:${ports.network}`,
    output: () => out,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
