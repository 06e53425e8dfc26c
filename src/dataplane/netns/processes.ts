import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { consoleLogPath } from '../../core/compute/host.js';
import { killNamespaceProcesses, namespacePids } from './kernel.js';
import type { InstanceRunner } from './machine.js';
import type { InstanceFreeze, InstanceSpec } from './model.js';

/**
 * An instance's workload: its user_data, when it is a script, runs inside the instance's
 * namespace as an unprivileged user (never root), in a per-instance working directory, with
 * stdout and stderr appended to the console log. The process tree outlives PocketStack (a
 * restart must not reboot every instance); what booted is recorded next to it, so a restart
 * neither runs a script twice nor misses a reboot.
 *
 * Compute's actions, as a namespace can carry them out: pause and suspend freeze the instance's
 * processes (SIGSTOP; resume and unpause send SIGCONT), reboot, rebuild, resize and unrescue boot
 * it again, rescue boots it without the user's user_data (the rescue image runs nothing of the
 * user's), stop and shelve kill its processes. Personality files are written under `files/` in
 * the instance's working directory (a namespace shares the host's file system: the guest path
 * `/etc/motd` is `files/etc/motd` there), where its user_data process can read them.
 */

export interface InstanceUser {
  name: string;
  uid: number;
  gid: number;
}

/** A safe directory name for an instance id (UUIDs as they are; anything else hashed). */
export function instanceDirName(id: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id) ? id : createHash('sha256').update(id).digest('hex');
}

/** The instance's working directory: where compute reads its console log from. */
export function instanceDir(dataDir: string, id: string): string {
  return dirname(consoleLogPath(dataDir, instanceDirName(id)));
}

const consoleOf = (dataDir: string, id: string) => consoleLogPath(dataDir, instanceDirName(id));

/** Look a user up in /etc/passwd; refuses root (user code never runs as root). */
export function resolveUser(name: string, passwd = '/etc/passwd'): InstanceUser {
  for (const line of readFileSync(passwd, 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user !== name || uid === undefined) continue;
    const u = { name, uid: Number(uid), gid: Number(gid) };
    if (u.uid === 0 || u.gid === 0) throw new Error(`instance user '${name}' is root; user_data never runs as root`);
    return u;
  }
  throw new Error(`instance user '${name}' does not exist (see /etc/passwd)`);
}

interface BootState {
  nsIno: number;
  generation: number;
  running: boolean;
  /** Frozen processes (pause or suspend), or null. */
  frozen?: InstanceFreeze;
}

export interface ProcessOptions {
  /** PocketStack's data directory (instances live in `<dataDir>/instances/<id>/`). */
  dataDir: string;
  user: InstanceUser | null;
  /** Running tenant-supplied code on the host is opt-in. */
  runUserData: boolean;
}

const isScript = (s: string | null): s is string => typeof s === 'string' && s.startsWith('#!');

/** Where a personality file goes in the instance's directory: `files/<guest path>`, never outside it. */
export function personalityPath(dir: string, guestPath: string): string | null {
  const rel = normalize(`/${guestPath}`).replace(/^\/+/, '');
  if (rel === '' || rel.split('/').includes('..')) return null;
  return join(dir, 'files', rel);
}

/** Send a signal to every process of a namespace (stop or continue them). */
async function signalNamespace(ns: string, sig: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
  // Twice: a process forked while the first round ran is caught by the second.
  for (let round = 0; round < 2; round++) {
    for (const pid of await namespacePids(ns)) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  }
}

export class InstanceProcesses implements InstanceRunner {
  /** What each instance's processes were last left as (frozen or not), as its state file says. */
  private readonly frozen = new Map<string, InstanceFreeze>();

  constructor(private readonly opts: ProcessOptions) {}

  /** `paused`/`suspended` when the instance's processes are frozen (what the host reports). */
  frozenAs(id: string): InstanceFreeze {
    if (!this.frozen.has(id)) this.frozen.set(id, this.readState(id)?.frozen ?? null);
    return this.frozen.get(id) ?? null;
  }

  private dir(id: string): string {
    return instanceDir(this.opts.dataDir, id);
  }

  private readState(id: string): BootState | null {
    try {
      return JSON.parse(readFileSync(join(this.dir(id), 'state.json'), 'utf8')) as BootState;
    } catch {
      return null;
    }
  }

  private writeState(id: string, s: BootState): void {
    writeFileSync(join(this.dir(id), 'state.json'), JSON.stringify(s), { mode: 0o600 });
  }

  private console(id: string, text: string): void {
    const fd = openSync(consoleOf(this.opts.dataDir, id), 'a', 0o600);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  }

  private ensureDir(id: string): string {
    const dir = this.dir(id);
    // Private like the rest of the data directory: instances reach their own directory as their cwd.
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
    if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
    if (this.opts.user) chownSync(dir, this.opts.user.uid, this.opts.user.gid);
    chmodSync(dir, 0o700);
    return dir;
  }

