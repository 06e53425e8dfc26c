/**
 * Instances as machines: each is a set of namespaces with its own root file system, limited by
 * its flavor, booted by PocketStack's init (init.ts) through the two host scripts of boot.ts.
 *
 *   namespace  a user namespace mapping its root to the host's unprivileged id range, and a
 *              network namespace it owns (made first, so the data plane can wire its NICs; the
 *              instance's root configures them by DHCP) — both kept by bind mounts;
 *   boot       mount, PID, UTS, IPC and cgroup namespaces, the overlay root, the init as PID 1,
 *              under `script` (the console) — detached: instances outlive PocketStack, and a
 *              restart adopts them from state.json and their control groups;
 *   power      stop (SIGTERM to the init, SIGKILL to what is left), start, reboot (a new boot
 *              generation), pause and suspend (freeze the control group: Nova's pause keeps the
 *              guest in memory, its suspend saves it — a frozen group is both, and is reported
 *              as whichever was asked); a guest that powers itself off stays off until started;
 *   root       rebuild (a new image or root generation) starts from a fresh upper layer; a
 *              snapshot archives the upper layer over the image (snapshot()); rescue boots the
 *              rescue image's tree over writes of its own, the instance's root mounted at
 *              /mnt/disk (its disk, kept), and unrescue boots the instance's own root again;
 *   files      personality files are handed to the init in the seed, which writes them into
 *              the root file system before anything else runs (the host never writes into a
 *              tree the instance controls: a symbolic link there could point anywhere).
 *
 * Everything that needs root on the host happens here or in boot.ts; nothing the instance
 * supplies is ever interpreted by the host (user_data, metadata and keys are files it reads).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ConsoleSession } from '../../../core/compute/host.js';
import { TOOL_PATH } from '../../../util/which.js';
import { run } from '../exec.js';
import type { InstancePower, InstanceRunner, Readiness } from '../machine.js';
import type { ImageRef, InstanceSpec } from '../model.js';
import { INNER_SCRIPT, OUTER_SCRIPT, SNAPSHOT_SCRIPT } from './boot.js';
import {
  type CgroupLayout,
  DEFAULT_PIDS,
  applyWrites,
  ensureGroup,
  freezeWrite,
  frozenFile,
  groupPids,
  hasMemsw,
  limitWrites,
  listGroups,
  oomFile,
  parseFrozen,
  parseOomKills,
  procsFiles,
  readGroupFile,
  removeGroup,
  usageFile,
} from './cgroups.js';
import { BUSYBOX, staticBusybox } from './cirros.js';
import { appendConsole, attachConsole, makeFifo, trimConsole } from './console.js';
import { INIT_SCRIPT, JSON_AWK, UDHCPC_SCRIPT } from './init.js';
import { MachinePaths, cgroupParentOf, instanceDirName, personalityPath } from './paths.js';
import { RootfsCache, rootfsKey } from './rootfs.js';
import { type IdMap, createUserns, isNamespaceFile, removeNamespaceFile } from './userns.js';
import { Names } from '../names.js';

/** What the instance is shown about itself at boot: the seed (network) and the config drive. */
export interface GuestFiles {
  /** network_data.json as Nova renders it (the init configures the network from it). */
  networkData: string;
  /** Files of the config drive (`openstack/latest/meta_data.json` …), when the server has one. */
  configDrive: Map<string, Buffer> | null;
}

export interface MachineOptions {
  dataDir: string;
  prefix: string;
  ids: IdMap;
  /** Control groups enforce flavors (null: this host has none the data plane can use). */
  cgroups: CgroupLayout | null;
  /** Put an instance's writes on a disk image the size of its flavor's disk (needs mkfs.ext4). */
  diskLimits: boolean;
  /** What each server is shown at boot. */
  guestFiles(serverId: string, configDrive: boolean): Promise<GuestFiles | null>;
  /** Ask for a reconcile pass (an image became ready, or failed). */
  kick(): void;
  log: Logger;
}

/** What booted, kept beside the instance so a restart neither boots it twice nor misses a change. */
interface MachineState {
  ns: string;
  /** The image tree its root is made of (kept while the instance exists, even if the image goes). */
  rootKey: string;
  rootGeneration: number;
  bootGeneration: number;
  /** The network namespace incarnation it booted in (a host reboot makes a new one). */
  nsIno: number;
  /** It was asked to run (false: stopped). */
  running: boolean;
  /** The init's host pid and start time (a pid reused by another process does not count). */
  initPid: number | null;
  initStart: string | null;
  ramMb: number;
  oomKills: number;
  /** It booted its rescue image (`rootKey` is then the rescue image's tree; `diskKey` its own). */
  rescue?: boolean;
  /** The instance's own root while rescued. */
  diskKey?: string;
  /**
   * The image-tree directory its `rootKey`/`diskKey` live in, when not this host's own: a machine
   * handed over by another host on this kernel keeps the trees its overlay was mounted from (the
   * host that lent them keeps them while this state names them: `lentTrees`).
   */
  rootDir?: string;
}

/** Where a machine goes in a handover: the other host's prefix and data directory. */
export interface MachineHomeDir {
  prefix: string;
  dataDir: string;
}

/** A lent tree's marker: `<tree>/lent/<instance dir>` holds the borrower's state.json path. */
const LENT = 'lent';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An empty sparse ext4 image of `gb` GiB at `img` (made as `<img>.part`, then renamed: a file
 * at `img` is always whole). `idle`: at the lowest CPU priority, behind whatever boots now.
 */
async function makeDiskImage(gb: number, img: string, idle: boolean): Promise<void> {
  const part = `${img}.part`;
  const mkfs = ['mkfs.ext4', '-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', part];
  await run('truncate', ['-s', `${gb}G`, part]);
  if (idle) await run('nice', ['-n', '19', ...mkfs]);
  else await run(mkfs[0], mkfs.slice(1));
  renameSync(part, img);
}

/** How many new machines' disks are prepared at once (as many as the pass boots at once). */
const PREPARE_AT_ONCE = 4;

