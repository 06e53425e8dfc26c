/**
 * Views of where servers run (nova/api/openstack/compute/{availability_zone,hypervisors,services,
 * aggregates,hosts}.py): zones, hypervisors, services, aggregates and os-hosts, per microversion.
 */
import type { Aggregate } from '../../core/compute/aggregates.js';
import type { Hypervisor, HypervisorStatistics } from '../../core/compute/hypervisors.js';
import { hostUptime } from '../../core/compute/hypervisors.js';
import type { Service } from '../../core/compute/services.js';
import type { ZoneDetail } from '../../core/compute/zones.js';
import type { ApiVersion } from './version.js';

/** str() of a naive datetime, as Nova's views print them: "2015-03-30T05:26:04.000000". */
export const naiveTime = (iso: string | null) => (iso ? iso.replace(/Z$/, '').replace(/\.(\d{3})$/, '.$1000') : null);

/** os-availability-zone/detail. */
export function zonesDetailView(zones: ZoneDetail[]) {
  return {
    availabilityZoneInfo: zones.map((z) => ({
      zoneName: z.name,
      zoneState: { available: z.available },
      hosts: z.hosts
        ? Object.fromEntries(
            z.hosts.map((h) => [
              h.host,
              Object.fromEntries(h.services.map((s) => [s.binary, { available: s.available, active: s.active, updated_at: naiveTime(s.updatedAt) }])),
            ]),
          )
        : null,
    })),
  };
}

/** A hypervisor (Nova's _view_hypervisor): 2.53 ids are uuids; 2.88 drops the statistics and adds uptime. */
export function hypervisorView(v: ApiVersion, h: Hypervisor, detail: boolean, withServers = false): Record<string, unknown> {
  const byUuid = v.gte('2.53');
  const out: Record<string, unknown> = {
    id: byUuid ? h.uuid : h.id,
    hypervisor_hostname: h.hostname,
    state: h.up ? 'up' : 'down',
    status: h.service.disabled ? 'disabled' : 'enabled',
  };
  if (detail) {
    Object.assign(out, {
      // Instances here are network namespaces driven by PocketStack itself, not a hypervisor's VMs.
      hypervisor_type: 'PocketStack',
      hypervisor_version: 1,
      host_ip: '127.0.0.1',
      service: { id: byUuid ? h.service.uuid : h.service.id, host: h.host, disabled_reason: h.service.disabled_reason },
    });
    if (!v.gte('2.88')) {
      Object.assign(out, {
        vcpus: h.vcpus,
        memory_mb: h.memoryMb,
        local_gb: h.localGb,
        vcpus_used: h.vcpusUsed,
        memory_mb_used: h.memoryMbUsed,
        local_gb_used: h.localGbUsed,
        free_ram_mb: h.memoryMb - h.memoryMbUsed,
        free_disk_gb: h.localGb - h.localGbUsed,
        current_workload: 0,
        running_vms: h.runningVms,
        disk_available_least: h.localGb - h.localGbUsed,
        cpu_info: v.gte('2.28') ? {} : '{}',
      });
    } else {
      out.uptime = hostUptime();
    }
  }
  if (h.servers.length) out.servers = h.servers;
  else if (withServers && v.gte('2.75')) out.servers = [];
  return out;
}

export function hypervisorStatisticsView(s: HypervisorStatistics) {
  return { hypervisor_statistics: s };
}

/** os-services: 2.11 forced_down, 2.53 uuid ids. */
export function serviceView(v: ApiVersion, s: Service) {
  const out: Record<string, unknown> = {
    binary: s.row.binary,
    host: s.row.host,
    id: v.gte('2.53') ? s.row.uuid : s.row.id,
    zone: s.zone,
    status: s.row.disabled ? 'disabled' : 'enabled',
    state: s.up ? 'up' : 'down',
    updated_at: naiveTime(s.row.updated_at),
    disabled_reason: s.row.disabled_reason,
  };
  if (v.gte('2.11')) out.forced_down = s.row.forced_down === 1;
  return out;
}

/** An aggregate as its fields list (2.41: uuid). */
export function aggregateView(v: ApiVersion, a: Aggregate, opts: { create?: boolean } = {}) {
  const out: Record<string, unknown> = {
    availability_zone: a.availabilityZone,
    created_at: naiveTime(a.row.created_at),
    deleted: false,
    deleted_at: null,
    id: a.row.id,
    name: a.row.name,
    updated_at: naiveTime(a.row.updated_at),
  };
  if (!opts.create) {
    out.hosts = a.hosts;
    out.metadata = a.metadata;
  }
  if (v.gte('2.41')) out.uuid = a.row.uuid;
  return out;
}