  /**
   * Make the instance's processes match its desired power state. `nsIno` identifies this
   * incarnation of the namespace: a namespace rebuilt after a host reboot is a fresh boot.
   */
  async reconcile(spec: InstanceSpec, nsIno: number): Promise<'booted' | 'stopped' | 'frozen' | 'thawed' | 'unchanged'> {
    const state = this.readState(spec.id);
    if (!spec.running) {
      if (state?.running === false) return 'unchanged';
      this.ensureDir(spec.id);
      if (state?.frozen) await signalNamespace(spec.ns, 'SIGCONT');
      await killNamespaceProcesses(spec.ns);
      this.writeState(spec.id, { nsIno, generation: spec.bootGeneration, running: false, frozen: null });
      return 'stopped';
    }
    let result: 'booted' | 'frozen' | 'thawed' | 'unchanged' = 'unchanged';
    let frozen = state?.frozen ?? null;
    if (!(state?.running && state.nsIno === nsIno && state.generation === spec.bootGeneration)) {
      const dir = this.ensureDir(spec.id);
      if (frozen) await signalNamespace(spec.ns, 'SIGCONT');
      await killNamespaceProcesses(spec.ns);
      frozen = null;
      if (spec.rescue) {
        this.console(spec.id, `[pocketstack] ${new Date().toISOString()} instance ${spec.id} booting its rescue image\n`);
      } else {
        this.console(spec.id, `[pocketstack] ${new Date().toISOString()} instance ${spec.id} booting\n`);
        this.writeFiles(spec, dir);
        if (spec.userData !== null) this.startUserData(spec, dir);
      }
      result = 'booted';
    }
    if (spec.frozen && !frozen) {
      await signalNamespace(spec.ns, 'SIGSTOP');
      this.console(spec.id, `[pocketstack] ${new Date().toISOString()} instance ${spec.id} ${spec.frozen}\n`);
      result = 'frozen';
    } else if (!spec.frozen && frozen) {
      await signalNamespace(spec.ns, 'SIGCONT');
      this.console(spec.id, `[pocketstack] ${new Date().toISOString()} instance ${spec.id} resumed\n`);
      result = 'thawed';
    }
    this.frozen.set(spec.id, spec.frozen);
    if (result !== 'unchanged') this.writeState(spec.id, { nsIno, generation: spec.bootGeneration, running: true, frozen: spec.frozen });
    return result;
  }

  /** Personality files, written afresh at every boot (a rebuild may bring others). */
  private writeFiles(spec: InstanceSpec, dir: string): void {
    rmSync(join(dir, 'files'), { recursive: true, force: true });
    for (const f of spec.files) {
      const path = personalityPath(dir, f.path);
      if (!path) {
        this.console(spec.id, `[pocketstack] personality file ${JSON.stringify(f.path)} not written: not a path inside the instance\n`);
        continue;
      }
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      writeFileSync(path, Buffer.from(f.contents, 'base64'), { mode: 0o644 });
      if (this.opts.user) {
        for (let d = dirname(path); d.startsWith(join(dir, 'files')); d = dirname(d)) chownSync(d, this.opts.user.uid, this.opts.user.gid);
        chownSync(path, this.opts.user.uid, this.opts.user.gid);
      }
    }
  }

  /** Working directories of instances that no longer exist (their console logs go with them). */
  removeAllBut(keep: ReadonlySet<string>): void {
    const dirs = new Set([...keep].map(instanceDirName));
    const base = dirname(this.dir('x'));
    let entries: string[] = [];
    try {
      entries = readdirSync(base);
    } catch {
      return;
    }
    for (const e of entries) if (!dirs.has(e)) rmSync(join(base, e), { recursive: true, force: true });
  }

  private startUserData(spec: InstanceSpec, dir: string): void {
    if (!isScript(spec.userData)) {
      this.console(spec.id, '[pocketstack] user_data is not a script (no #! line); nothing to run\n');
      return;
    }
    if (!this.opts.runUserData || !this.opts.user) {
      this.console(spec.id, '[pocketstack] user_data not run: running user_data is disabled on this cloud (serve --run-user-data)\n');
      return;
    }
    const user = this.opts.user;
    const script = join(dir, 'user-data');
    // The instance's user runs it; no one else reads it (the data directory is private).
    writeFileSync(script, spec.userData, { mode: 0o700 });
    chownSync(script, user.uid, user.gid);
    chmodSync(script, 0o700);
    const log = openSync(consoleOf(this.opts.dataDir, spec.id), 'a', 0o600);
    try {
      // cwd is the instance directory (its parents may be closed to the user); the script runs
      // by a relative path, as the unprivileged user, unable to regain privileges.
      const child = spawn(
        'ip',
        ['netns', 'exec', spec.ns, 'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--no-new-privs', '--', './user-data'],
        {
          cwd: dir,
          detached: true,
          stdio: ['ignore', log, log],
          env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir, USER: user.name, LOGNAME: user.name, LANG: 'C.UTF-8', INSTANCE_ID: spec.id },
        },
      );
      child.on('error', () => undefined);
      child.unref();
    } finally {
      closeSync(log);
    }
  }
}
