import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { teardown } from '../dataplane/netns/down.js';
import { Names } from '../dataplane/netns/names.js';
import { type ScratchDatabase, scratchDatabase } from '../store/scratch.js';
import { type LabAgent, startLabAgent } from './agents.js';
import { type LabHost, labDown, labHosts, labUp } from './lab.js';

/** The API server a lab stack runs its hosts' agents against (in-process for tests, a process for the benchmark). */
export interface LabServer {
  stop(): Promise<unknown>;
}

export interface LabStackOptions<S extends LabServer> {
  hosts: number;
  /** A PostgreSQL server URL on which a database of the stack's own is made (dropped on removal). */
  adminUrl: string;
  /** Prefix of that database's name and of the data directory's. */
  name: string;
  /** Start the API-only server (`serve --no-local-agent`) on the stack's database. */
  server(databaseUrl: string): Promise<S>;
  /** How pocketstack runs here (bin/pocketstack, or node with tsx and src/cli/main.ts). */
  agentCommand: string[];
  agentCwd?: string;
  agentEnv?: Record<string, string>;
  /** Arguments a host's agent gets after the lab's own (a later option wins: a host mapped otherwise). */
  agentExtraArgs?: (h: LabHost) => string[];
  /** Remove the lab hosts' data planes left by an earlier run before building (tests; the benchmark refuses instead). */
  clearFirst?: boolean;
}

/**
 * Simulated hosts (`pocketstack lab hosts N`), an API-only server on a PostgreSQL database of
 * their own and each host's `pocketstack agent` with the arguments `lab hosts` prints: the set-up
 * the lab e2e suites and the benchmark's `lab` scenario share. `remove()` takes everything down
 * in reverse order, each step even when another failed, and is safe to call twice or on a stack
 * that was only partly built.
 */
export class LabStack<S extends LabServer> {
  db?: ScratchDatabase;
  dataDir = '';
  hosts: LabHost[] = [];
  server?: S;
  agents: LabAgent[] = [];
  private removed?: Promise<string[]>;

  constructor(private readonly count: number) {}

  /** A host's data directory (where its agent keeps its daemons' files). */
  hostDir(h: LabHost): string {
    return join(this.dataDir, 'lab', h.name);
  }

  /** Resolves to what could not be removed (one line each); empty when all went. */
  remove(): Promise<string[]> {
    this.removed ??= this.removeOnce();
    return this.removed;
  }

  private async removeOnce(): Promise<string[]> {
    const failures: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        failures.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    for (const a of this.agents) await step(`agent ${a.host.name}`, () => a.stop());
    // Every lab host's prefix, whether or not its agent started (it may have built part). The
    // namespaces go with their processes (keepalived and dnsmasq included).
    for (const h of labHosts(this.count)) {
      await step(`data plane of ${h.name}`, () => teardown(new Names(h.prefix), this.dataDir ? { dataDir: this.hostDir(h) } : {}));
    }
    await step('lab', () => labDown());
    await step('server', async () => this.server?.stop());
    await step('data directory', async () => this.dataDir && rmSync(this.dataDir, { recursive: true, force: true }));
    await step('database', async () => this.db?.drop());
    return failures;
  }
}

/**
 * Build a lab stack into `stack` (so that a failure half-way leaves what was built there for
 * `remove()`): database, data directory, lab hosts, server, then the agents one by one.
 */
export async function buildLabStack<S extends LabServer>(stack: LabStack<S>, opts: LabStackOptions<S>): Promise<LabStack<S>> {
  if (opts.clearFirst) {
    await labDown();
    for (const h of labHosts(opts.hosts)) await teardown(new Names(h.prefix));
  }
  stack.db = await scratchDatabase(opts.adminUrl, opts.name);
  stack.dataDir = mkdtempSync(join(tmpdir(), `${opts.name.replace(/_/g, '-')}-`));
  stack.hosts = (await labUp(opts.hosts)).hosts;
  stack.server = await opts.server(stack.db.url);
  for (const h of stack.hosts) {
    stack.agents.push(
      await startLabAgent(opts.agentCommand, h, stack.db.url, stack.dataDir, { cwd: opts.agentCwd, env: opts.agentEnv, extraArgs: opts.agentExtraArgs?.(h) }),
    );
  }
  return stack;
}
