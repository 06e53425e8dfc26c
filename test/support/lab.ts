import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import { LabStack, buildLabStack } from '../../src/lab/stack.js';
import { type TestCloud, startCloud } from './cloud.js';
import { lockPublicNetwork } from './hostlock.js';

const REPO = join(import.meta.dirname, '..', '..');

export type TestLab = LabStack<TestCloud> & { server: TestCloud };

/**
 * A lab of `n` simulated hosts for an e2e suite: the host lock (the lab, `pslab` and its hosts'
 * prefixes, is one per machine, so other worktrees' lab suites take turns), what an earlier run
 * left removed, then the shared lab stack (src/lab/stack.ts) with this process's API-only netns
 * server and each host's agent run from the sources. `stop` removes it all and fails with what
 * could not be removed.
 */
export async function startTestLab(
  n: number,
  opts: { name: string; agentEnv?: Record<string, string>; config?: Partial<Config>; adminUrl: string },
): Promise<{ lab: TestLab; stop(): Promise<void> }> {
  const unlock = await lockPublicNetwork();
  const stack = new LabStack<TestCloud>(n);
  const stop = async () => {
    const failures = await stack.remove();
    unlock();
    if (failures.length) throw new Error(`lab clean-up: ${failures.join('; ')}`);
  };
  try {
    await buildLabStack(stack, {
      hosts: n,
      adminUrl: opts.adminUrl,
      name: opts.name,
      clearFirst: true,
      server: (databaseUrl) => startCloud({ config: { localAgent: false, dataplane: 'netns', databaseUrl, ...opts.config } }),
      agentCommand: [process.execPath, '--import', 'tsx', 'src/cli/main.ts'],
      agentCwd: REPO,
      agentEnv: opts.agentEnv,
    });
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
  return { lab: stack as TestLab, stop };
}
