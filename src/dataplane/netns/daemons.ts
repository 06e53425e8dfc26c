/**
 * What the data plane's per-namespace daemons (dnsmasq per network, keepalived per HA router)
 * share, as Neutron's ProcessManager keeps them: a directory of files per daemon, a pid file the
 * daemon writes, processes that outlive PocketStack and are found again by their pid files, and
 * the namespace's identity recorded at start so a daemon left serving a recreated namespace is
 * replaced.
 */
import { readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The process of `pidFile` while it is still the daemon we started: its command line holds
 * `marker` (a path of its own directory). A pid reused by another process does not count.
 */
export function daemonPid(pidFile: string, marker: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!pid) return null;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) ? pid : null;
  } catch {
    return null;
  }
}

/** Write `file` (atomically, by rename) unless it already holds `text`; whether it changed. */
export function replaceIfChanged(file: string, text: string, mode: number): boolean {
  try {
    if (readFileSync(file, 'utf8') === text) return false;
  } catch {
    // not written yet
  }
  writeFileSync(`${file}.tmp`, text, { mode });
  renameSync(`${file}.tmp`, file);
  return true;
}

/** A named namespace's identity (its inode), '' when it does not exist. */
export function namespaceInode(ns: string): string {
  try {
    return String(statSync(`/run/netns/${ns}`).ino);
  } catch {
    return '';
  }
}

/** The file's text, '' when there is none. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * SIGTERM the daemon `current()` finds, wait up to `waitMs` for it to go, then (with `kill`)
 * SIGKILL it if it is still there.
 */
export async function stopDaemon(current: () => number | null, opts: { waitMs: number; kill: boolean }): Promise<void> {
  const pid = current();
  if (pid === null) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < opts.waitMs && current() === pid; waited += 20) await sleep(20);
  if (opts.kill && current() === pid) process.kill(pid, 'SIGKILL');
}

/**
 * Stop (with `stop`, given the entry's path) and remove every entry of the daemons' directory
 * `dir` not named in `keep`: daemons of what is no longer wanted here, or left by an earlier run
 * (a restart adopts the ones it keeps, as Neutron's agents do with their pid files).
 */
export async function removeOthers(dir: string, keep: ReadonlySet<string>, stop: (path: string) => Promise<void>): Promise<void> {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    entries = [];
  }
  for (const e of entries) {
    if (keep.has(e)) continue;
    const path = join(dir, e);
    await stop(path);
    rmSync(path, { recursive: true, force: true });
  }
}