/** At most `size` tasks at a time; the others wait their turn, in order. */
class Slots {
  private busy = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.busy >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    else this.busy++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy--;
    }
  }
}

/** One host's view of a machine: its paths, its groups' parent and its namespace name. */
interface Side {
  paths: MachinePaths;
  parent: string;
  ns: string;
}

/**
 * Bind what is mounted at `from` (a namespace file, or a directory: `dir`) at `to`, then unmount
 * `from`: the namespace or file system stays, kept by its new name.
 */
async function rebind(from: string, to: string, dir = false): Promise<void> {
  mkdirSync(dirname(to), { recursive: true });
  if (dir) mkdirSync(to, { recursive: true });
  else if (!existsSync(to)) writeFileSync(to, '');
  await run('mount', ['--bind', from, to]);
  await run('umount', [from]);
  rmSync(from, { recursive: dir, force: true });
}

/** A process's start time (field 22 of /proc/<pid>/stat), or null when it is gone. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** The host pid of a PID namespace's init among `pids` (its NSpid line ends in 1). */
function findInit(pids: number[]): number | null {
  for (const pid of pids) {
    try {
      const m = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      const ids = m ? m[1].trim().split(/\s+/) : [];
      if (ids.length > 1 && ids[ids.length - 1] === '1') return pid;
    } catch {
      // exited
    }
  }
  return null;
}

export class MachineRunner implements InstanceRunner {
  readonly paths: MachinePaths;
  readonly rootfs: RootfsCache;
  private readonly parent: string;
  private readonly states = new Map<string, MachineState>();
  private helpers: string | null = null;
  private tools: Promise<string> | null = null;
  private oomTimer: NodeJS.Timeout | null = null;
  /** Instances being acted on (boot, stop, snapshot): one thing at a time each. */
  private readonly busy = new Map<string, Promise<unknown>>();
  /** Disks (and console FIFOs) being made for machines whose namespace was just created, by namespace (see prepare). */
  private readonly disks = new Map<string, Promise<void>>();
  /** Spare disk images being made, by size (GiB). */
  private readonly spares = new Map<number, Promise<void>>();
  /**
   * Disks being prepared at once (prepare): a burst of new machines would otherwise run a mkfs
   * and a loop mount each, all together, against the namespaces and boots they wait for.
   */
  private readonly diskSlots = new Slots(PREPARE_AT_ONCE);

  constructor(private readonly opts: MachineOptions) {
    this.paths = new MachinePaths(opts.dataDir, opts.prefix);
    this.parent = cgroupParentOf(opts.prefix);
    this.rootfs = new RootfsCache({
      dir: this.paths.rootfsDir,
      idBase: opts.ids.base,
      runDir: this.paths.runDir,
      toolsUserns: () => this.toolsUserns(),
    });
  }

  private get log(): Logger {
    return this.opts.log;
  }

  // ---------------------------------------------------------------- shared pieces

  /** The tools' user namespace, made once per host boot. */
  private toolsUserns(): Promise<string> {
    const file = this.paths.toolsUserns;
    this.tools ??= (async () => {
      if (!isNamespaceFile(file)) await createUserns(this.opts.ids, file);
      return file;
    })().catch((e) => {
      this.tools = null;
      throw e;
    });
    return this.tools;
  }

  /**
   * The init's files as a read-only lower layer, one directory per content (instances running
   * an older one keep it: a layer must not change under a mounted overlay).
   */
  private helpersDir(): string {
    if (this.helpers) return this.helpers;
    const bb = staticBusybox();
    if ('why' in bb) throw new Error(`instances need a static busybox for their init: ${bb.why}`);
    const busybox = readFileSync(bb.path);
    const files: Array<[string, Buffer, number]> = [
      ['busybox', busybox, 0o755],
      ['init', Buffer.from(INIT_SCRIPT), 0o755],
      ['udhcpc.sh', Buffer.from(UDHCPC_SCRIPT), 0o755],
      ['json.awk', Buffer.from(JSON_AWK), 0o644],
    ];
    const hash = createHash('sha256');
    for (const [name, data] of files) hash.update(name).update(data);
    const dir = join(this.opts.dataDir, 'machine', `init-${hash.digest('hex').slice(0, 12)}`);
    if (!existsSync(join(dir, '.ready'))) {
      rmSync(dir, { recursive: true, force: true });
      for (const d of [dir, join(dir, '.ps'), join(dir, '.ps', 'seed')]) {
        mkdirSync(d, { recursive: true });
        chmodSync(d, 0o755);
      }
      for (const [name, data, mode] of files) {
        writeFileSync(join(dir, '.ps', name), data, { mode });
        chmodSync(join(dir, '.ps', name), mode);
      }
      writeFileSync(join(dir, '.ready'), '');
    }
    this.helpers = dir;
    return dir;
  }

  // ---------------------------------------------------------------- state

  private readState(id: string): MachineState | null {
    const cached = this.states.get(id);
    if (cached) return cached;
    try {
      const s = JSON.parse(readFileSync(this.paths.state(id), 'utf8')) as MachineState;
      this.states.set(id, s);
      return s;
    } catch {
      return null;
    }
  }

