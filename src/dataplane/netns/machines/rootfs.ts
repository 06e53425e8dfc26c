/**
 * Images as root file systems: an image's data, once, becomes a directory tree that instances
 * booted from it share as the read-only lower layer of their overlay. What an image may be:
 *
 *   - a tar of a root file system (Glance's `docker` container format, or `bare` with a tar
 *     payload), plain or gzip/xz/bzip2-compressed;
 *   - a raw disk holding a file system the kernel mounts (ext*, xfs, btrfs, vfat, iso9660,
 *     squashfs…), bare or in the first partition that has one.
 *
 * Anything else (qcow2, a `docker save` archive of layers, no data at all) is refused with the
 * reason, which becomes the server's fault; nothing is left behind. The tree is written by the
 * root of the tools' user namespace, so its owners are already those the instances see (0 is the
 * range's base on the host) and a hostile archive can write nowhere but into its own directory.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { TOOL_PATH } from '../../../util/which.js';
import { run } from '../exec.js';
import { RAW_UNPACK_SCRIPT, TAR_UNPACK_SCRIPT } from './boot.js';
import { looksLikeTar } from './tar.js';

/** An image as the data plane needs it. */
export interface ImageRef {
  id: string;
  /** Glance's MD5 checksum of the data (null: no data). */
  checksum: string | null;
  diskFormat: string | null;
  containerFormat: string | null;
  /** The data file. */
  path: string;
}

export type RootfsState = { state: 'ready'; dir: string } | { state: 'pending' } | { state: 'error'; reason: string };

/** What the first bytes of an image say it is. */
export type ImageKind = { kind: 'tar'; flags: string[] } | { kind: 'raw' } | { kind: 'refused'; reason: string };

/** Classify image data by its first bytes (Glance's formats are the uploader's word; the bytes decide). */
export function classifyImage(head: Buffer, size: number): ImageKind {
  if (size === 0) return { kind: 'refused', reason: 'the image has no data' };
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'QFI\xfb') {
    return {
      kind: 'refused',
      reason: 'the image is qcow2, which this host cannot mount: convert it (qemu-img convert -O raw) or upload a tar of its root file system',
    };
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return { kind: 'tar', flags: ['-z'] };
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return { kind: 'tar', flags: ['-J'] };
  if (head.toString('latin1', 0, 3) === 'BZh') return { kind: 'tar', flags: ['-j'] };
  if (looksLikeTar(head)) return { kind: 'tar', flags: [] };
  return { kind: 'raw' };
}

/** The cache key: one tree per image and data (a re-uploaded image under the same id is a new tree). */
export const rootfsKey = (img: ImageRef) => `${img.id}-${(img.checksum ?? 'none').slice(0, 12)}`;

/** tar's complaints that do not make the tree unusable: owners outside the range, device nodes. */
const HARMLESS = [/Cannot change ownership/, /Cannot mknod/, /Exiting with failure status due to previous errors/, /Cannot utime/];

export function tarFailure(code: number, stderr: string): string | null {
  if (code === 0) return null;
  const serious = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !HARMLESS.some((re) => re.test(l)));
  if (code === 2 && serious.length === 0) return null;
  return serious.slice(0, 3).join(' | ') || `tar exited ${code}`;
}

export interface RootfsOptions {
  /** Where trees live (`<data dir>/rootfs`). */
  dir: string;
  /** The instances' id range base: the tree's root directory belongs to the range's 0. */
  idBase: number;
  /** The tools' user namespace file (rootfs trees are written by its root). */
  toolsUserns: () => Promise<string>;
  /** Scratch mount points live here (a private mount namespace mounts on them). */
  runDir: string;
}

function readHead(path: string, n = 1024): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function sh(script: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: TOOL_PATH, LC_ALL: 'C', ...env },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += b.toString();
    });
    child.on('error', (e) => resolve({ code: 127, stderr: String(e) }));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/** Image trees, made once per image and shared; preparation runs in the background. */
export class RootfsCache {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, string>();

  constructor(private readonly opts: RootfsOptions) {}

  private treeDir(key: string): string {
    return join(this.opts.dir, key);
  }

  /** Where the image stands; `ensure` starts the work. */
  state(img: ImageRef): RootfsState {
    const key = rootfsKey(img);
    const why = this.failed.get(key);
    if (why !== undefined) return { state: 'error', reason: why };
    if (existsSync(join(this.treeDir(key), '.ready'))) return { state: 'ready', dir: join(this.treeDir(key), 'root') };
    return { state: 'pending' };
  }

