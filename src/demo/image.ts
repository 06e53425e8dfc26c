import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRACTAL_APP } from './app.js';

/**
 * The Fractal tiers' image: a root file system as a tar archive (Glance `container_format`
 * `docker`), holding this host's `node` with the shared libraries it links (as `ldd` lists them),
 * busybox as /bin/sh and the usual applets, and the program itself at /opt/fractal/fractal.mjs.
 * Today an instance runs its user_data on the host's own file system and this image's contents are
 * not used; once instances boot from their image's file system (a busybox root, user_data as root
 * inside), the same user_data finds /usr/bin/node there. Nothing is downloaded.
 */
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'id', 'mkdir', 'sleep', 'ip', 'wget', 'ps', 'kill', 'env'];

function libsOf(binary: string): string[] {
  let out = '';
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // A static binary ("not a dynamic executable"): nothing to add.
    return [];
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** Build the archive in a temporary directory; returns its path (the caller removes `dir`). */
export function buildFractalImage(nodeBinary = process.execPath): { file: string; dir: string; contents: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'pocketstack-fractal-'));
  const stage = join(dir, 'root');
  const files = [nodeBinary, ...libsOf(nodeBinary)];
  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p));
  if (busybox) files.push(busybox, ...libsOf(busybox).filter((l) => !files.includes(l)));
  // Links and the program: a small staging tree added after the real files.
  mkdirSync(join(stage, 'bin'), { recursive: true });
  mkdirSync(join(stage, 'usr/bin'), { recursive: true });
  mkdirSync(join(stage, 'opt/fractal'), { recursive: true });
  mkdirSync(join(stage, 'tmp'), { recursive: true });
  writeFileSync(join(stage, 'opt/fractal/fractal.mjs'), FRACTAL_APP.trimStart());
  if (busybox) {
    for (const a of APPLETS) symlinkSync(busybox, join(stage, 'bin', a));
  }
  if (nodeBinary !== '/usr/bin/node') symlinkSync(nodeBinary, join(stage, 'usr/bin/node'));
  const file = join(dir, 'fractal-rootfs.tar');
  // The binaries and libraries themselves (symlinks followed: the files, under their paths) …
  execFileSync('tar', ['-cf', file, '--dereference', '-C', '/', ...files.map((f) => f.replace(/^\//, ''))]);
  // … then the staging tree as it is (its links stay links).
  execFileSync('tar', ['-rf', file, '-C', stage, '.']);
  return { file, dir, contents: [...files, ...(busybox ? APPLETS.map((a) => `/bin/${a} -> ${busybox}`) : []), '/opt/fractal/fractal.mjs'] };
}

export function removeImageDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export const readImage = (file: string): Buffer => readFileSync(file);
