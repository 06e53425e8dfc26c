/** Availability zones: this slice has one (`nova`) for servers, and Nova's `internal` for its services. */
import type { RequestContext } from '../context.js';
import { adminOnly } from './policy.js';

export const AVAILABILITY_ZONE = 'nova';

/** A zone as os-availability-zone/detail lists it: each host with the Nova services it runs. */
export interface ZoneDetail {
  name: string;
  hosts: Array<{ host: string; services: string[] }>;
}

export class AvailabilityZones {
  constructor(private readonly hostname: string) {}

  /** Zones servers can be booted in (anyone may ask). */
  list(): string[] {
    return [AVAILABILITY_ZONE];
  }

  /** Every zone with its hosts and services: the services run on this machine. */
  detail(ctx: RequestContext): ZoneDetail[] {
    adminOnly(ctx, 'os_compute_api:os-availability-zone:detail');
    return [
      { name: 'internal', hosts: [{ host: this.hostname, services: ['nova-conductor', 'nova-scheduler'] }] },
      { name: AVAILABILITY_ZONE, hosts: [{ host: this.hostname, services: ['nova-compute'] }] },
    ];
  }
}
