/**
 * A host as `pocketstack agent --host NAME` registers it, minus the data plane: its nova-compute
 * (service, node capacity, heartbeats: startComputeHost) and its Linux bridge agent reporting
 * what `agent` reports (hostAgentReports' L2 entry), heartbeating too — ML2 binds ports only on a
 * host whose L2 agent is alive (core/network/binding.ts), so a compute host without one would
 * fail every binding, as in Neutron.
 */
import { type ComputeHost, type HostCapacity, startComputeHost } from '../../src/core/compute/nodes.js';
import { hostAgentReports } from '../../src/core/network/agentreports.js';
import type { TestCloud } from './cloud.js';

/** Well within agent_down_time (75 s): the agent stays alive for as long as the test runs. */
const HEARTBEAT_MS = 10_000;

export async function startAgentHost(tc: TestCloud, host: string, capacity: HostCapacity): Promise<ComputeHost> {
  const { agents, network } = tc.cloud.services;
  const report = async (start: boolean) => {
    const l2 = (await hostAgentReports(network.uow.store.db, agents, host, 'noop')).filter((r) => r.kind === 'l2');
    await agents.report(host, l2, start);
  };
  await report(true);
  const compute = await startComputeHost(network.uow, { host, capacity });
  const timer = setInterval(() => void report(false).catch(() => undefined), HEARTBEAT_MS);
  timer.unref();
  return {
    host,
    stop: () => {
      clearInterval(timer);
      compute.stop();
    },
  };
}
