/**
 * GET /servers/{id}/diagnostics (admins): what the compute host knows of an instance — its
 * state, uptime, CPUs, memory and NICs (2.48's standard form, or the driver's own before). Nova's
 * Diagnostics object only names the drivers it ships (libvirt …), so the driver field says
 * `libvirt` as Nova's own fake driver does; `hypervisor` says what runs the instance here.
 */
import type { RequestContext } from '../context.js';
import type { ComputeCore } from './core.js';
import { novaConflict } from './errors.js';
import { adminOnly } from './policy.js';
import { POWER } from './states.js';

const STATE: Record<number, string> = {
  [POWER.NOSTATE]: 'pending',
  [POWER.RUNNING]: 'running',
  [POWER.PAUSED]: 'paused',
  [POWER.SHUTDOWN]: 'shutdown',
  [POWER.CRASHED]: 'crashed',
  [POWER.SUSPENDED]: 'suspended',
};

export interface Diagnostics {
  state: string;
  driver: 'libvirt';
  hypervisor: string;
  hypervisor_os: string;
  uptime: number | null;
  config_drive: boolean;
  num_cpus: number;
  num_nics: number;
  num_disks: number;
  memory_details: { maximum: number; used: number | null };
  cpu_details: Array<{ id: number; time: number | null; utilisation: number | null }>;
  nic_details: Array<Record<string, string | number | null>>;
  disk_details: Array<Record<string, number | null>>;
}

export class ServerDiagnostics {
  constructor(private readonly core: ComputeCore) {}

  async get(ctx: RequestContext, id: string): Promise<Diagnostics> {
    const s = await this.core.get(ctx, id);
    adminOnly(ctx, 'os_compute_api:os-server-diagnostics');
    if (!s.row.host) throw novaConflict(`Instance ${id} is not ready`);
    const up = s.row.launched_at && s.row.power_state === POWER.RUNNING ? Math.floor((Date.now() - Date.parse(s.row.launched_at)) / 1000) : null;
    return {
      state: Object.hasOwn(STATE, s.row.power_state) ? STATE[s.row.power_state] : 'pending',
      driver: 'libvirt',
      hypervisor: this.core.opts.instanceHost ? 'pocketstack-netns' : 'pocketstack',
      hypervisor_os: 'linux',
      uptime: up,
      config_drive: s.row.config_drive !== '',
      num_cpus: s.flavor.vcpus,
      num_nics: s.ports.length,
      num_disks: 1,
      memory_details: { maximum: s.flavor.ram, used: null },
      cpu_details: Array.from({ length: s.flavor.vcpus }, (_, i) => ({ id: i, time: null, utilisation: null })),
      nic_details: s.ports.map((p) => ({
        mac_address: p.mac,
        rx_octets: null,
        rx_errors: null,
        rx_drop: null,
        rx_packets: null,
        rx_rate: null,
        tx_octets: null,
        tx_errors: null,
        tx_drop: null,
        tx_packets: null,
        tx_rate: null,
      })),
      disk_details: [{ read_bytes: null, read_requests: null, write_bytes: null, write_requests: null, errors_count: null }],
    };
  }
}
