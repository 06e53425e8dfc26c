/**
 * The seam between Nova's control plane and whatever runs instances on this machine (the netns
 * data plane: an instance is a small machine — namespaces with its own root file system from
 * its image, limited by its flavor, configured by DHCP and the metadata service).
 *
 * - Desired state lives in the store: `readInstanceSpecs` is the one place an instance host reads
 *   it from (power running/stopped/paused/suspended, restart requests — reboots, rebuilds,
 *   rescues, resizes —, whether to boot the rescue image, user_data, personality files, its ports).
 * - The host reports what the machine really does through `InstanceReports.reportInstance` (ComputeService).
 * - Console output is a file per instance, `consoleLogPath(dataDir, id)`; the host appends to it,
 *   `os-getConsoleOutput` reads its tail.
 *
 * Without an instance host (the noop data plane) power changes complete at once and there is no
 * console output: the API says so honestly by returning an empty output.
 */
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Q } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import { decodeBase64Lenient } from '../../util/jsonschema.js';
import { handoverHomes } from './nodes.js';
import { type DesiredPower, TASK, VM } from './states.js';

export interface InstancePort {
  id: string;
  macAddress: string;
  networkId: string;
  adminStateUp: boolean;
  fixedIps: Array<{ subnetId: string; ipAddress: string }>;
}

/** The flavor an instance was booted with, as its host enforces it. */
export interface InstanceFlavor {
  name: string;
  vcpus: number;
  /** RAM, MiB. */
  ram: number;
  /** Root disk, GiB (0: no limit). */
  disk: number;
}

export interface InstanceSpec {
  id: string;
  name: string;
  hostname: string;
  projectId: string;
  /** The host it is scheduled to (servers.host): the one whose agent runs it. */
  host: string;
  /**
   * What the instance should be doing: running, stopped, or running but frozen — `paused` (Nova's
   * pause keeps the guest in memory) and `suspended` (saved to disk); a host freezes the
   * instance's control group for both and reports which.
   */
  power: DesiredPower;
  /**
   * Incremented for every restart asked for (reboot, rebuild, rescue, unrescue, resize, unshelve);
   * a host restarts the instance when it sees a higher number and reports the number it reached.
   */
  rebootSeq: number;
  /** Incremented by a rebuild: a host that booted a lower number starts from a fresh root file system. */
  rebuildSeq: number;
  /**
   * The image its root file system comes from: servers.image_id (a rebuild may change it), or the
   * shelved snapshot while an offloaded server is unshelved (Nova spawns from shelved_image_id).
   */
  imageId: string;
  /** Boot the rescue image (its id) instead, the instance's own disk kept beside it; null: not rescued. */
  rescueImageId: string | null;
  flavor: InstanceFlavor;
  /** The server asked for a config drive. */
  configDrive: boolean;
  /** Decoded user_data (the script cloud-init would run), or null. */
  userData: Buffer | null;
  /** Personality files (≤ 2.56): absolute paths in the guest and their decoded contents. */
  personality: Array<{ path: string; contents: Buffer }>;
  /** The key pair's public key (authorized_keys), or null. */
  keyData: string | null;
  metadata: Record<string, string>;
  /** Ports in interface order. */
  ports: InstancePort[];
}

/** What an instance host reports back about one instance. */
export interface InstanceReport {
  /** paused/suspended: the instance's processes are frozen (as the desired power asked). */
  power: 'running' | 'paused' | 'suspended' | 'shutdown' | 'crashed';
  /** The reboot request the instance has carried out (InstanceSpec.rebootSeq). */
  rebootSeq: number;
  /** A start failure: the server goes to ERROR with this as its fault. */
  error?: string;
  /**
   * The failure is the machine's own — the host could not create or start it — rather than its
   * image (one it cannot use) or a port it cannot plug. For a build, Nova's compute manager tells
   * these apart: any exception from driver.spawn is a RescheduledException (the build is retried
   * on an alternate host), ImageUnacceptable and the VIF failures abort it (BuildAbortException).
   */
  spawnFailed?: boolean;
}

