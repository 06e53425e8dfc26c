/**
 * User namespaces that map their root to an unprivileged range of the host's ids, kept alive by
 * bind mounts of their nsfs files (so they outlive any process: an instance that is stopped
 * keeps its identity and its network namespace, and a restart of PocketStack finds both).
 *
 * `unshare --map-users` would need newuidmap and /etc/subuid entries for root; the host's root
 * writes the maps itself instead: a holder process unshares, waits on its stdin, and is released
 * once the maps and the bind mounts are in place.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readlinkSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TOOL_PATH } from '../../../util/which.js';
import { run } from '../exec.js';

/** Host ids `base` … `base + count - 1` are the namespace's 0 … count - 1. */
export interface IdMap {
  base: number;
  count: number;
}

const NSFS_MAGIC = 0x6e736673;

/** Whether `file` is a bind mount of a namespace (so the namespace exists). */
export function isNamespaceFile(file: string): boolean {
  try {
    return statfsSync(file).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function touch(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  if (!existsSync(file)) closeSync(openSync(file, 'w', 0o644));
}

/**
 * A new user namespace at `usernsFile` (and, with `netnsFile`, a network namespace it owns, so
 * the instance's root administers its own interfaces). Files that already hold a namespace are
 * refused: the caller removes them first. `sysctls` are set in the network namespace while
 * its files are bound (each step is a process, and a boot waits for all of them).
 */
export async function createUserns(map: IdMap, usernsFile: string, netnsFile?: string, sysctls: Array<[string, string]> = []): Promise<void> {
  touch(usernsFile);
  if (netnsFile) touch(netnsFile);
  const child = spawn('unshare', ['--user', ...(netnsFile ? ['--net'] : []), '--', 'cat'], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { PATH: TOOL_PATH, LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  child.on('error', () => undefined);
  try {
    const pid = child.pid;
    if (!pid) throw new Error('could not start unshare');
    const mine = readlinkSync('/proc/self/ns/user');
    for (let i = 0; ; i++) {
      let theirs = mine;
      try {
        theirs = readlinkSync(`/proc/${pid}/ns/user`);
      } catch {
        // not yet, or gone
      }
      if (theirs !== mine) break;
      if (child.exitCode !== null || i > 2000) throw new Error(`unshare did not create a user namespace: ${stderr.trim() || 'timed out'}`);
      await sleep(1);
    }
    writeFileSync(`/proc/${pid}/uid_map`, `0 ${map.base} ${map.count}\n`);
    writeFileSync(`/proc/${pid}/gid_map`, `0 ${map.base} ${map.count}\n`);
    // Settled, all of them, before a failure is cleaned up after.
    const steps = await Promise.allSettled([
      run('mount', ['--bind', `/proc/${pid}/ns/user`, usernsFile]),
      netnsFile ? run('mount', ['--bind', `/proc/${pid}/ns/net`, netnsFile]) : undefined,
      // The host's root in the namespace's network namespace only (its sysctls are that
      // namespace's): what `ip netns exec` does, without its private /sys.
      netnsFile && sysctls.length
        ? run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'sysctl', '-q', '-w', ...sysctls.map(([k, v]) => `${k}=${v}`)])
        : undefined,
    ]);
    for (const r of steps) if (r.status === 'rejected') throw r.reason;
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await removeNamespaceFile(usernsFile);
    if (netnsFile) await removeNamespaceFile(netnsFile);
    throw e;
  }
  child.stdin.end();
  await exited;
}

/** Unmount and remove a namespace file (the namespace goes once nothing else holds it). */
export async function removeNamespaceFile(file: string): Promise<void> {
  if (!existsSync(file)) return;
  await run('umount', ['-l', file], { allowFail: true });
  rmSync(file, { force: true });
}
