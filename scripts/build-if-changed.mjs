#!/usr/bin/env node
/**
 * `npm start` and `npm run bench`: build only when a source changed since the last build.
 *
 * `tsc -b` alone already compiles only what changed, but finding that nothing did means loading
 * TypeScript itself (0.7–2 s on a busy 2-core machine). Here a walk of the inputs' modification
 * times against each project's build info decides in a few milliseconds; anything newer (an
 * edit, a checkout, a deleted file: its directory's time moves) hands over to `tsc -b`, which
 * compares contents and compiles what it must.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WEB = join(root, 'src', 'dashboard', 'web');
const SHARED = ['package-lock.json', 'tsconfig.json'].map((f) => join(root, f));

/** Newest modification time under `dir` (directories included), skipping `skip`. */
function newest(dir, skip) {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (p === skip) continue;
    t = Math.max(t, e.isDirectory() ? newest(p, skip) : statSync(p).mtimeMs);
  }
  return t;
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
}

const projects = [
  { info: join(root, 'dist', '.tsbuildinfo'), inputs: () => Math.max(newest(join(root, 'src'), WEB), mtime(join(root, 'tsconfig.build.json'))) },
  { info: join(root, 'dist', 'web', '.tsbuildinfo'), inputs: () => Math.max(newest(WEB), mtime(join(root, 'tsconfig.web.json'))) },
];
const shared = Math.max(...SHARED.map(mtime));
const stale = projects.some((p) => {
  const built = mtime(p.info);
  return built < 0 || built < shared || built < p.inputs();
});
const node = (...args) => spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
if (stale) {
  const status = node(join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'tsconfig.build.json', 'tsconfig.web.json');
  if (status !== 0) process.exit(status);
}
// The bundle `pocketstack` runs, remade when a compile came after it (bin/pocketstack runs the
// compiled tree meanwhile, never a stale bundle).
if (mtime(join(root, 'dist', 'pocketstack.mjs')) <= mtime(projects[0].info)) process.exit(node(join(root, 'scripts', 'bundle.mjs')));