/** Where an instance host reports (compute): power, reboots carried out, failures to start. */
export interface InstanceReports {
  reportInstance(id: string, r: InstanceReport): Promise<void>;
  /**
   * The source host of a live migration handed the machine over (Handover): the server switches
   * to the destination in one transaction — true — unless the migration is no longer running (an
   * abort won): false, and the source takes the machine back.
   */
  handedOver(id: string, migration: string): Promise<boolean>;
}

/**
 * A live migration in progress between two hosts on one kernel (nodes.ts handoverHomes), while
 * the source still runs the machine: its agent hands it over, the destination's keeps its name free.
 */
export interface Handover {
  instanceId: string;
  /** The migration's uuid. */
  migration: string;
  source: string;
  dest: string;
  /** The destination's instance host: its data-plane prefix and data directory. */
  to: { prefix: string; dataDir: string };
  /** The generation the destination adopts it at (the server's reboot_seq once switched). */
  bootGeneration: number;
  /** Its flavor's limits, for its control group on the destination. */
  vcpus: number;
  ramMb: number;
}

/** Live migrations being handed over now (status `running`, the server still on its source). */
export async function readHandovers(db: Q): Promise<Handover[]> {
  const rows = await db
    .selectFrom('migrations')
    .innerJoin('servers', 'servers.id', 'migrations.instance_uuid')
    .select([
      'migrations.uuid',
      'migrations.instance_uuid',
      'migrations.source_compute',
      'migrations.dest_compute',
      'servers.host',
      'servers.reboot_seq',
      'servers.flavor',
    ])
    .where('migrations.migration_type', '=', 'live-migration')
    .where('migrations.status', '=', 'running')
    .where('servers.task_state', '=', TASK.MIGRATING)
    .execute();
  const out: Handover[] = [];
  for (const r of rows) {
    if (!r.source_compute || !r.dest_compute || r.host !== r.source_compute) continue;
    const homes = await handoverHomes(db, r.source_compute, r.dest_compute);
    if (!homes) continue;
    out.push({
      instanceId: r.instance_uuid,
      migration: r.uuid,
      source: r.source_compute,
      dest: r.dest_compute,
      to: { prefix: homes.to.prefix, dataDir: homes.to.dataDir },
      bootGeneration: r.reboot_seq + 1,
      vcpus: flavorOf(r.flavor).vcpus,
      ramMb: flavorOf(r.flavor).ram,
    });
  }
  return out;
}

/**
 * What an instance host does for compute on request, beyond following desired state (null on
 * hosts that run no instances, such as the noop data plane).
 */
export interface InstanceHost {
  /**
   * The instance's root file system as it is now (its image with its writes), as a tar stream:
   * createImage uploads it as the new image's data (container_format `docker`, disk_format `raw`).
   */
  snapshotDisk(serverId: string): Promise<Readable>;
  /** A serial console session: `onData` receives what the instance prints, `write` sends keystrokes. */
  serialConsole(serverId: string, onData: (b: Buffer) => void): ConsoleSession;
}

/** One client attached to an instance's console. */
export interface ConsoleSession {
  write(data: Buffer): void;
  close(): void;
}

/** Where an instance's console output lives. */
export function consoleLogPath(dataDir: string, serverId: string): string {
  return join(dataDir, 'instances', serverId, 'console.log');
}

/** Nova reads at most the last 100 KiB of a console log (libvirt's MAX_CONSOLE_BYTES). */
const MAX_CONSOLE_BYTES = 100 * 1024;

