/**
 * os-hypervisors: the compute node of each nova-compute service — the capacity its host reported
 * (nodes.ts: this machine's for `serve`, each agent's own for `pocketstack agent --host`), and
 * what is allocated of it (placement.ts: the servers on it and those moving off it). The API
 * server's own node has id 1 (its uuid from 2.53); the others their service's id.
 */
import { loadavg, uptime } from 'node:os';
import type { Store } from '../../store/db.js';
import type { ComputeServicesTable, ServersTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import { novaBadRequest, novaNotFound } from './errors.js';
import { adminOnly } from './policy.js';
import { type ComputeServices, serviceIsUp } from './services.js';
import { computeNodes } from './nodes.js';
import { RESERVED_HOST_MEMORY_MB, hostUsage } from './placement.js';
import { stableUuid } from './uuids.js';

export interface Hypervisor {
  id: number;
  uuid: string;
  hostname: string;
  host: string;
  vcpus: number;
  memoryMb: number;
  localGb: number;
  vcpusUsed: number;
  /** What servers use, plus the 512 MB Nova reserves for the host (reserved_host_memory_mb). */
  memoryMbUsed: number;
  localGbUsed: number;
  runningVms: number;
  service: ComputeServicesTable;
  up: boolean;
  servers: Array<{ name: string; uuid: string }>;
}

export interface HypervisorStatistics {
  count: number;
  vcpus: number;
  memory_mb: number;
  local_gb: number;
  vcpus_used: number;
  memory_mb_used: number;
  local_gb_used: number;
  free_ram_mb: number;
  free_disk_gb: number;
  current_workload: number;
  running_vms: number;
  disk_available_least: number;
}

/** `uptime`'s line, as libvirt's get_host_uptime returns it. */
export function hostUptime(): string {
  const t = new Date();
  const hhmmss = t.toTimeString().slice(0, 8);
  const up = Math.floor(uptime());
  const days = Math.floor(up / 86400);
  const h = Math.floor((up % 86400) / 3600);
  const m = Math.floor((up % 3600) / 60);
  const since = `${days > 0 ? `${days} day${days === 1 ? '' : 's'}, ` : ''}${String(h).padStart(2, ' ')}:${String(m).padStart(2, '0')}`;
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
  return ` ${hhmmss} up ${since},  1 user,  load average: ${load}`;
}

/** A compute node's uuid: stable for its host name. */
export const nodeUuid = (host: string) => stableUuid('compute-node', host);

export class Hypervisors {
  constructor(
    private readonly store: Store,
    private readonly services: ComputeServices,
  ) {}

  /** Every compute node: one per nova-compute service that reported one (a deleted service takes its node along). */
  private async nodes(withServers: boolean): Promise<Hypervisor[]> {
    const svcs = (await this.services.all()).filter((s) => s.binary === 'nova-compute');
    const nodes = await computeNodes(this.store.db);
    const usage = await hostUsage(this.store.db);
    const out: Hypervisor[] = [];
    for (const service of svcs) {
      const node = nodes.get(service.host);
      if (!node) continue;
      const servers: ServersTable[] = withServers
        ? await this.store.db.selectFrom('servers').selectAll().where('host', '=', service.host).orderBy('internal_id').execute()
        : [];
      const used = usage.get(service.host);
      out.push({
        id: service.host === this.services.hostname ? 1 : service.id,
        uuid: nodeUuid(service.host),
        hostname: service.host,
        host: service.host,
        vcpus: node.vcpus,
        memoryMb: node.memory_mb,
        localGb: node.local_gb,
        vcpusUsed: used?.vcpus ?? 0,
        memoryMbUsed: (used?.memoryMb ?? 0) + RESERVED_HOST_MEMORY_MB,
        localGbUsed: used?.diskGb ?? 0,
        runningVms: used?.instances ?? 0,
        service,
        up: serviceIsUp(service),
        servers: withServers ? servers.map((s) => ({ name: `instance-${s.internal_id.toString(16).padStart(8, '0')}`, uuid: s.id })) : [],
      });
    }
    return out;
  }

  async list(ctx: RequestContext, o: { detail: boolean; pattern?: string; withServers?: boolean; marker?: string; limit?: number; byUuid: boolean }) {
    adminOnly(ctx, `os_compute_api:os-hypervisors:${o.detail ? 'list-detail' : 'list'}`);
    let nodes = await this.nodes(o.withServers ?? false);
    if (o.pattern !== undefined) {
      nodes = nodes.filter((n) => n.hostname.includes(o.pattern!));
      if (!nodes.length) throw novaNotFound(`No hypervisor matching '${o.pattern}' could be found.`);
      return nodes;
    }
    if (o.marker !== undefined) {
      const at = nodes.findIndex((n) => (o.byUuid ? n.uuid : String(n.id)) === o.marker);
      if (at < 0) throw novaBadRequest(`marker [${o.marker}] not found`);
      nodes = nodes.slice(at + 1);
    }
    if (o.limit !== undefined) nodes = nodes.slice(0, o.limit);
    return nodes;
  }

  /** One hypervisor by id (an integer before 2.53, a uuid from then). */
  async show(ctx: RequestContext, id: string, o: { byUuid: boolean; withServers?: boolean; policy?: string }): Promise<Hypervisor> {
    adminOnly(ctx, `os_compute_api:os-hypervisors:${o.policy ?? 'show'}`);
    if (o.byUuid && !/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(id)) throw novaBadRequest(`Invalid uuid ${id}`);
    const node = (await this.nodes(o.withServers ?? false)).find((n) => (o.byUuid ? n.uuid === id.toLowerCase() : String(n.id) === id.trim()));
    if (!node) throw novaNotFound(`Hypervisor with ID '${id}' could not be found.`);
    return node;
  }

  /** /os-hypervisors/{pattern}/search and …/servers (before 2.53). */
  async search(ctx: RequestContext, pattern: string, withServers: boolean): Promise<Hypervisor[]> {
    adminOnly(ctx, `os_compute_api:os-hypervisors:${withServers ? 'servers' : 'search'}`);
    const nodes = (await this.nodes(withServers)).filter((n) => n.hostname.includes(pattern));
    if (!nodes.length) throw novaNotFound(`No hypervisor matching '${pattern}' could be found.`);
    return nodes;
  }

  /** /os-hypervisors/statistics (before 2.88): sums over the compute nodes. */
  async statistics(ctx: RequestContext): Promise<HypervisorStatistics> {
    adminOnly(ctx, 'os_compute_api:os-hypervisors:statistics');
    const nodes = await this.nodes(false);
    const sum = (f: (n: Hypervisor) => number) => nodes.reduce((a, n) => a + f(n), 0);
    return {
      count: nodes.length,
      vcpus: sum((n) => n.vcpus),
      memory_mb: sum((n) => n.memoryMb),
      local_gb: sum((n) => n.localGb),
      vcpus_used: sum((n) => n.vcpusUsed),
      memory_mb_used: sum((n) => n.memoryMbUsed),
      local_gb_used: sum((n) => n.localGbUsed),
      free_ram_mb: sum((n) => n.memoryMb - n.memoryMbUsed),
      free_disk_gb: sum((n) => n.localGb - n.localGbUsed),
      current_workload: 0,
      running_vms: sum((n) => n.runningVms),
      disk_available_least: sum((n) => n.localGb - n.localGbUsed),
    };
  }
}
