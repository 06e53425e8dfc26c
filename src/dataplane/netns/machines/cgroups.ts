/**
 * Flavors enforced by control groups, on either hierarchy the host runs:
 *
 *   v2 (one tree at /sys/fs/cgroup):  memory.max, memory.swap.max, cpu.max, pids.max,
 *                                     cgroup.freeze (pause), memory.events' oom_kill
 *   v1 (a tree per controller):        memory.limit_in_bytes (+ memsw), cpu.cfs_quota_us,
 *                                     pids.max, freezer.state, memory.oom_control's oom_kill
 *
 * Each instance has its own group, `pocketstack-<prefix>/<namespace>`, made beside the host's
 * services (not under PocketStack's own group: a service manager stopping PocketStack must not
 * take the instances with it; a restart adopts them). What to write is planned here as data
 * (unit-tested); writing it is the few functions at the end.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupVersion = 1 | 2;

export interface CgroupLayout {
  version: CgroupVersion;
  /** v2: the unified mount; v1: the directory holding one mount per controller. */
  root: string;
}

/** The resources a flavor gives: vCPUs, RAM (MiB); plus the process cap every instance has. */
export interface Limits {
  vcpus: number;
  ramMb: number;
  /** Processes and threads (a fork bomb stays inside its instance). */
  pids: number;
}

/** Controllers an instance group uses, per hierarchy. */
export const V1_CONTROLLERS = ['memory', 'cpu', 'pids', 'freezer'] as const;
const V2_CONTROLLERS = ['memory', 'cpu', 'pids'];

/** The CPU period (µs) a vCPU's quota is measured against: one vCPU is 100 ms per 100 ms. */
export const CPU_PERIOD_US = 100_000;
/** Processes (and threads) per instance. */
export const DEFAULT_PIDS = 2048;

/** v2 when /sys/fs/cgroup is the unified hierarchy with controllers; v1 when the controllers have their own mounts. */
export function detectCgroups(base = '/sys/fs/cgroup'): CgroupLayout | null {
  if (existsSync(join(base, 'cgroup.controllers'))) {
    const ctl = readFileSync(join(base, 'cgroup.controllers'), 'utf8').split(/\s+/);
    if (V2_CONTROLLERS.every((c) => ctl.includes(c))) return { version: 2, root: base };
  }
  if (V1_CONTROLLERS.every((c) => existsSync(join(base, c, 'cgroup.procs')))) return { version: 1, root: base };
  return null;
}

/** A file of an instance's group and what to write into it. */
export interface CgroupWrite {
  /** Relative to the layout root: `memory/pocketstack-ps/psi-…/memory.limit_in_bytes` or `pocketstack-ps/psi-…/memory.max`. */
  file: string;
  value: string;
}

/** The group's directories, one per hierarchy (v1) or one (v2), relative to the layout root. */
export function groupDirs(layout: CgroupLayout, parent: string, name: string): string[] {
  return layout.version === 2 ? [`${parent}/${name}`] : V1_CONTROLLERS.map((c) => `${c}/${parent}/${name}`);
}

/** Where to write a pid to move it (and its future children) into the group. */
export function procsFiles(layout: CgroupLayout, parent: string, name: string): string[] {
  return groupDirs(layout, parent, name).map((d) => join(layout.root, d, 'cgroup.procs'));
}

/**
 * What enforces `limits`, in writing order. v1 refuses a memory limit above memsw's and a memsw
 * limit below memory's: the pair is written in the order that is valid from any previous value
 * (memory first when lowering, memsw first when raising; `previousMb` says which).
 */
export function limitWrites(layout: CgroupLayout, parent: string, name: string, l: Limits, previousMb: number | null, hasMemsw: boolean): CgroupWrite[] {
  const bytes = String(Math.max(1, l.ramMb) * 1024 * 1024);
  const quota = String(Math.max(1, l.vcpus) * CPU_PERIOD_US);
  if (layout.version === 2) {
    const g = `${parent}/${name}`;
    return [
      { file: `${g}/memory.max`, value: bytes },
      { file: `${g}/memory.swap.max`, value: '0' },
      { file: `${g}/cpu.max`, value: `${quota} ${CPU_PERIOD_US}` },
      { file: `${g}/pids.max`, value: String(l.pids) },
    ];
  }
  const mem = [{ file: `memory/${parent}/${name}/memory.limit_in_bytes`, value: bytes }];
  if (hasMemsw) {
    const sw = { file: `memory/${parent}/${name}/memory.memsw.limit_in_bytes`, value: bytes };
    if (previousMb !== null && l.ramMb > previousMb) mem.unshift(sw);
    else mem.push(sw);
  }
  return [
    ...mem,
    { file: `cpu/${parent}/${name}/cpu.cfs_period_us`, value: String(CPU_PERIOD_US) },
    { file: `cpu/${parent}/${name}/cpu.cfs_quota_us`, value: quota },
    { file: `pids/${parent}/${name}/pids.max`, value: String(l.pids) },
  ];
}

