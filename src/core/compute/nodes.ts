/**
 * Compute nodes (Nova's compute_nodes): what each nova-compute host has — its vCPUs, memory and
 * disk, as its resource tracker reports them — written by the host itself, so the API servers
 * (os-hypervisors) and the scheduler read every host's own size, not their own machine's.
 *
 * Every `pocketstack agent --host NAME` is a nova-compute host too: `startComputeHost` is what it
 * does at start (nova.service.Service.start: the service record is found or created; the libvirt
 * driver's _set_host_enabled(True) re-enables a service it had disabled itself, "AUTO: …", never
 * one an operator disabled; the resource tracker reports the node) and then every report_interval
 * (the ServiceGroup DB driver's heartbeat), so os-services shows it up or down.
 */
import { cpus, totalmem } from 'node:os';
import { statfsSync } from 'node:fs';
import type { Q } from '../../store/db.js';
import type { ComputeNodesTable } from '../../store/schema.js';
import type { UnitOfWork } from '../work.js';
import { now } from './clock.js';
import { REPORT_INTERVAL_S, ensureService, reportServiceState } from './services.js';

/** What a host offers instances (the resource tracker's vcpus, memory_mb, local_gb). */
export interface HostCapacity {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

/**
 * Where a host's instance host keeps its machines, and on which kernel (its boot id): two hosts
 * whose agents run on the same kernel (the lab's simulated hosts) can hand a running machine
 * over in a live migration instead of restarting it (lifecycle.ts).
 */
export interface MachineHome {
  bootId: string;
  prefix: string;
  dataDir: string;
}

/** The libvirt driver's prefix for a disable it did itself (and may undo). */
const AUTO_DISABLED = 'AUTO: ';

/**
 * This machine's capacity: its CPUs, its memory and the size of the file system that holds
 * instances (libvirt's local_gb is that of instances_path), each overridable (lab hosts are small).
 */
export function machineCapacity(instancesDir: string, override: Partial<HostCapacity> = {}): HostCapacity {
  let diskGb = 0;
  try {
    const fs = statfsSync(instancesDir);
    diskGb = Math.floor((fs.blocks * fs.bsize) / 1024 ** 3);
  } catch {
    // a directory that cannot be read reports no disk, as a node without local storage
  }
  return {
    vcpus: override.vcpus ?? cpus().length,
    memoryMb: override.memoryMb ?? Math.floor(totalmem() / 1024 / 1024),
    diskGb: override.diskGb ?? diskGb,
  };
}

/**
 * The resource tracker's report at start: the node of `host` with this capacity (and where its
 * machines run, `home`). Its stats begin anew, as a restarted nova-compute's resource tracker
 * keeps them in memory: the count of failed builds starts again from 0.
 */
export async function reportComputeNode(q: Q, host: string, c: HostCapacity, home: MachineHome | null = null): Promise<void> {
  const t = now();
  const where = { boot_id: home?.bootId ?? null, instance_prefix: home?.prefix ?? null, instance_dir: home?.dataDir ?? null };
  const row: ComputeNodesTable = {
    host,
    vcpus: c.vcpus,
    memory_mb: c.memoryMb,
    local_gb: c.diskGb,
    failed_builds: 0,
    ...where,
    created_at: t,
    updated_at: t,
  };
  await q
    .insertInto('compute_nodes')
    .values(row)
    .onConflict((oc) =>
      oc.column('host').doUpdateSet({ vcpus: row.vcpus, memory_mb: row.memory_mb, local_gb: row.local_gb, failed_builds: 0, ...where, updated_at: t }),
    )
    .execute();
}

/** A compute node's machine home, when it reports one. */
export function nodeHome(n: ComputeNodesTable | undefined): MachineHome | null {
  return n?.boot_id && n.instance_prefix && n.instance_dir ? { bootId: n.boot_id, prefix: n.instance_prefix, dataDir: n.instance_dir } : null;
}

/**
 * A build on `host` ended (ComputeManager._build_failed / _build_succeeded through the resource
 * tracker's Stats): a failure adds one to the node's failed_builds — only while
 * consecutive_build_service_disable_threshold is nonzero, which is what enables the reporting —
 * and a success resets it to 0.
 */
export async function recordBuildResult(q: Q, host: string, ok: boolean, threshold: number): Promise<void> {
  if (ok) {
    await q.updateTable('compute_nodes').set({ failed_builds: 0 }).where('host', '=', host).where('failed_builds', '!=', 0).execute();
  } else if (threshold) {
    await q
      .updateTable('compute_nodes')
      .set((eb) => ({ failed_builds: eb('failed_builds', '+', 1) }))
      .where('host', '=', host)
      .execute();
  }
}

/** Every compute node, by host. */
export async function computeNodes(q: Q): Promise<Map<string, ComputeNodesTable>> {
  const rows = await q.selectFrom('compute_nodes').selectAll().execute();
  return new Map(rows.map((r) => [r.host, r]));
}

/**
 * Whether a live migration from `source` to `dest` hands the running machine over (both hosts'
 * instance hosts on one kernel, with homes of their own) instead of restarting it on the
 * destination: the homes of both, or null.
 */
export async function handoverHomes(q: Q, source: string | null, dest: string | null): Promise<{ from: MachineHome; to: MachineHome } | null> {
  if (!source || !dest || source === dest) return null;
  const nodes = await computeNodes(q);
  const from = nodeHome(nodes.get(source));
  const to = nodeHome(nodes.get(dest));
  if (!from || !to || from.bootId !== to.bootId || from.prefix === to.prefix) return null;
  return { from, to };
}

/** A running nova-compute host: stop() ends its heartbeat. */
export interface ComputeHost {
  readonly host: string;
  stop(): void;
}

/**
 * nova-compute of `host` starts: its service registers (or comes back), its node reports its
 * capacity, and it reports alive every report_interval (Nova's, 10 s) from then on.
 */
export async function startComputeHost(
  uow: UnitOfWork,
  o: { host: string; capacity: HostCapacity; home?: MachineHome | null; reportIntervalS?: number; onError?: (err: unknown) => void },
): Promise<ComputeHost> {
  await uow.run(async ({ trx }) => {
    const svc = await ensureService(trx, o.host, 'nova-compute');
    if (svc.disabled && svc.disabled_reason?.startsWith(AUTO_DISABLED)) {
      await trx.updateTable('compute_services').set({ disabled: 0, disabled_reason: null, updated_at: now() }).where('id', '=', svc.id).execute();
    }
    await reportComputeNode(trx, o.host, o.capacity, o.home ?? null);
    await reportServiceState(trx, o.host, 'nova-compute');
  });
  const timer = setInterval(
    () => {
      uow.run(({ trx }) => reportServiceState(trx, o.host, 'nova-compute')).catch((e: unknown) => o.onError?.(e));
    },
    (o.reportIntervalS ?? REPORT_INTERVAL_S) * 1000,
  );
  timer.unref();
  return { host: o.host, stop: () => clearInterval(timer) };
}
