import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { consoleLogPath } from '../../../core/compute/host.js';
import type { MachineHome } from '../../../core/compute/nodes.js';

/**
 * Where this host's machines live and on which kernel: the kernel's boot id changes at every
 * boot and differs between machines, so two agents reporting the same one share a kernel (the
 * lab's simulated hosts) and can hand a running machine to each other.
 */
export function machineHome(prefix: string, dataDir: string): MachineHome {
  return { bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), prefix, dataDir };
}

/** A safe directory name for an instance id (UUIDs as they are; anything else hashed). */
export function instanceDirName(id: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id) ? id : createHash('sha256').update(id).digest('hex');
}

/**
 * Paths under the data directory that hold instances' own file systems: the image trees
 * (`rootfs/…`) and, in each instance's directory, everything but its console log and state
 * (its writes, disk image, seed, config drive, init files). The data directory's privacy
 * sweep leaves their modes alone.
 */
export function machineTrees(dataDir: string): (path: string) => boolean {
  return (path) => {
    const parts = relative(dataDir, path).split(sep);
    if (parts[0] === 'rootfs') return parts.length >= 2;
    if (parts[0] === 'instances') return parts.length >= 3 && !['console.log', 'state.json'].includes(parts[2]);
    return false;
  };
}

/** Where PocketStack keeps what lives only while the host is up (namespace files, mount points), per prefix. */
export const runDirOf = (prefix: string) => `/run/pocketstack/${prefix}`;

/** The cgroup every instance group of a prefix lives under. */
export const cgroupParentOf = (prefix: string) => `pocketstack-${prefix}`;

/**
 * Where an instance's things are. Persistent (the data directory): its console log, its writes
 * (upper layer, or a disk image when its flavor has a disk size), what booted (state.json), the
 * seed and config drive it is shown. Runtime (/run): its user namespace file, mount points.
 */
export class MachinePaths {
  constructor(
    readonly dataDir: string,
    readonly prefix: string,
  ) {}

  get runDir(): string {
    return runDirOf(this.prefix);
  }

  get rootfsDir(): string {
    return join(this.dataDir, 'rootfs');
  }

  get instancesDir(): string {
    return join(this.dataDir, 'instances');
  }

  /** The tools' user namespace (image trees, snapshots are written and read by its root). */
  get toolsUserns(): string {
    return join(this.runDir, 'userns', 'tools');
  }

  instanceDir(id: string): string {
    return dirname(consoleLogPath(this.dataDir, instanceDirName(id)));
  }

  console(id: string): string {
    return consoleLogPath(this.dataDir, instanceDirName(id));
  }

  /** The serial console's input: a FIFO the console's pty reads. */
  consoleIn(id: string): string {
    return join(this.instanceDir(id), 'console.in');
  }

  state(id: string): string {
    return join(this.instanceDir(id), 'state.json');
  }

  seed(id: string): string {
    return join(this.instanceDir(id), 'seed');
  }

  configDrive(id: string): string {
    return join(this.instanceDir(id), 'config-drive');
  }

  /** The file-backed disk (ext4) holding the writes of an instance whose flavor has a disk size. */
  diskImage(id: string): string {
    return join(this.instanceDir(id), 'disk.img');
  }

  /** A disk image of `gb` GiB made ahead of the next boot that needs one (see MachineRunner.ensureDisk). */
  spareDisk(gb: number): string {
    return join(this.dataDir, 'machine', 'spare-disks', `${gb}G.img`);
  }

  /** Where the instance's writes go: on its disk image when it has one, else in its directory. */
  writes(id: string, ns: string, onDisk: boolean): { upper: string; work: string } {
    const base = onDisk ? this.diskMount(ns) : join(this.instanceDir(id), 'disk');
    return { upper: join(base, 'upper'), work: join(base, 'work') };
  }

  /** A rescued instance's own writes (thrown away at unrescue; its disk is kept as it was). */
  rescueWrites(id: string): { upper: string; work: string } {
    const base = join(this.instanceDir(id), 'rescue');
    return { upper: join(base, 'upper'), work: join(base, 'work') };
  }

  diskMount(ns: string): string {
    return join(this.runDir, 'disks', ns);
  }

  userns(ns: string): string {
    return join(this.runDir, 'userns', ns);
  }

  /** The mount point of an instance's root (mounted only inside its own mount namespace). */
  rootMount(ns: string): string {
    return join(this.runDir, 'roots', ns);
  }

  scratch(name: string): string {
    return join(this.runDir, 'scratch', name);
  }
}

/**
 * A personality file's guest path as the init writes it: absolute, normalized, inside the
 * instance, on one line (the init reads its list line by line); null when it is none of these.
 */
export function personalityPath(guestPath: string): string | null {
  if (/[\n\r\0]/.test(guestPath)) return null;
  const rel = posix.normalize(`/${guestPath}`).replace(/^\/+/, '');
  if (rel === '' || rel.split('/').includes('..')) return null;
  return `/${rel}`;
}
