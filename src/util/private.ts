/**
 * The data directory holds every password hash, token hash and project's data: it is the
 * owner's alone. Directories are 0700 and files 0600 (an executable keeps its owner's execute
 * bit: 0700), whatever the umask; a directory left readable by others (an older PocketStack, a
 * copy, a umask of 022) is closed at start, and what was changed is reported for the log.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Mode bits no one but the owner may have. */
const OTHERS = 0o077;

/** Create `dir` (and its parents) if missing; the directory itself is made 0700. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Make `dir` and everything under it private: directories 0700, files without group or other
 * bits (0644 → 0600, 0755 → 0700). Symbolic links are neither followed nor changed. Returns the
 * paths whose modes were changed, with their old modes.
 */
export function closeDataDir(dir: string): Array<{ path: string; was: string }> {
  const changed: Array<{ path: string; was: string }> = [];
  const walk = (path: string, top: boolean) => {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) return;
    const mode = st.mode & 0o7777;
    const want = st.isDirectory() ? 0o700 : mode & ~OTHERS & 0o7777;
    if (mode !== want && (top || st.isDirectory() || st.isFile())) {
      chmodSync(path, want);
      changed.push({ path, was: mode.toString(8).padStart(4, '0') });
    }
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), false);
  };
  walk(dir, true);
  return changed;
}
