import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../exec.js';
import { applyWrites, detectCgroups, freezeWrite, groupPids, listGroups, removeGroup } from './cgroups.js';
import { cgroupParentOf, runDirOf } from './paths.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Remove every machine of a prefix: kill what runs in their control groups and remove the groups,
 * unmount their disks and namespace files under /run/pocketstack/<prefix>, and — given the data
 * directory — their writes, console logs and the image trees (`dataplane down`).
 */
export async function teardownMachines(prefix: string, dataDir?: string): Promise<string[]> {
  const layout = detectCgroups();
  const parent = cgroupParentOf(prefix);
  const groups = layout ? listGroups(layout, parent) : [];
  if (layout) {
    for (const g of groups) {
      try {
        applyWrites(layout, [freezeWrite(layout, parent, g, false)]);
      } catch {
        // no freezer file: nothing frozen
      }
      for (let round = 0; round < 50; round++) {
        const pids = groupPids(layout, parent, g);
        if (!pids.length) break;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await sleep(20);
      }
      for (let i = 0; i < 20 && !removeGroup(layout, parent, g); i++) await sleep(50);
    }
    for (let i = 0; i < 20 && !removeGroup(layout, '', parent); i++) await sleep(50);
  }
  const runDir = runDirOf(prefix);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(`${runDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m], { allowFail: true });
  rmSync(runDir, { recursive: true, force: true });
  if (dataDir) for (const d of ['instances', 'rootfs', 'machine']) rmSync(join(dataDir, d), { recursive: true, force: true });
  return groups;
}
