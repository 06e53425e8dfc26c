/**
 * The default image, `cirros-0.3.3-x86_64-disk`, built at first start from the host's own Debian
 * packages (nothing is downloaded): busybox-static for the shell and the tools a cirros user
 * expects (`ip`, `udhcpc`, `wget`, `vi`, `httpd` …), dropbear for ssh (with the libraries `ldd`
 * names), the users `root` and `cirros` (password `cubswin:)`, as cirros 0.3.3). It is a tar of
 * the root file system: what this data plane boots (rootfs.ts). Debian paths only, read here.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { run } from '../exec.js';
import { type TarEntry, writeTar } from './tar.js';

export const CIRROS_NAME = 'cirros-0.3.3-x86_64-disk';
/** cirros 0.3.3's default user and password. */
export const CIRROS_USER = 'cirros';
const CIRROS_PASSWORD = 'cubswin:)';
const CIRROS_UID = 1000;

export const BUSYBOX = '/bin/busybox';
const DROPBEAR = '/usr/sbin/dropbear';
const DBCLIENT = '/usr/bin/dbclient';

export interface BuiltImage {
  data: Buffer;
  /** What went in, for the log: `busybox (376 applets)`, `dropbear` … */
  contents: string[];
  /** What is missing and which Debian package provides it (the image still builds without ssh). */
  missing: string[];
}

/** An ELF executable with no program interpreter (PT_INTERP) needs no libraries: it runs in any root. */
export function isStaticElf(file: Buffer): boolean {
  if (file.length < 64 || file.readUInt32BE(0) !== 0x7f454c46 || file[4] !== 2 || file[5] !== 1) return false;
  const phoff = Number(file.readBigUInt64LE(32));
  const phentsize = file.readUInt16LE(54);
  const phnum = file.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > file.length) return false;
    if (file.readUInt32LE(off) === 3) return false;
  }
  return true;
}

/** Libraries `ldd` lists for `binary` (absolute paths, the dynamic loader included). */
export function parseLdd(out: string): string[] {
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return [...new Set(libs)];
}

/** The static busybox to put into instances (images and the init), or why there is none. */
export function staticBusybox(): { path: string } | { why: string } {
  if (!existsSync(BUSYBOX)) return { why: `${BUSYBOX} is missing: apt-get install busybox-static` };
  if (!isStaticElf(readFileSync(BUSYBOX))) return { why: `${BUSYBOX} is not statically linked: apt-get install busybox-static` };
  return { path: BUSYBOX };
}

const dir = (path: string, mode = 0o755, uid = 0): TarEntry => ({ type: 'dir', path, mode, uid, gid: uid });
const file = (path: string, text: string | Buffer, mode = 0o644, uid = 0): TarEntry => ({
  type: 'file',
  path,
  mode,
  uid,
  gid: uid,
  data: typeof text === 'string' ? Buffer.from(text) : text,
});

/** `a/b/c` → `../../bin/busybox`: symlinks stay inside the image whatever its mount point. */
const toBusybox = (applet: string) => `${'../'.repeat(applet.split('/').length - 1)}bin/busybox`;

/**
 * The last image built, held weakly: it is wanted once per start (Glance stores it on a new data
 * directory) and by a test process starting many servers, so callers close together share one
 * build (the host's packages do not change under it), but a long-running server does not keep
 * its ~6.5 MB tar in memory after storing it.
 */
let built: WeakRef<BuiltImage | { why: string }> | null = null;
let building: Promise<BuiltImage | { why: string }> | null = null;

/** Build the image, or why it cannot be built. */
export function buildCirrosImage(): Promise<BuiltImage | { why: string }> {
  const last = built?.deref();
  if (last) return Promise.resolve(last);
  building ??= build().then(
    (image) => {
      built = new WeakRef(image);
      building = null;
      return image;
    },
    (e: unknown) => {
      building = null;
      throw e;
    },
  );
  return building;
}

