import type { PortEventLog, PortRec, SgLogEvent, SgLogRec, SgLogSpec } from './model.js';

/**
 * Security-group logging (Neutron's `logging` service plugin with the agent's `log` extension),
 * as a pure plan: which filtered ports have which events logged, and by which log objects.
 *
 * The selection is neutron/services/logapi/common/db_api.py's: a log with `target_id` logs that
 * port; else with `resource_id` the ports in that group; else every port bound to a group of the
 * log's project. ACCEPT logs the first packet of each connection admitted by the rules of the
 * port's groups — only the `resource_id` group's rules when the log names one (_get_sg_rules);
 * DROP logs what the port's filter drops; ALL both. As the OVS driver's cookie per (port, action),
 * one event of one port carries every log object that selects it (`log_resource_ids`) and the
 * project of the first of them.
 */

export interface PortLogging {
  /** Groups whose rules' new connections are logged, and by which logs. */
  accept: (PortEventLog & { groups: Set<string> }) | null;
  drop: PortEventLog | null;
}

/** The NFLOG group the switch namespace's filter sends logged packets to (one reader per switch). */
export const SG_LOG_NFLOG_GROUP = 1;

/**
 * Neutron's [network_log] defaults, rate_limit 100 packets/s and burst_limit 25, set on the OVS
 * bridge's controller (one budget for all the agent's logging): here one hashlimit bucket, shared
 * by name by every logging rule of the switch namespace, spelled as iptables-save prints it.
 */
export const SG_LOG_LIMIT = '-m hashlimit --hashlimit-upto 100/sec --hashlimit-burst 25 --hashlimit-name ps-sglog';

/** The NFLOG prefix naming the event and the port (at most 63 bytes: a uuid and a word fit). */
export function sgLogPrefix(event: SgLogEvent, portId: string): string {
  return `${event} ${portId}`;
}

/** Ports (of `ports`, the filtered ones) → what is logged of them, for the enabled logs given. */
export function planSgLogging(logs: SgLogRec[], ports: PortRec[], groupProjects: Map<string, string>): Map<string, PortLogging> {
  const out = new Map<string, PortLogging>();
  const sorted = [...logs].sort((a, b) => a.id.localeCompare(b.id));
  for (const p of ports) {
    let accept: PortLogging['accept'] = null;
    let drop: PortLogging['drop'] = null;
    for (const log of sorted) {
      const selected = log.targetId
        ? log.targetId === p.id
        : log.resourceId
          ? p.securityGroups.includes(log.resourceId)
          : p.securityGroups.some((g) => groupProjects.get(g) === log.projectId);
      if (!selected) continue;
      if (log.event !== 'DROP') {
        accept ??= { logIds: [], projectId: log.projectId, groups: new Set() };
        accept.logIds.push(log.id);
        const groups = log.resourceId ? p.securityGroups.filter((g) => g === log.resourceId) : p.securityGroups;
        for (const g of groups) accept.groups.add(g);
      }
      if (log.event !== 'ACCEPT') {
        drop ??= { logIds: [], projectId: log.projectId };
        drop.logIds.push(log.id);
      }
    }
    if (accept || drop) out.set(p.id, { accept, drop });
  }
  return out;
}

export function sgLogSpec(ns: string, logging: Map<string, PortLogging>): SgLogSpec {
  const events: SgLogSpec['events'] = new Map();
  for (const [portId, l] of logging) {
    if (l.accept?.groups.size) events.set(sgLogPrefix('ACCEPT', portId), { event: 'ACCEPT', portId, logIds: l.accept.logIds, projectId: l.accept.projectId });
    if (l.drop) events.set(sgLogPrefix('DROP', portId), { event: 'DROP', portId, logIds: l.drop.logIds, projectId: l.drop.projectId });
  }
  return { ns, group: SG_LOG_NFLOG_GROUP, events };
}
