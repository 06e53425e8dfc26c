import { spawn } from 'node:child_process';
import { TOOL_PATH } from '../../util/which.js';

/**
 * Running the kernel tools: argument vectors only, never a shell, so nothing from the API (names,
 * addresses, rules) can be interpreted as a command. Batches go in on stdin.
 */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    super(`${argv.join(' ')} exited ${result.code}: ${firstLines(result.stderr || result.stdout)}`);
  }
}

const firstLines = (s: string, n = 4): string => s.trim().split('\n').slice(0, n).join(' | ');

export interface RunOptions {
  input?: string;
  /** Resolve with the exit code instead of rejecting on a non-zero exit. */
  allowFail?: boolean;
  timeoutMs?: number;
}

/** Counts processes started, for the benchmark and tests (a pass that changes nothing is cheap). */
export const execStats = { spawned: 0 };

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  execStats.spawned++;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: TOOL_PATH, LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (result.code !== 0 && !opts.allowFail) reject(new CommandError([cmd, ...args], result));
      else resolve(result);
    });
    // A tool that exits early (bad batch line) closes stdin; the error is reported by 'close'.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Run `cmd` inside network namespace `ns` (`ip netns exec` also gives it that namespace's /sys). */
export function runIn(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}
