import { join } from 'node:path';
import { expect, onTestFailed } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import type { Config } from '../../src/config.js';
import type { LabHost } from '../../src/lab/lab.js';
import { LabStack, buildLabStack } from '../../src/lab/stack.js';
import { type TestCloud, serviceClients, startCloud } from './cloud.js';
import { eventually } from './dataplane.js';
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
  opts: { name: string; agentEnv?: Record<string, string>; agentExtraArgs?: (h: LabHost) => string[]; config?: Partial<Config>; adminUrl: string },
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
      agentExtraArgs: opts.agentExtraArgs,
    });
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
  return { lab: stack as TestLab, stop };
}

/**
 * Servers on named lab hosts, as the lab suites make them: `boot` forces a host (Nova's
 * `nova:<host>`), `active` waits for ACTIVE (failing with the fault), `guestAddress` for the guest
 * to have configured `ip` (by DHCP: the machine's init asks for it).
 */
export function labServers(server: TestCloud) {
  const nova = serviceClients(server, 'compute').then((c) => c.admin);
  const image = serviceClients(server, 'image').then((c) => c.admin);
  return {
    async boot(name: string, network: string, host: string): Promise<string> {
      const imageRef = (await (await image).get('/v2/images')).body.images[0].id;
      const res = await (await nova).post('/v2.1/servers', {
        server: { name, flavorRef: '1', imageRef, networks: [{ uuid: network }], availability_zone: `nova:${host}` },
      });
      expect(res.status).toBe(202);
      return res.body.server.id as string;
    },
    async active(id: string) {
      const n = await nova;
      const s = await eventually(
        async () => (await n.get(`/v2.1/servers/${id}`)).body.server,
        (x) => x?.status === 'ACTIVE' || x?.status === 'ERROR',
        90_000,
      );
      expect(s.status, JSON.stringify(s.fault ?? null)).toBe('ACTIVE');
      return s;
    },
    guestAddress: (ns: string, ip: string) =>
      eventually(
        async () => (await run('ip', ['-n', ns, '-o', '-4', 'addr', 'show'], { allowFail: true })).stdout,
        (out) => out.includes(` ${ip}/`),
        40_000,
      ),
  };
}

export type LabServers = ReturnType<typeof labServers>;

/**
 * Call inside a test: when it fails, each host agent's own output (its warnings and errors)
 * goes to the test's stderr, which CI keeps, so a failure on a lab says what the agents saw.
 */
export function showAgentsOnFailure(lab: TestLab): void {
  onTestFailed(() => {
    for (const a of lab.agents) process.stderr.write(`--- agent ${a.host.name}:\n${a.output() || '(nothing)\n'}`);
  });
}