/** The console output Nova would return: the log's tail, optionally only its last `lines` lines. */
export function readConsoleOutput(dataDir: string, serverId: string, lines?: number | null): string {
  const path = consoleLogPath(dataDir, serverId);
  if (!existsSync(path)) return '';
  const size = statSync(path).size;
  const start = Math.max(0, size - MAX_CONSOLE_BYTES);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  let out = buf.toString('utf8');
  if (lines !== undefined && lines !== null && lines >= 0) {
    out = lines === 0 ? '' : out.split('\n').slice(-lines).join('\n');
  }
  // Nova strips control characters other than tab, newline and carriage return.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return out.replace(/[\x00-\x08\x0B-\x1F]/g, (c) => (c === '\r' ? c : ''));
}

function flavorOf(json: string): InstanceFlavor {
  const f = fromJson<{ name?: string; vcpus?: number; ram?: number; disk?: number }>(json, {});
  return { name: f.name ?? '', vcpus: Number(f.vcpus ?? 1), ram: Number(f.ram ?? 512), disk: Number(f.disk ?? 0) };
}

const desiredPower = (v: string): DesiredPower => (v === 'stopped' || v === 'paused' || v === 'suspended' ? v : 'running');

/**
 * Desired state of instances that exist on a host (scheduled, not failed), for instance hosts.
 * `ids` narrows it to some servers.
 */
export async function readInstanceSpecs(db: Q, ids?: string[]): Promise<InstanceSpec[]> {
  let qb = db.selectFrom('servers').selectAll().where('host', 'is not', null).where('vm_state', '!=', VM.ERROR);
  if (ids) qb = qb.where('id', 'in', ids.length ? ids : ['']);
  const servers = await qb.orderBy('internal_id').execute();
  if (servers.length === 0) return [];
  const serverIds = servers.map((s) => s.id);
  const ports = await db
    .selectFrom('ports')
    .leftJoin('server_interfaces', 'server_interfaces.port_id', 'ports.id')
    .select(['ports.id', 'ports.device_id', 'ports.mac_address', 'ports.network_id', 'ports.admin_state_up', 'server_interfaces.position'])
    .where('ports.device_id', 'in', serverIds)
    .where('ports.device_owner', 'like', 'compute:%')
    .execute();
  const ips = ports.length
    ? await db
        .selectFrom('ip_allocations')
        .select(['port_id', 'subnet_id', 'ip_address'])
        .where(
          'port_id',
          'in',
          ports.map((p) => p.id),
        )
        .orderBy('position')
        .execute()
    : [];
  return servers.map((s) => {
    const sys = fromJson<Record<string, string>>(s.system_metadata, {});
    return {
      id: s.id,
      name: s.name,
      hostname: s.hostname,
      projectId: s.project_id,
      host: s.host ?? '',
      power: desiredPower(s.power_desired),
      rebootSeq: s.reboot_seq,
      rebuildSeq: s.rebuild_seq,
      imageId: s.vm_state === VM.SHELVED_OFFLOADED && sys.shelved_image_id ? sys.shelved_image_id : s.image_id,
      rescueImageId: s.rescue === 1 ? (sys.rescue_image_ref ?? s.image_id) : null,
      flavor: flavorOf(s.flavor),
      configDrive: s.config_drive !== '' && s.config_drive.toLowerCase() !== 'false',
      userData: s.user_data ? decodeBase64Lenient(s.user_data) : null,
      personality: fromJson<Array<{ path: string; contents: string }>>(s.personality, []).map((f) => ({
        path: f.path,
        contents: decodeBase64Lenient(f.contents),
      })),
      keyData: s.key_data,
      metadata: fromJson<Record<string, string>>(s.metadata, {}),
      ports: ports
        .filter((p) => p.device_id === s.id)
        .sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9))
        .map((p) => ({
          id: p.id,
          macAddress: p.mac_address,
          networkId: p.network_id,
          adminStateUp: p.admin_state_up === 1,
          fixedIps: ips.filter((i) => i.port_id === p.id).map((i) => ({ subnetId: i.subnet_id, ipAddress: i.ip_address })),
        })),
    };
  });
}