/** Freeze (pause) or thaw the group. */
export function freezeWrite(layout: CgroupLayout, parent: string, name: string, frozen: boolean): CgroupWrite {
  return layout.version === 2
    ? { file: `${parent}/${name}/cgroup.freeze`, value: frozen ? '1' : '0' }
    : { file: `freezer/${parent}/${name}/freezer.state`, value: frozen ? 'FROZEN' : 'THAWED' };
}

/** The OOM kills counted so far, from memory.events (v2) or memory.oom_control (v1). */
export function parseOomKills(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** The file whose `oom_kill` line counts the kills in the group. */
export function oomFile(layout: CgroupLayout, parent: string, name: string): string {
  return layout.version === 2 ? `${parent}/${name}/memory.events` : `memory/${parent}/${name}/memory.oom_control`;
}

/** Memory in use by the group (bytes), from memory.current (v2) or memory.usage_in_bytes (v1). */
export function usageFile(layout: CgroupLayout, parent: string, name: string): string {
  return layout.version === 2 ? `${parent}/${name}/memory.current` : `memory/${parent}/${name}/memory.usage_in_bytes`;
}

/** Whether the group is frozen now (v2 cgroup.events' `frozen 1`; v1 freezer.state FROZEN). */
export function parseFrozen(layout: CgroupLayout, text: string): boolean {
  return layout.version === 2 ? /^frozen 1$/m.test(text) : text.trim() === 'FROZEN';
}

export function frozenFile(layout: CgroupLayout, parent: string, name: string): string {
  return layout.version === 2 ? `${parent}/${name}/cgroup.events` : `freezer/${parent}/${name}/freezer.state`;
}

// ------------------------------------------------------------------ effects

/** v2 only hands a controller to a group whose parent enables it for its children. */
function enableV2Controllers(layout: CgroupLayout, parent: string): void {
  for (const dir of [layout.root, join(layout.root, parent)]) {
    const file = join(dir, 'cgroup.subtree_control');
    const have = readFileSync(file, 'utf8').split(/\s+/);
    const missing = V2_CONTROLLERS.filter((c) => !have.includes(c));
    if (missing.length) writeFileSync(file, missing.map((c) => `+${c}`).join(' '));
  }
}

/** Make the group (and its parent) on every hierarchy; idempotent. */
export function ensureGroup(layout: CgroupLayout, parent: string, name: string): void {
  if (layout.version === 2) {
    mkdirSync(join(layout.root, parent), { recursive: true });
    enableV2Controllers(layout, parent);
  }
  for (const d of groupDirs(layout, parent, name)) mkdirSync(join(layout.root, d), { recursive: true });
}

export function applyWrites(layout: CgroupLayout, writes: CgroupWrite[]): void {
  for (const w of writes) writeFileSync(join(layout.root, w.file), w.value);
}

export function hasMemsw(layout: CgroupLayout, parent: string, name: string): boolean {
  return layout.version === 1 && existsSync(join(layout.root, 'memory', parent, name, 'memory.memsw.limit_in_bytes'));
}

/** Pids in the group (the first hierarchy's view: every process is in all of them). */
export function groupPids(layout: CgroupLayout, parent: string, name: string): number[] {
  try {
    const text = readFileSync(procsFiles(layout, parent, name)[0], 'utf8');
    return text.split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function readGroupFile(layout: CgroupLayout, file: string): string | null {
  try {
    return readFileSync(join(layout.root, file), 'utf8');
  } catch {
    return null;
  }
}

/** Remove an empty group; false while processes (or zombies being reaped) remain. */
export function removeGroup(layout: CgroupLayout, parent: string, name: string): boolean {
  let ok = true;
  for (const d of groupDirs(layout, parent, name)) {
    try {
      rmdirSync(join(layout.root, d));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') ok = false;
    }
  }
  return ok;
}

/** Groups under `parent` (namespace names), for adoption and teardown. */
export function listGroups(layout: CgroupLayout, parent: string): string[] {
  const dir = layout.version === 2 ? join(layout.root, parent) : join(layout.root, 'memory', parent);
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}
