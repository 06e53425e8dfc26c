/**
 * os-hosts (before 2.43, admins): the hosts of the enabled services with their zones, a host's
 * resources (total, used now, used by its servers, per project), and the host actions — which
 * the libvirt driver does not implement (enable/disable, maintenance, power: 501), as here.
 */
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { DEFAULT_AZ, INTERNAL_AZ, hostZones } from './aggregates.js';
import { novaNotFound, novaNotImplemented } from './errors.js';
import { computeNodes } from './nodes.js';
import { adminOnly } from './policy.js';
import type { ComputeServices } from './services.js';

export interface HostEntry {
  host_name: string;
  service: string;
  zone: string;
}

export interface HostResource {
  host: string;
  project: string;
  cpu: number;
  memory_mb: number;
  disk_gb: number;
}

const NOT_SUPPORTED = 'The requested functionality is not supported.';

export class OsHosts {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly services: ComputeServices,
  ) {}

  async list(ctx: RequestContext, zone?: string): Promise<HostEntry[]> {
    adminOnly(ctx, 'os_compute_api:os-hosts:list');
    const zones = await hostZones(this.uow.store.db);
    return (await this.services.all())
      .filter((s) => !s.disabled)
      .map((s) => ({
        host_name: s.host,
        service: s.topic ?? s.binary.replace(/^nova-/, ''),
        zone: s.binary === 'nova-compute' ? (zones.get(s.host) ?? DEFAULT_AZ) : INTERNAL_AZ,
      }))
      .filter((h) => !zone || h.zone === zone);
  }

  private async computeHost(host: string): Promise<void> {
    const svc = await this.services.compute(this.uow.store.db, host);
    if (!svc) throw novaNotFound(`Host '${host}' is not mapped to any cell`);
  }

  async show(ctx: RequestContext, host: string): Promise<HostResource[]> {
    adminOnly(ctx, 'os_compute_api:os-hosts:show');
    await this.computeHost(host);
    const servers = await this.uow.store.db.selectFrom('servers').select(['project_id', 'flavor']).where('host', '=', host).execute();
    const flavors = servers.map((s) => ({
      project: s.project_id,
      ...(JSON.parse(s.flavor) as { vcpus: number; ram: number; disk: number; ephemeral: number }),
    }));
    const sum = (list: typeof flavors) => ({
      cpu: list.reduce((a, f) => a + f.vcpus, 0),
      memory_mb: list.reduce((a, f) => a + f.ram, 0),
      disk_gb: list.reduce((a, f) => a + f.disk + (f.ephemeral ?? 0), 0),
    });
    const used = sum(flavors);
    // The host's compute node (what it reported: nodes.ts).
    const node = (await computeNodes(this.uow.store.db)).get(host);
    const out: HostResource[] = [
      { host, project: '(total)', cpu: node?.vcpus ?? 0, memory_mb: node?.memory_mb ?? 0, disk_gb: node?.local_gb ?? 0 },
      { host, project: '(used_now)', cpu: used.cpu, memory_mb: used.memory_mb + 512, disk_gb: used.disk_gb },
      { host, project: '(used_max)', ...used },
    ];
    for (const project of [...new Set(flavors.map((f) => f.project))]) {
      out.push({ host, project, ...sum(flavors.filter((f) => f.project === project)) });
    }
    return out;
  }

  /** PUT /os-hosts/{host} (status, maintenance_mode): the host must exist; the driver cannot. */
  async update(ctx: RequestContext, host: string): Promise<never> {
    adminOnly(ctx, 'os_compute_api:os-hosts:update');
    const svc = await this.services.compute(this.uow.store.db, host);
    if (!svc) throw novaNotFound(`Host ${host} could not be found.`);
    throw novaNotImplemented(NOT_SUPPORTED);
  }

  /** startup / shutdown / reboot of a host. */
  async power(ctx: RequestContext, host: string, action: 'start' | 'shutdown' | 'reboot'): Promise<never> {
    adminOnly(ctx, `os_compute_api:os-hosts:${action}`);
    const svc = await this.services.compute(this.uow.store.db, host);
    if (!svc) throw novaNotFound(`Host ${host} could not be found.`);
    throw novaNotImplemented(NOT_SUPPORTED);
  }
}