async function build(): Promise<BuiltImage | { why: string }> {
  const bb = staticBusybox();
  if ('why' in bb) return bb;
  const entries: TarEntry[] = [];
  const dirs = new Set<string>();
  const ensureDir = (path: string) => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (d && !dirs.has(d)) {
        dirs.add(d);
        entries.push(dir(d));
      }
    }
  };
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'lib', 'etc/dropbear', 'var/lib', 'var/log', 'mnt/config', 'media', 'opt', 'srv']) ensureDir(d);
  for (const d of ['proc', 'sys', 'dev', 'run']) {
    dirs.add(d);
    entries.push(dir(d, 0o755));
  }
  dirs.add('tmp');
  entries.push(dir('tmp', 0o1777));
  dirs.add('root');
  entries.push(dir('root', 0o700));
  entries.push(dir('root/.ssh', 0o700));
  ensureDir('home');
  entries.push(dir('home/cirros', 0o755, CIRROS_UID), dir('home/cirros/.ssh', 0o700, CIRROS_UID));

  const contents: string[] = [];
  const missing: string[] = [];
  entries.push(file('bin/busybox', readFileSync(bb.path), 0o755));
  const list = await run(bb.path, ['--list-full']);
  const applets = list.stdout.split('\n').filter((a) => a && a !== 'bin/busybox' && !a.includes('..'));
  for (const a of applets) {
    ensureDir(a.slice(0, a.lastIndexOf('/')));
    entries.push({ type: 'symlink', path: a, target: toBusybox(a) });
  }
  contents.push(`busybox (${applets.length} applets)`);

  const libs = new Set<string>();
  for (const [bin, name] of [
    [DROPBEAR, 'dropbear'],
    [DBCLIENT, 'dbclient'],
  ] as const) {
    if (!existsSync(bin)) {
      missing.push(`${bin} (apt-get install dropbear-bin)`);
      continue;
    }
    const ldd = await run('ldd', [bin], { allowFail: true });
    if (ldd.code !== 0) {
      missing.push(`${bin} (ldd could not read it)`);
      continue;
    }
    ensureDir(bin.slice(1, bin.lastIndexOf('/')));
    entries.push(file(bin.slice(1), readFileSync(bin), 0o755));
    for (const l of parseLdd(ldd.stdout)) libs.add(l);
    contents.push(name);
  }
  for (const l of [...libs].sort()) {
    ensureDir(l.slice(1, l.lastIndexOf('/')));
    entries.push(file(l.slice(1), readFileSync(realpathSync(l)), 0o755));
  }
  if (existsSync(DBCLIENT)) entries.push({ type: 'symlink', path: 'usr/bin/ssh', target: 'dbclient' });

  const hash = (await run(bb.path, ['mkpasswd', '-m', 'sha512', CIRROS_PASSWORD, 'cirros03'])).stdout.trim();
  const etc: Array<[string, string, number?]> = [
    ['etc/passwd', `root:x:0:0:root:/root:/bin/sh\n${CIRROS_USER}:x:${CIRROS_UID}:${CIRROS_UID}:${CIRROS_USER}:/home/cirros:/bin/sh\n`],
    ['etc/shadow', `root:*:16344:0:99999:7:::\n${CIRROS_USER}:${hash}:16344:0:99999:7:::\n`, 0o600],
    ['etc/group', `root:x:0:\ntty:x:5:\n${CIRROS_USER}:x:${CIRROS_UID}:\n`],
    ['etc/shells', '/bin/sh\n/bin/ash\n'],
    ['etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n'],
    ['etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'],
    ['etc/hostname', 'cirros\n'],
    ['etc/resolv.conf', ''],
    [
      'etc/os-release',
      'NAME=CirrOS\nVERSION=0.3.3\nID=cirros\nVERSION_ID=0.3.3\nPRETTY_NAME="CirrOS 0.3.3 (PocketStack, from Debian\'s busybox and dropbear)"\n',
    ],
    ['etc/issue', `login as '${CIRROS_USER}' user. default password: '${CIRROS_PASSWORD}'.\n\n`],
    ['etc/profile', "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='$(whoami)@$(hostname):$(pwd)\\$ '\n"],
  ];
  for (const [path, text, mode] of etc) entries.push(file(path, text, mode ?? 0o644));
  return { data: writeTar(entries), contents, missing };
}
