/** os-hypervisors: the one hypervisor is this machine, with its real CPUs and memory, and what servers use of it. */
import { cpus, totalmem } from 'node:os';
import type { Store } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { novaNotFound } from './errors.js';
import { adminOnly } from './policy.js';

export interface Hypervisor {
  id: number;
  hostname: string;
  vcpus: number;
  memoryMb: number;
  vcpusUsed: number;
  /** What servers use, plus the 512 MB Nova reserves for the host (reserved_host_memory_mb). */
  memoryMbUsed: number;
  localGbUsed: number;
  runningVms: number;
}

export class Hypervisors {
  constructor(
    private readonly store: Store,
    private readonly hostname: string,
  ) {}

  async list(ctx: RequestContext): Promise<Hypervisor[]> {
    adminOnly(ctx, 'os_compute_api:os-hypervisors:list');
    return [await this.thisHost()];
  }

  async detail(ctx: RequestContext): Promise<Hypervisor[]> {
    adminOnly(ctx, 'os_compute_api:os-hypervisors:list-detail');
    return [await this.thisHost()];
  }

  async show(ctx: RequestContext, id: string): Promise<Hypervisor> {
    adminOnly(ctx, 'os_compute_api:os-hypervisors:show');
    if (id !== '1') throw novaNotFound(`Hypervisor with ID '${id}' could not be found.`);
    return this.thisHost();
  }

  private async thisHost(): Promise<Hypervisor> {
    const servers = await this.store.db.selectFrom('servers').select(['flavor']).where('host', '=', this.hostname).execute();
    const used = servers.map((s) => JSON.parse(s.flavor) as { vcpus: number; ram: number; disk: number });
    return {
      id: 1,
      hostname: this.hostname,
      vcpus: cpus().length,
      memoryMb: Math.floor(totalmem() / 1024 / 1024),
      vcpusUsed: used.reduce((a, f) => a + f.vcpus, 0),
      memoryMbUsed: used.reduce((a, f) => a + f.ram, 0) + 512,
      localGbUsed: used.reduce((a, f) => a + f.disk, 0),
      runningVms: used.length,
    };
  }
}
