/**
 * Availability zones (nova/availability_zones.py): a compute host's zone is the one its
 * aggregates define, else `nova`; the other services are in `internal`. A zone is available when
 * an enabled service is in it.
 */
import type { ComputeServicesTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { DEFAULT_AZ, INTERNAL_AZ, hostZones } from './aggregates.js';
import { adminOnly } from './policy.js';
import { type ComputeServices, serviceIsUp } from './services.js';

export interface ZoneService {
  binary: string;
  available: boolean;
  active: boolean;
  updatedAt: string | null;
}

/** A zone as os-availability-zone/detail lists it: each host with the Nova services it runs. */
export interface ZoneDetail {
  name: string;
  available: boolean;
  /** null for unavailable zones. */
  hosts: Array<{ host: string; services: ZoneService[] }> | null;
}

export class AvailabilityZones {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly services: ComputeServices,
  ) {}

  /** Every service with its zone (set_availability_zones). */
  private async zoned(): Promise<Array<{ svc: ComputeServicesTable; zone: string }>> {
    const zones = await hostZones(this.uow.store.db);
    return (await this.services.all()).map((svc) => ({
      svc,
      zone: svc.binary === 'nova-compute' ? (zones.get(svc.host) ?? DEFAULT_AZ) : INTERNAL_AZ,
    }));
  }

  /** get_availability_zones: available zones (of enabled services) and the others. */
  private async split(): Promise<{ available: string[]; unavailable: string[] }> {
    const all = await this.zoned();
    const available = [...new Set(all.filter((z) => !z.svc.disabled).map((z) => z.zone))].sort();
    const unavailable = [...new Set(all.filter((z) => z.svc.disabled).map((z) => z.zone))].filter((z) => !available.includes(z)).sort();
    return { available, unavailable };
  }

  /** GET /os-availability-zone: anyone; the internal zone is left out. */
  async list(): Promise<Array<{ name: string; available: boolean }>> {
    const { available, unavailable } = await this.split();
    return [
      ...available.filter((z) => z !== INTERNAL_AZ).map((name) => ({ name, available: true })),
      ...unavailable.filter((z) => z !== INTERNAL_AZ).map((name) => ({ name, available: false })),
    ];
  }

  /** Zones a server may be booted in (available, not internal). */
  async bootable(): Promise<string[]> {
    return (await this.list()).filter((z) => z.available).map((z) => z.name);
  }

  /** GET /os-availability-zone/detail (admins): every zone with its hosts and their services. */
  async detail(ctx: RequestContext): Promise<ZoneDetail[]> {
    adminOnly(ctx, 'os_compute_api:os-availability-zone:detail');
    const all = await this.zoned();
    const { available, unavailable } = await this.split();
    const out: ZoneDetail[] = available.map((name) => {
      const hosts = new Map<string, ZoneService[]>();
      for (const { svc, zone } of all) {
        if (zone !== name || svc.disabled) continue;
        const list = hosts.get(svc.host) ?? [];
        list.push({ binary: svc.binary, available: serviceIsUp(svc), active: true, updatedAt: svc.updated_at });
        hosts.set(svc.host, list);
      }
      return { name, available: true, hosts: [...hosts].map(([host, services]) => ({ host, services })) };
    });
    for (const name of unavailable) out.push({ name, available: false, hosts: null });
    return out;
  }
}