  private writeState(id: string, s: MachineState): void {
    this.states.set(id, s);
    mkdirSync(this.paths.instanceDir(id), { recursive: true, mode: 0o700 });
    const file = this.paths.state(id);
    writeFileSync(`${file}.tmp`, JSON.stringify(s), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** The init's host pid while it runs. */
  private initOf(s: MachineState | null): number | null {
    if (!s?.initPid || !s.initStart) return null;
    return startTime(s.initPid) === s.initStart ? s.initPid : null;
  }

  // ---------------------------------------------------------------- InstanceRunner

  /** The image tree of a machine: what its root is made of, or why there is none yet. */
  readiness(spec: InstanceSpec): Readiness {
    const m = spec.machine;
    if (!m) return 'ready';
    try {
      this.helpersDir();
    } catch (e) {
      return { error: (e as Error).message };
    }
    const st = this.readState(spec.id);
    const own = this.keptRoot(spec, st) ? 'ready' : this.treeReadiness(m.image, undefined, 'its image');
    if (own !== 'ready' || !m.rescue) return own;
    return this.treeReadiness(m.rescue.image, st?.rescue ? st.rootKey : undefined, 'its rescue image');
  }

  /**
   * The tree the instance's own root was made of, while it keeps that root: the image matters
   * only for a fresh root (first boot, or a rebuild's new root generation). Its image may change
   * or go meanwhile (an unshelved server's snapshot is deleted once it runs, and the server names
   * its original image again), the root stays what it was.
   */
  private keptRoot(spec: InstanceSpec, st: MachineState | null): string | null {
    if (!st || st.rootGeneration !== spec.machine!.rootGeneration) return null;
    const key = st.rescue ? st.diskKey : st.rootKey;
    return key && existsSync(join(this.treesOf(st), key, '.ready')) ? key : null;
  }

  /** The image-tree directory a machine's kept root lives in (its own host's, or the lender's). */
  private treesOf(st: MachineState | null): string {
    return st?.rootDir ?? this.paths.rootfsDir;
  }

  /** One image's tree: ready, being unpacked, or why not (`kept`: the tree booted before, which outlives its image). */
  private treeReadiness(image: ImageRef | null, kept: string | undefined, what: string): Readiness {
    if (!image) {
      if (kept && existsSync(join(this.paths.rootfsDir, kept, '.ready'))) return 'ready';
      return { error: `${what} no longer exists` };
    }
    const r = this.rootfs.state(image);
    if (r.state === 'ready') return 'ready';
    if (r.state === 'error') return { error: r.reason };
    this.rootfs.ensure(image, () => this.opts.kick());
    return 'pending';
  }

  async createNamespace(spec: InstanceSpec, sysctls: Array<[string, string]>): Promise<void> {
    if (!spec.machine) throw new Error('not a machine');
    this.prepare(spec);
    const userns = this.paths.userns(spec.ns);
    await removeNamespaceFile(userns);
    await createUserns(this.opts.ids, userns, `/run/netns/${spec.ns}`, sysctls);
  }

  /**
   * Make a new machine's disk and console FIFO while the pass wires its NICs and reloads its
   * network's DHCP server: the disk (a loop mount, and mkfs.ext4 when no spare is ready:
   * 100–250 ms on a busy 2-core host) is needed only at boot, which waits for the wiring anyway
   * (as Nova plugs VIFs before it starts the guest). boot() waits for it, then makes sure of
   * both (a failure here is tried again there, and said there).
   */
  private prepare(spec: InstanceSpec): void {
    if (this.disks.has(spec.ns)) return;
    const fifo = async () => {
      mkdirSync(this.paths.instanceDir(spec.id), { recursive: true, mode: 0o700 });
      await makeFifo(this.paths.consoleIn(spec.id));
    };
    const p = Promise.all([this.diskSlots.run(() => this.ensureDisk(spec)), fifo()])
      .then(() => undefined)
      .catch(() => undefined)
      .finally(() => this.disks.delete(spec.ns));
    this.disks.set(spec.ns, p);
  }

  /**
   * Everything of a machine whose namespace goes: its processes, its disk mount, its group, its
   * user namespace. Its processes are killed at once: a deleted server is powered off, not shut
   * down (Nova's _shutdown_instance calls the libvirt driver's destroy, virDomainDestroy, which
   * ends QEMU and gives the guest no say). Waiting for processes nobody asked to end only held
   * the data plane's pass, and every boot and delete queued behind it, for a second each.
   */
  async destroy(ns: string): Promise<void> {
    // A paused machine is thawed first: v1's freezer keeps even SIGKILL from a frozen task.
    const layout = this.opts.cgroups;
    if (layout && parseFrozen(layout, readGroupFile(layout, frozenFile(layout, this.parent, ns)) ?? '')) {
      applyWrites(layout, [freezeWrite(layout, this.parent, ns, false)]);
    }
    await this.killGroup(ns, 0);
    await this.disks.get(ns);
    await Promise.all([
      this.unmountDisk(ns),
      removeNamespaceFile(this.paths.userns(ns)),
      (async () => {
        if (layout) for (let i = 0; i < 20 && !removeGroup(layout, this.parent, ns); i++) await sleep(50);
      })(),
    ]);
    rmSync(this.paths.rootMount(ns), { recursive: true, force: true });
    for (const [id, s] of this.states) if (s.ns === ns) this.states.delete(id);
  }

  async reconcile(spec: InstanceSpec, nsIno: number): Promise<'booted' | 'stopped' | 'frozen' | 'thawed' | 'unchanged'> {
    if (!spec.machine) return 'unchanged';
    const prev = this.busy.get(spec.id);
    if (prev !== undefined) await prev.catch(() => undefined);
    const p = this.reconcileMachine(spec, nsIno);
    this.busy.set(spec.id, p);
    try {
      return await p;
    } finally {
      if (this.busy.get(spec.id) === p) this.busy.delete(spec.id);
    }
  }

  private async reconcileMachine(spec: InstanceSpec, nsIno: number): Promise<'booted' | 'stopped' | 'frozen' | 'thawed' | 'unchanged'> {
    const m = spec.machine!;
    const st = this.readState(spec.id);
    const init = this.initOf(st);
    // The instance's own root: the tree it has (keptRoot), or a fresh one from its image.
    const kept = this.keptRoot(spec, st);
    const diskKey = kept ?? (m.image ? rootfsKey(m.image) : '');
    const rescueKey = m.rescue ? (m.rescue.image ? rootfsKey(m.rescue.image) : st?.rescue ? st.rootKey : '') : null;
    const rootKey = rescueKey ?? diskKey;
    const want = spec.power;
    const frozen = want === 'paused' || want === 'suspended';
    if (want === 'stopped') {
      if (st && !init && !st.running) return 'unchanged';
      if (init || (st && groupPids(this.opts.cgroups!, this.parent, spec.ns).length)) await this.stop(spec.ns, st);
      this.writeState(spec.id, { ...(st ?? this.fresh(spec, diskKey, nsIno)), running: false, initPid: null, initStart: null, nsIno });
      return 'stopped';
    }
    const wasRescue = st?.rescue === true;
    // A new root for the instance itself: its first, or a rebuild's.
    const newRoot = kept === null;
    const rescueChanged = wasRescue !== (rescueKey !== null) || (rescueKey !== null && st?.rootKey !== rescueKey);
    const reboot = !st || st.bootGeneration !== spec.bootGeneration || st.nsIno !== nsIno || !st.running || rescueChanged;
    if (init && !newRoot && !reboot) {
      this.applyLimits(spec, st!);
      if (!(await this.setPaused(spec, frozen))) return 'unchanged';
      return frozen ? 'frozen' : 'thawed';
    }
    if (!init && st && !newRoot && !reboot) return 'unchanged'; // it powered itself off: it stays off until started
    if (init || (st && this.opts.cgroups && groupPids(this.opts.cgroups, this.parent, spec.ns).length)) await this.stop(spec.ns, st);
    if (newRoot && st) this.wipeWrites(spec);
    // A rescue starts from clean writes of its own, and leaves none behind.
    if (rescueChanged || rescueKey !== null) this.wipeRescueWrites(spec);
    // A kept root stays where it is (a handed-over machine's may be in the lender's trees).
    const ownTrees = kept !== null ? this.treesOf(st) : this.paths.rootfsDir;
    const s = await this.boot(spec, rootKey, rescueKey !== null ? diskKey : null, nsIno, st, ownTrees);
    this.writeState(spec.id, s);
    if (frozen) await this.setPaused(spec, true);
    return 'booted';
  }

  replugged(spec: InstanceSpec): void {
    if (!spec.machine) return;
    const init = this.initOf(this.readState(spec.id));
    if (init === null) return;
    try {
      process.kill(init, 'SIGUSR1'); // a paused machine hears it when thawed
    } catch {
      // it ended just now: its next boot configures its NICs anyway
    }
  }

  private fresh(spec: InstanceSpec, rootKey: string, nsIno: number): MachineState {
    return {
      ns: spec.ns,
      rootKey,
      rootGeneration: spec.machine?.rootGeneration ?? 0,
      bootGeneration: spec.bootGeneration,
      nsIno,
      running: false,
      initPid: null,
      initStart: null,
      ramMb: spec.machine?.flavor.ramMb ?? 0,
      oomKills: 0,
    };
  }

  /** What the machine really does now; null before its first boot. */
  power(spec: InstanceSpec): InstancePower | null {
    if (!spec.machine) return null;
    const st = this.readState(spec.id);
    if (!st) return null;
    if (!this.initOf(st)) return 'shutdown';
    const layout = this.opts.cgroups;
    if (layout && parseFrozen(layout, readGroupFile(layout, frozenFile(layout, this.parent, spec.ns)) ?? '')) {
      // Frozen is paused or suspended, as compute asked (the two differ only in where a VM's memory goes).
      return spec.power === 'suspended' ? 'suspended' : 'paused';
    }
    return 'running';
  }

  removalSweep(): (keep: ReadonlySet<string>) => void {
    const before = new Set(this.instanceEntries());
    return (keep) => this.removeAllBut(keep, before);
  }

  private instanceEntries(): string[] {
    try {
      return readdirSync(this.paths.instancesDir);
    } catch {
      return [];
    }
  }

  private removeAllBut(keep: ReadonlySet<string>, sweepable: ReadonlySet<string>): void {
    const dirs = new Set([...keep].map(instanceDirName));
    const base = this.paths.instancesDir;
    const roots = new Set<string>();
    for (const e of this.instanceEntries()) {
      if (!dirs.has(e) && sweepable.has(e)) {
        rmSync(join(base, e), { recursive: true, force: true });
        for (const [id] of this.states) if (instanceDirName(id) === e) this.states.delete(id);
        continue;
      }
      try {
        const st = JSON.parse(readFileSync(join(base, e, 'state.json'), 'utf8')) as MachineState;
        // A rescue image's tree is always this host's; the own root's is where `rootDir` says.
        const own = st.rescue ? st.diskKey : st.rootKey;
        if (own && !st.rootDir) roots.add(own);
        if (st.rescue) roots.add(st.rootKey);
      } catch {
        // never booted
      }
    }
    for (const key of this.lentTrees()) roots.add(key);
    this.rootfs.removeAllBut(roots);
  }

  /**
   * Trees this host lent to machines it handed over (their overlays are mounted from them): kept
   * while the borrower's state still names this directory; a marker whose borrower went (deleted,
   * rebuilt, handed on to a host with the tree of its own) is dropped.
   */
  private lentTrees(): string[] {
    const keys: string[] = [];
    let entries: string[] = [];
    try {
      entries = readdirSync(this.paths.rootfsDir);
    } catch {
      return keys;
    }
    for (const key of entries) {
      const dir = join(this.paths.rootfsDir, key, LENT);
      let markers: string[] = [];
      try {
        markers = readdirSync(dir);
      } catch {
        continue;
      }
      let used = false;
      for (const m of markers) {
        let borrowed = false;
        try {
          const st = JSON.parse(readFileSync(readFileSync(join(dir, m), 'utf8'), 'utf8')) as MachineState;
          borrowed = st.rootDir === this.paths.rootfsDir && (st.rescue ? st.diskKey : st.rootKey) === key;
        } catch {
          borrowed = false;
        }
        if (borrowed) used = true;
        else rmSync(join(dir, m), { force: true });
      }
      if (used) keys.push(key);
    }
    return keys;
  }

  // ---------------------------------------------------------------- boot and stop

  private limits(spec: InstanceSpec) {
    const f = spec.machine!.flavor;
    return { vcpus: f.vcpus, ramMb: f.ramMb, pids: DEFAULT_PIDS };
  }

  private applyLimits(spec: InstanceSpec, st: MachineState): void {
    const layout = this.opts.cgroups;
    if (!layout || st.ramMb === spec.machine!.flavor.ramMb) return;
    applyWrites(layout, limitWrites(layout, this.parent, spec.ns, this.limits(spec), st.ramMb, hasMemsw(layout, this.parent, spec.ns)));
    this.writeState(spec.id, { ...st, ramMb: spec.machine!.flavor.ramMb });
  }

  /**
   * Freeze or thaw; true when that changed something. The kernel freezes a group's tasks
   * asynchronously: this waits (a second at most) until the group says it is frozen or thawed,
   * so that what the pass reports next is what compute asked for.
   */
  private async setPaused(spec: InstanceSpec, paused: boolean): Promise<boolean> {
    const layout = this.opts.cgroups;
    if (!layout) return false;
    const isFrozen = () => parseFrozen(layout, readGroupFile(layout, frozenFile(layout, this.parent, spec.ns)) ?? '');
    if (isFrozen() === paused) return false;
    applyWrites(layout, [freezeWrite(layout, this.parent, spec.ns, paused)]);
    for (let i = 0; i < 50 && isFrozen() !== paused; i++) await sleep(20);
    return true;
  }

  private wipeWrites(spec: InstanceSpec): void {
    const onDisk = this.diskSize(spec) > 0;
    const w = this.paths.writes(spec.id, spec.ns, onDisk);
    rmSync(w.upper, { recursive: true, force: true });
    rmSync(w.work, { recursive: true, force: true });
  }

  private wipeRescueWrites(spec: InstanceSpec): void {
    const w = this.paths.rescueWrites(spec.id);
    rmSync(dirname(w.upper), { recursive: true, force: true });
  }

  /** The disk limit in GiB this machine's writes live under (0: none). */
  private diskSize(spec: InstanceSpec): number {
    return this.opts.diskLimits ? (spec.machine?.flavor.diskGb ?? 0) : 0;
  }

  private async mounted(path: string): Promise<boolean> {
    const info = readFileSync('/proc/self/mountinfo', 'utf8');
    return info.split('\n').some((l) => l.split(' ')[4] === path);
  }

  /**
   * The instance's disk image, made on first boot (sparse ext4) and mounted on the host while
   * the instance exists. A new one is the spare of its size when one is ready (an empty file
   * system made after the previous boot that needed one, at the lowest CPU priority), so a boot
   * pays for the loop mount only; the spare is then made again.
   */
  private async ensureDisk(spec: InstanceSpec): Promise<void> {
    const gb = this.diskSize(spec);
    if (gb <= 0) return;
    const mnt = this.paths.diskMount(spec.ns);
    if (await this.mounted(mnt)) return;
    const img = this.paths.diskImage(spec.id);
    if (!existsSync(img)) {
      if (!this.takeSpare(gb, img)) await makeDiskImage(gb, img, false);
      this.makeSpare(gb);
    }
    mkdirSync(mnt, { recursive: true });
    await run('mount', ['-o', 'loop,nosuid,nodev', img, mnt]);
  }

  /** Move the spare disk of `gb` GiB to `img`; false when there is none ready. */
  private takeSpare(gb: number, img: string): boolean {
    if (this.spares.has(gb)) return false;
    try {
      renameSync(this.paths.spareDisk(gb), img);
      return true;
    } catch {
      return false;
    }
  }

  /** Make the spare disk of `gb` GiB in the background (one at a time per size). */
  private makeSpare(gb: number): void {
    const spare = this.paths.spareDisk(gb);
    if (this.spares.has(gb) || existsSync(spare)) return;
    const p = (async () => {
      mkdirSync(dirname(spare), { recursive: true, mode: 0o700 });
      await makeDiskImage(gb, spare, true);
    })()
      .catch((e: unknown) => this.log.warn({ err: e, gb }, 'could not make a spare disk image'))
      .finally(() => this.spares.delete(gb));
    this.spares.set(gb, p);
  }

  private async unmountDisk(ns: string): Promise<void> {
    const mnt = this.paths.diskMount(ns);
    if (await this.mounted(mnt)) await run('umount', [mnt], { allowFail: true });
    rmSync(mnt, { recursive: true, force: true });
  }

  /** The seed and config drive, written before each boot (they are bound read-only into the instance). */
  private async writeGuestFiles(spec: InstanceSpec): Promise<boolean> {
    const files = await this.opts.guestFiles(spec.id, spec.machine!.configDrive);
    const seed = this.paths.seed(spec.id);
    rmSync(seed, { recursive: true, force: true });
    mkdirSync(seed, { mode: 0o755 });
    writeFileSync(join(seed, 'instance-id'), `${spec.id}\n`);
    writeFileSync(join(seed, 'network_data.json'), files?.networkData ?? '{}');
    if (spec.machine!.rescue) writeFileSync(join(seed, 'rescue'), '');
    this.writePersonality(spec, join(seed, 'files'));
    const cd = this.paths.configDrive(spec.id);
    rmSync(cd, { recursive: true, force: true });
    if (!spec.machine!.configDrive || !files?.configDrive) return false;
    for (const [path, data] of files.configDrive) {
      const target = join(cd, path);
      if (!target.startsWith(`${cd}/`)) continue;
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      writeFileSync(target, data, { mode: 0o644 });
    }
    return true;
  }

  /**
   * Personality files for the init to write (`index`: one `<n> <guest path>` line each, contents
   * in `<n>`). Paths that are not absolute paths inside the instance are said on the console.
   */
  private writePersonality(spec: InstanceSpec, dir: string): void {
    const files = spec.machine!.files;
    if (!files.length) return;
    mkdirSync(dir, { mode: 0o755 });
    const index: string[] = [];
    files.forEach((f, n) => {
      const path = personalityPath(f.path);
      if (!path) {
        appendConsole(this.paths.console(spec.id), `[pocketstack] personality file ${JSON.stringify(f.path)} not written: not a path inside the instance\n`);
        return;
      }
      writeFileSync(join(dir, String(n)), Buffer.from(f.contents, 'base64'), { mode: 0o644 });
      index.push(`${n} ${path}`);
    });
    writeFileSync(join(dir, 'index'), index.length ? `${index.join('\n')}\n` : '');
  }

  private async boot(
    spec: InstanceSpec,
    rootKey: string,
    diskKey: string | null,
    nsIno: number,
    prev: MachineState | null,
    ownTrees: string,
  ): Promise<MachineState> {
    const m = spec.machine!;
    const layout = this.opts.cgroups;
    if (!layout) throw new Error('no control groups on this host: flavors cannot be enforced');
    // Where a boot's time goes, in the debug log (the benchmark's boot figure is mostly this).
    const t0 = performance.now();
    const steps: Record<string, number> = {};
    let last = t0;
    const step = (name: string) => {
      const now = performance.now();
      steps[name] = Math.round((now - last) * 10) / 10;
      last = now;
    };
    const dir = this.paths.instanceDir(spec.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Rescued: the rescue image's tree is this host's; the instance's own root is in `ownTrees`.
    const tree = join(diskKey !== null ? this.paths.rootfsDir : ownTrees, rootKey, 'root');
    if (!existsSync(tree)) throw new Error(`its root file system (${rootKey}) is not prepared`);
    await this.disks.get(spec.ns);
    await this.ensureDisk(spec);
    step('disk');
    const own = this.paths.writes(spec.id, spec.ns, this.diskSize(spec) > 0);
    mkdirSync(dirname(own.upper), { recursive: true, mode: 0o700 });
    // Rescued: the rescue image's tree over writes of its own; the instance's root beside it.
    const writes = diskKey !== null ? this.paths.rescueWrites(spec.id) : own;
    mkdirSync(dirname(writes.upper), { recursive: true, mode: 0o700 });
    const diskTree = diskKey !== null ? join(ownTrees, diskKey, 'root') : null;
    if (diskTree && !existsSync(diskTree)) throw new Error(`its root file system (${diskKey}) is not prepared`);
    const hasConfig = await this.writeGuestFiles(spec);
    step('guestFiles');

    ensureGroup(layout, this.parent, spec.ns);
    await this.setPaused(spec, false);
    applyWrites(layout, limitWrites(layout, this.parent, spec.ns, this.limits(spec), prev?.ramMb ?? null, hasMemsw(layout, this.parent, spec.ns)));
    const oomKills = parseOomKills(readGroupFile(layout, oomFile(layout, this.parent, spec.ns)) ?? '');
    step('group');

    const root = this.paths.rootMount(spec.ns);
    mkdirSync(root, { recursive: true });
    const log = this.paths.console(spec.id);
    const fifo = this.paths.consoleIn(spec.id);
    await makeFifo(fifo);
    trimConsole(log);
    appendConsole(
      log,
      `[pocketstack] ${new Date().toISOString()} instance ${spec.id} booting${diskKey !== null ? ' its rescue image' : ''} (${m.flavor.name}: ${m.flavor.vcpus} vCPU, ${m.flavor.ramMb} MiB)\n`,
    );
    const env: Record<string, string> = {
      PATH: TOOL_PATH,
      LC_ALL: 'C',
      SHELL: '/bin/sh',
      PS_OUTER: OUTER_SCRIPT,
      PS_INNER: INNER_SCRIPT,
      // The host's static busybox (checked by helpersDir): the inner script runs it as the
      // instance's root, which cannot search PocketStack's own directories.
      PS_BUSYBOX: BUSYBOX,
      PS_CGROUPS: procsFiles(layout, this.parent, spec.ns).join(' '),
      PS_UID: String(this.opts.ids.base),
      PS_LOWER: `${join(this.helpersDir())}:${tree}`,
      PS_UPPER: writes.upper,
      PS_WORK: writes.work,
      PS_ROOT: root,
      PS_SEED: this.paths.seed(spec.id),
      PS_CONFIG: hasConfig ? this.paths.configDrive(spec.id) : '',
      PS_DISK_LOWER: diskTree ?? '',
      PS_DISK_UPPER: own.upper,
      PS_DISK_WORK: own.work,
      PS_USERNS: this.paths.userns(spec.ns),
      PS_NETNS: `/run/netns/${spec.ns}`,
      PS_HOSTNAME: m.hostname.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 63) || 'instance',
    };
    const out = openSync(log, 'a', 0o600);
    const input = openSync(fifo, 'r+');
    let child: ChildProcess;
    try {
      child = spawn('script', ['-q', '-f', '-e', '-c', 'exec unshare --mount --propagation private -- /bin/sh -c "$PS_OUTER"', '/dev/null'], {
        detached: true,
        stdio: [input, out, out],
        env,
      });
    } finally {
      closeSync(out);
      closeSync(input);
    }
    child.on('error', () => undefined);
    let exited: number | null = null;
    child.on('exit', (code) => {
      exited = code ?? 1;
    });
    child.unref();
    step('console');
    for (let i = 0; i < 600; i++) {
      const init = findInit(groupPids(layout, this.parent, spec.ns));
      if (init !== null) {
        step('spawn');
        this.log.debug({ instance: spec.id, ms: Math.round(performance.now() - t0), steps }, 'machine boot');
        return {
          ns: spec.ns,
          rootKey,
          ...(diskKey !== null ? { rescue: true, diskKey } : {}),
          rootGeneration: m.rootGeneration,
          bootGeneration: spec.bootGeneration,
          nsIno,
          running: true,
          initPid: init,
          initStart: startTime(init),
          ramMb: m.flavor.ramMb,
          oomKills,
          ...(ownTrees !== this.paths.rootfsDir ? { rootDir: ownTrees } : {}),
        };
      }
      if (exited !== null) break;
      await sleep(i < 100 ? 2 : 20);
    }
    const tail = readFileSync(log, 'utf8').split('\n').slice(-6).join(' | ').trim();
    await this.killGroup(spec.ns, 0);
    throw new Error(`the instance did not start: ${tail}`);
  }

  /** Stop: SIGTERM to the init (it ends its processes), then SIGKILL whatever is left after `graceMs`. */
  private async stop(ns: string, st: MachineState | null, graceMs = 3000): Promise<void> {
    const layout = this.opts.cgroups;
    if (layout) applyWrites(layout, [freezeWrite(layout, this.parent, ns, false)]);
    const init = this.initOf(st) ?? (layout ? findInit(groupPids(layout, this.parent, ns)) : null);
    if (init) {
      try {
        process.kill(init, 'SIGTERM');
      } catch {
        // gone already
      }
    }
    await this.killGroup(ns, graceMs);
  }

  /** Wait up to `graceMs` for the group to empty, then kill what is left (and wait for it to go). */
  private async killGroup(ns: string, graceMs: number): Promise<void> {
    const layout = this.opts.cgroups;
    if (!layout) return;
    const until = Date.now() + graceMs;
    while (groupPids(layout, this.parent, ns).length && Date.now() < until) await sleep(20);
    for (let round = 0; round < 50; round++) {
      const pids = groupPids(layout, this.parent, ns);
      if (!pids.length) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sleep(20);
    }
  }

  // ---------------------------------------------------------------- handover (live migration)

  /**
   * Hand a running machine to another host's instance host on this same kernel (a live
   * migration between the lab's simulated hosts): nothing is copied, because nothing leaves the
   * machine — its processes, memory, namespaces, writes and console stay what they are; only who
   * owns them changes. The machine is frozen for the switch (as a hypervisor pauses a guest for
   * the last pass of a live migration), its processes move to a group of the destination's, its
   * namespace and user namespace files, disk mount, root mount point and instance directory are
   * renamed to the destination's, and its state there says the boot `bootGeneration` (so the
   * destination adopts it instead of booting it) and which image trees it still runs from (lent
   * by this host). Its NICs are not here: the caller unplugged them, the destination plugs them in.
   * A step that fails undoes those before it. Resolves to what moves it back.
   */
  async handOver(id: string, ns: string, to: MachineHomeDir, limits: { vcpus: number; ramMb: number }, bootGeneration: number): Promise<() => Promise<void>> {
    const here: Side = { paths: this.paths, parent: this.parent, ns };
    const there: Side = { paths: new MachinePaths(to.dataDir, to.prefix), parent: cgroupParentOf(to.prefix), ns: new Names(to.prefix).instanceNs(id) };
    const prev = this.busy.get(id);
    if (prev !== undefined) await prev.catch(() => undefined);
    const before = this.readState(id)?.bootGeneration ?? bootGeneration;
    const p = this.moveMachine(id, here, there, limits, bootGeneration);
    this.busy.set(id, p);
    try {
      await p;
    } finally {
      if (this.busy.get(id) === p) this.busy.delete(id);
      this.states.delete(id);
    }
    return () => this.takeBack(id, ns, to, limits, before);
  }

  /**
   * Take back a machine this host handed over (to `from`) before the switch was recorded: an
   * abort won, or this agent stopped between the move and the record and the switch was refused.
   */
  async takeBack(id: string, ns: string, from: MachineHomeDir, limits: { vcpus: number; ramMb: number }, bootGeneration: number): Promise<void> {
    const there: Side = { paths: new MachinePaths(from.dataDir, from.prefix), parent: cgroupParentOf(from.prefix), ns: new Names(from.prefix).instanceNs(id) };
    await this.moveMachine(id, there, { paths: this.paths, parent: this.parent, ns }, limits, bootGeneration);
    this.states.delete(id);
  }

  private async moveMachine(id: string, a: Side, b: Side, limits: { vcpus: number; ramMb: number }, bootGeneration: number): Promise<void> {
    const layout = this.opts.cgroups;
    if (!layout) throw new Error('no control groups on this host');
    const st = JSON.parse(readFileSync(a.paths.state(id), 'utf8')) as MachineState;
    if (st.ns !== a.ns || this.initOf(st) === null) throw new Error('the machine is not running here');
    const undo: Array<() => Promise<void> | void> = [];
    const isFrozen = (side: Side) => parseFrozen(layout, readGroupFile(layout, frozenFile(layout, side.parent, side.ns)) ?? '');
    const freeze = async (side: Side, on: boolean) => {
      applyWrites(layout, [freezeWrite(layout, side.parent, side.ns, on)]);
      for (let i = 0; i < 100 && isFrozen(side) !== on; i++) await sleep(10);
    };
    const paused = isFrozen(a);
    try {
      await freeze(a, true);
      undo.push(() => (paused ? undefined : freeze(a, false)));
      // Its processes into the destination's group (frozen too, so nothing runs half-moved).
      ensureGroup(layout, b.parent, b.ns);
      applyWrites(layout, limitWrites(layout, b.parent, b.ns, { ...limits, pids: DEFAULT_PIDS }, null, hasMemsw(layout, b.parent, b.ns)));
      await freeze(b, true);
      const moveAll = (from: Side, into: Side) => {
        for (let round = 0; round < 50; round++) {
          const pids = groupPids(layout, from.parent, from.ns);
          if (!pids.length) return;
          for (const pid of pids) {
            for (const f of procsFiles(layout, into.parent, into.ns)) {
              try {
                writeFileSync(f, String(pid));
              } catch (e) {
                if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
              }
            }
          }
        }
        throw new Error('processes kept appearing in the group being moved');
      };
      moveAll(a, b);
      undo.push(() => moveAll(b, a));
      for (let i = 0; i < 20 && !removeGroup(layout, a.parent, a.ns); i++) await sleep(20);
      undo.push(() => ensureGroup(layout, a.parent, a.ns));
      // The files that keep its namespaces, bound under the destination's names.
      await rebind(`/run/netns/${a.ns}`, `/run/netns/${b.ns}`);
      undo.push(() => rebind(`/run/netns/${b.ns}`, `/run/netns/${a.ns}`));
      await rebind(a.paths.userns(a.ns), b.paths.userns(b.ns));
      undo.push(() => rebind(b.paths.userns(b.ns), a.paths.userns(a.ns)));
      if (await this.mounted(a.paths.diskMount(a.ns))) {
        await rebind(a.paths.diskMount(a.ns), b.paths.diskMount(b.ns), true);
        undo.push(() => rebind(b.paths.diskMount(b.ns), a.paths.diskMount(a.ns), true));
      }
      // Renamed, never removed: its root is mounted there in its own mount namespace.
      if (existsSync(a.paths.rootMount(a.ns))) {
        mkdirSync(dirname(b.paths.rootMount(b.ns)), { recursive: true });
        renameSync(a.paths.rootMount(a.ns), b.paths.rootMount(b.ns));
        undo.push(() => renameSync(b.paths.rootMount(b.ns), a.paths.rootMount(a.ns)));
      }
      mkdirSync(b.paths.instancesDir, { recursive: true, mode: 0o700 });
      rmSync(b.paths.instanceDir(id), { recursive: true, force: true });
      renameSync(a.paths.instanceDir(id), b.paths.instanceDir(id));
      undo.push(() => renameSync(b.paths.instanceDir(id), a.paths.instanceDir(id)));
      const trees = st.rootDir ?? a.paths.rootfsDir;
      const next: MachineState = { ...st, ns: b.ns, bootGeneration };
      delete next.rootDir;
      if (trees !== b.paths.rootfsDir) {
        next.rootDir = trees;
        const key = st.rescue ? st.diskKey : st.rootKey;
        if (key) {
          mkdirSync(join(trees, key, LENT), { recursive: true, mode: 0o700 });
          writeFileSync(join(trees, key, LENT, instanceDirName(id)), b.paths.state(id), { mode: 0o600 });
        }
      }
      const file = b.paths.state(id);
      writeFileSync(`${file}.tmp`, JSON.stringify(next), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      if (!paused) await freeze(b, false);
    } catch (e) {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (err) {
          this.log.warn({ err, instance: id }, 'could not undo a step of a failed handover');
        }
      }
      throw e;
    }
  }

  // ---------------------------------------------------------------- operations for compute

  /**
   * The instance's root file system as it is now (its writes over its image), as a tar stream
   * with the instance's own owners: what createImage saves. A running instance is frozen while
   * it is read, so the archive is consistent.
   */
  async snapshot(spec: InstanceSpec): Promise<Readable> {
    const st = this.readState(spec.id);
    if (!st) throw new Error('the instance has never booted');
    const layout = this.opts.cgroups;
    const tree = join(this.treesOf(st), (st.rescue ? st.diskKey : st.rootKey) ?? st.rootKey, 'root');
    const writes = this.paths.writes(spec.id, spec.ns, this.diskSize(spec) > 0);
    const mnt = this.paths.scratch(`snap-${instanceDirName(spec.id)}`);
    mkdirSync(mnt, { recursive: true });
    const userns = await this.toolsUserns();
    const wasPaused = layout ? parseFrozen(layout, readGroupFile(layout, frozenFile(layout, this.parent, spec.ns)) ?? '') : true;
    const running = this.initOf(st) !== null;
    if (layout && running && !wasPaused) applyWrites(layout, [freezeWrite(layout, this.parent, spec.ns, true)]);
    const lower = existsSync(writes.upper) ? `${writes.upper}:${tree}` : tree;
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', SNAPSHOT_SCRIPT], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: TOOL_PATH, LC_ALL: 'C', PS_LOWER: lower, PS_MNT: mnt, PS_USERNS: userns },
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const done = () => {
      if (layout && running && !wasPaused) applyWrites(layout, [freezeWrite(layout, this.parent, spec.ns, false)]);
      rmSync(mnt, { recursive: true, force: true });
    };
    child.on('close', (code) => {
      done();
      const why = code === 0 ? null : stderr.trim().split('\n').slice(0, 3).join(' | ');
      if (why && !/Cannot (stat|open).*socket|file changed as we read it|socket ignored/.test(why)) child.stdout?.destroy(new Error(`snapshot failed: ${why}`));
    });
    return child.stdout!;
  }

  attachConsole(id: string, onData: (b: Buffer) => void): ConsoleSession {
    return attachConsole(this.paths.console(id), this.paths.consoleIn(id), onData);
  }

  /** Memory the machine uses now (bytes), for the benchmark. */
  memoryUsage(ns: string): number | null {
    const layout = this.opts.cgroups;
    if (!layout) return null;
    const v = readGroupFile(layout, usageFile(layout, this.parent, ns));
    return v === null ? null : Number(v.trim());
  }

  /**
   * Say on an instance's console when the kernel's OOM killer acted inside its group (the limit
   * is its flavor's RAM), as a hypervisor's guest kernel would print it.
   */
  watch(intervalMs = 1000): void {
    if (this.oomTimer || !this.opts.cgroups) return;
    const layout = this.opts.cgroups;
    this.oomTimer = setInterval(() => {
      for (const [id, st] of this.states) {
        if (!st.running) continue;
        const kills = parseOomKills(readGroupFile(layout, oomFile(layout, this.parent, st.ns)) ?? '');
        if (kills <= st.oomKills) continue;
        const n = kills - st.oomKills;
        this.writeState(id, { ...st, oomKills: kills });
        try {
          appendConsole(
            this.paths.console(id),
            `[pocketstack] out of memory: the instance used all ${st.ramMb} MiB of its flavor's RAM; the kernel's OOM killer ended ${n} process${n === 1 ? '' : 'es'} inside it\n`,
          );
        } catch (e) {
          this.log.warn({ err: e, instance: id }, 'cannot write to the console log');
        }
        this.log.info({ instance: id, kills }, 'instance hit its memory limit');
      }
    }, intervalMs);
    this.oomTimer.unref();
  }

  unwatch(): void {
    if (this.oomTimer) clearInterval(this.oomTimer);
    this.oomTimer = null;
  }

  /** Namespaces with a machine group on this host (to adopt or to tear down). */
  groups(): string[] {
    return this.opts.cgroups ? listGroups(this.opts.cgroups, this.parent) : [];
  }

  /** The default image's source: is a static busybox there? (Checked at start, said in the log.) */
  static hostHasBusybox(): boolean {
    return existsSync(BUSYBOX) && !('why' in staticBusybox());
  }
}
