/**
 * A minimal POSIX ustar writer, enough to build a root file system image in memory: regular
 * files, directories and symbolic links with numeric owners and modes. Deterministic (a fixed
 * modification time, entries in the order given), so the same inputs give the same image and the
 * same checksum. Extraction is GNU tar's job (inside a user namespace, see rootfs.ts).
 */

export type TarEntry =
  | { type: 'dir'; path: string; mode: number; uid?: number; gid?: number }
  | { type: 'file'; path: string; mode: number; data: Buffer; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string; uid?: number; gid?: number };

/** 2014-10-01T00:00:00Z, about when cirros 0.3.3 was released. */
export const TAR_MTIME = 1412121600;

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** ustar splits a long path into prefix (≤ 155) and name (≤ 100) at a slash. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { prefix, name };
  }
  throw new Error(`path too long for a ustar archive: ${path}`);
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const path = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const { prefix, name } = splitPath(path);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(e.type === 'symlink' ? 0o777 : e.mode, 8), 100, 8, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 8, 'ascii');
  h.write(octal(e.gid ?? 0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(TAR_MTIME, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', 156, 1, 'ascii');
  if (e.type === 'symlink') {
    if (Buffer.byteLength(e.target) > 100) throw new Error(`symlink target too long: ${e.target}`);
    h.write(e.target, 157, 100, 'utf8');
  }
  h.write('ustar\u000000', 257, 8, 'ascii');
  h.write(e.uid ? 'user' : 'root', 265, 32, 'ascii');
  h.write(e.gid ? 'user' : 'root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** The archive: each entry's header and data padded to 512 bytes, then two zero blocks. */
export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? e.data : Buffer.alloc(0);
    parts.push(header(e, data.length));
    if (data.length) {
      parts.push(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

/** Whether `head` (the first 512 bytes of a file) is a tar header: ustar magic or a valid old-style checksum. */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < BLOCK) return false;
  if (head.toString('ascii', 257, 262) === 'ustar') return true;
  const stored = Number.parseInt(head.toString('ascii', 148, 156).replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored) || head[0] === 0) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : head[i];
  return sum === stored;
}