  /** Prepare the tree unless it is ready, being prepared, or refused; `done` runs when it settles. */
  ensure(img: ImageRef, done: () => void): void {
    const key = rootfsKey(img);
    if (this.inflight.has(key) || this.state(img).state !== 'pending') return;
    const p = this.prepare(img)
      .catch((e: unknown) => {
        this.failed.set(key, e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        this.inflight.delete(key);
        done();
      });
    this.inflight.set(key, p);
  }

  /** Forget a refusal (the image's data changed, or the operator fixed the host). */
  retry(img: ImageRef): void {
    this.failed.delete(rootfsKey(img));
  }

  private async prepare(img: ImageRef): Promise<void> {
    const key = rootfsKey(img);
    if (!img.checksum || !existsSync(img.path)) throw new Error(`image ${img.id} has no data: nothing to boot`);
    const size = statSync(img.path).size;
    const kind = classifyImage(readHead(img.path), size);
    if (kind.kind === 'refused') throw new Error(`image ${img.id} is not a usable root file system: ${kind.reason}`);
    const part = `${this.treeDir(key)}.part`;
    rmSync(part, { recursive: true, force: true });
    const target = join(part, 'root');
    mkdirSync(target, { recursive: true, mode: 0o755 });
    chownSync(target, this.opts.idBase, this.opts.idBase);
    const userns = await this.opts.toolsUserns();
    try {
      if (kind.kind === 'tar') await this.unpackTar(img, kind.flags, target, userns);
      else await this.unpackRaw(img, target, userns);
      const entries = readdirSync(target);
      if (entries.length === 0) throw new Error('the archive holds no files');
      if (entries.includes('manifest.json') && !entries.includes('etc') && !entries.includes('bin')) {
        throw new Error('it is a `docker save` archive (image layers), not a root file system: upload `docker export` output instead');
      }
      writeFileSync(join(part, '.ready'), `${img.id}\n`);
      rmSync(this.treeDir(key), { recursive: true, force: true });
      renameSync(part, this.treeDir(key));
    } catch (e) {
      rmSync(part, { recursive: true, force: true });
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(why.startsWith('image ') ? why : `image ${img.id} is not a usable root file system: ${why}`);
    }
  }

  private async unpackTar(img: ImageRef, flags: string[], target: string, userns: string): Promise<void> {
    const r = await sh(TAR_UNPACK_SCRIPT, { PS_TARGET: target, PS_USERNS: userns, PS_IMAGE: img.path, PS_TAR_FLAGS: flags.join(' ') });
    const why = tarFailure(r.code, r.stderr);
    if (why) throw new Error(`not a tar archive tar can read: ${why}`);
  }

  /** A raw disk: the file system itself, or the first partition that holds one. */
  private async unpackRaw(img: ImageRef, target: string, userns: string): Promise<void> {
    const fsType = (await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', img.path], { allowFail: true })).stdout.trim();
    let opts = '';
    if (!fsType) {
      const parts = await run('partx', ['-r', '-g', '-o', 'START', img.path], { allowFail: true });
      const starts = parts.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim()));
      let found = '';
      for (const s of starts) {
        const offset = Number(s) * 512;
        const t = (await run('blkid', ['-p', '-O', String(offset), '-o', 'value', '-s', 'TYPE', img.path], { allowFail: true })).stdout.trim();
        if (t) {
          found = `,offset=${offset}`;
          break;
        }
      }
      if (!found) throw new Error('neither a tar archive nor a disk with a file system the kernel can mount (blkid found none)');
      opts = found;
    }
    const mnt = join(this.opts.runDir, 'mnt', rootfsKey(img));
    mkdirSync(mnt, { recursive: true });
    try {
      const r = await sh(RAW_UNPACK_SCRIPT, { PS_IMAGE: img.path, PS_MNT: mnt, PS_TARGET: target, PS_USERNS: userns, PS_MOUNT_OPTS: opts });
      const why = tarFailure(r.code, r.stderr);
      if (why) throw new Error(`its file system could not be read: ${why}`);
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  }

  /** Trees of images no instance uses any more (`keep`: cache keys in use). */
  removeAllBut(keep: ReadonlySet<string>): void {
    let entries: string[] = [];
    try {
      entries = readdirSync(this.opts.dir);
    } catch {
      return;
    }
    // A tree being unpacked (`<key>.part`) belongs to an instance still waiting for it, which no
    // instance's state names yet: it is kept while its work is in flight.
    for (const e of entries) {
      const key = e.replace(/\.part$/, '');
      if (!keep.has(key) && !this.inflight.has(key)) rmSync(join(this.opts.dir, e), { recursive: true, force: true });
    }
  }
}
