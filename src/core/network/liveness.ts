/**
 * Whether an agent is alive: heard from within agent_down_time (neutron.common.utils
 * is_agent_down, Zed). The server's option is set once at start-up; the agents API and ML2's
 * port binding (binding.ts, which refuses dead agents) read it from here.
 */

/** agent_down_time default (seconds): an agent not heard from for longer is not alive. */
export const AGENT_DOWN_TIME_S = 75;

let downTimeS = AGENT_DOWN_TIME_S;

/** neutron.conf's agent_down_time (POCKETSTACK_AGENT_DOWN_TIME), set once at start-up. */
export function configureAgentDownTime(seconds: number): void {
  downTimeS = seconds;
}

/** Not older than agent_down_time (timeutils.is_older_than is strict). */
export function agentAlive(heartbeat: string, now = Date.now(), down = downTimeS): boolean {
  return now - Date.parse(heartbeat) <= down * 1000;
}

/**
 * The heartbeat before which an agent's resources move away (AgentSchedulerDbMixin
 * .agent_dead_limit_seconds: twice agent_down_time, so a slow agent is not stripped the moment
 * it shows dead). Both reschedulers, DHCP networks' and legacy routers', use it.
 */
export function deadSince(now: number, down = downTimeS): number {
  return now - 2 * down * 1000;
}
