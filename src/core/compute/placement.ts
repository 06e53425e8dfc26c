/**
 * What Placement holds for the scheduler, computed from the store: each compute node's inventory
 * of VCPU, MEMORY_MB and DISK_GB (its capacity, with Nova's reserved amounts and allocation
 * ratios) and the allocations against it (the flavors of the servers on the host, and of servers
 * moving off it: a migration keeps its source's resources until it is confirmed, reverted or
 * done, as Nova's migration-held allocations do).
 */
import type { Q } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import type { ComputeNodesTable } from '../../store/schema.js';

/**
 * Nova's defaults (nova/conf/compute.py): initial_cpu_allocation_ratio 4.0, initial_ram_allocation_ratio
 * 1.0, initial_disk_allocation_ratio 1.0 (the ratios a node's inventory gets when cpu_/ram_/
 * disk_allocation_ratio are unset); reserved_host_memory_mb 512, reserved_host_cpus 0,
 * reserved_host_disk_mb 0.
 */
export const CPU_ALLOCATION_RATIO = 4.0;
export const RAM_ALLOCATION_RATIO = 1.0;
export const DISK_ALLOCATION_RATIO = 1.0;
export const RESERVED_HOST_MEMORY_MB = 512;

/** A request's (or an allocation's) amounts of each resource class. */
export interface Resources {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

/** What a host's servers use, and how many there are (and how many do I/O-heavy work now). */
export interface HostUsage extends Resources {
  instances: number;
  ioOps: number;
}

interface FlavorLike {
  vcpus?: number;
  ram?: number;
  disk?: number;
  ephemeral?: number;
  swap?: number | string;
}

/**
 * A flavor's resources as nova.scheduler.utils.resources_from_flavor counts them: DISK_GB is
 * root_gb + ephemeral_gb + swap (MB, rounded up to GB).
 */
export function flavorResources(json: string | null): Resources {
  const f = fromJson<FlavorLike>(json ?? '{}', {});
  const swapMb = Number(f.swap) || 0;
  return {
    vcpus: Number(f.vcpus ?? 0),
    memoryMb: Number(f.ram ?? 0),
    diskGb: Number(f.disk ?? 0) + Number(f.ephemeral ?? 0) + Math.ceil(swapMb / 1024),
  };
}

/** Task states the IoOpsWeigher counts (nova.compute.stats: builds, resizes, rebuilds, snapshots, rescues, unshelves). */
const IO_TASKS = ['resize_migrating', 'rebuilding', 'resize_prep', 'image_snapshot', 'image_backup', 'rescuing', 'unshelving'];

/** Migration statuses that still hold resources (not yet confirmed, reverted, completed or failed). */
const HOLDING = ['accepted', 'pre-migrating', 'migrating', 'post-migrating', 'finished', 'reverting', 'queued', 'preparing', 'running'];

export const emptyUsage = (): HostUsage => ({ vcpus: 0, memoryMb: 0, diskGb: 0, instances: 0, ioOps: 0 });

/**
 * Allocations against each host. Summed by the database per host and flavor, as Placement sums
 * its allocations table (`SUM(used) … GROUP BY resource_class`): the scheduler asks this for every
 * server it places, and reading every server's row into JavaScript made a create's cost grow with
 * the cloud (issue 17: server create at 5,000 servers within 1.2× of an empty cloud).
 */
export async function hostUsage(q: Q): Promise<Map<string, HostUsage>> {
  const out = new Map<string, HostUsage>();
  const at = (host: string) => {
    const u = out.get(host) ?? emptyUsage();
    out.set(host, u);
    return u;
  };
  const add = (u: HostUsage, r: Resources) => {
    u.vcpus += r.vcpus;
    u.memoryMb += r.memoryMb;
    u.diskGb += r.diskGb;
  };
  const groups = await q
    .selectFrom('servers')
    .select((eb) => [
      'host',
      'flavor',
      eb.fn.countAll<number>().as('n'),
      eb.fn
        .sum<number>(
          eb
            .case()
            .when(eb.or([eb('vm_state', '=', 'building'), eb('task_state', 'in', IO_TASKS)]))
            .then(1)
            .else(0)
            .end(),
        )
        .as('io'),
    ])
    .where('host', 'is not', null)
    .groupBy(['host', 'flavor'])
    .execute();
  for (const g of groups) {
    const u = at(g.host!);
    const n = Number(g.n);
    const r = flavorResources(g.flavor);
    add(u, { vcpus: r.vcpus * n, memoryMb: r.memoryMb * n, diskGb: r.diskGb * n });
    u.instances += n;
    u.ioOps += Number(g.io);
  }
  const moving = await q
    .selectFrom('migrations')
    .innerJoin('servers', 'servers.id', 'migrations.instance_uuid')
    .select(['servers.host', 'servers.flavor', 'servers.old_flavor', 'migrations.source_compute', 'migrations.dest_compute'])
    .where('migrations.status', 'in', HOLDING)
    .where('migrations.migration_type', 'in', ['migration', 'resize', 'live-migration'])
    .where('servers.host', 'is not', null)
    .execute();
  for (const m of moving) {
    // The end of the move the server is not on holds its resources too: the source its old flavor.
    const other = m.host === m.source_compute ? m.dest_compute : m.source_compute;
    if (!other || other === m.host) continue;
    add(at(other), flavorResources(other === m.source_compute ? (m.old_flavor ?? m.flavor) : m.flavor));
  }
  return out;
}

/** A node's inventory as Placement checks a request against it. */
export interface Inventory {
  /** (total − reserved) × allocation_ratio: what allocations may add up to. */
  capacity: Resources;
  /** max_unit: no single allocation larger than the node's total. */
  maxUnit: Resources;
}

export function inventory(node: ComputeNodesTable): Inventory {
  return {
    capacity: {
      vcpus: node.vcpus * CPU_ALLOCATION_RATIO,
      memoryMb: (node.memory_mb - RESERVED_HOST_MEMORY_MB) * RAM_ALLOCATION_RATIO,
      diskGb: node.local_gb * DISK_ALLOCATION_RATIO,
    },
    maxUnit: { vcpus: node.vcpus, memoryMb: node.memory_mb, diskGb: node.local_gb },
  };
}

const CLASSES: Array<keyof Resources> = ['vcpus', 'memoryMb', 'diskGb'];

/**
 * Whether Placement would return the node as an allocation candidate: every resource class asked
 * for (amounts of 0 are not asked for) fits under its capacity and max_unit.
 */
export function fits(node: ComputeNodesTable, used: Resources, want: Resources): boolean {
  const inv = inventory(node);
  return CLASSES.every((k) => want[k] <= 0 || (want[k] <= inv.maxUnit[k] && used[k] + want[k] <= inv.capacity[k]));
}
