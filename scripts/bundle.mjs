#!/usr/bin/env node
/**
 * The one-file bundle `pocketstack` runs (dist/pocketstack.mjs), made from the compiled tree.
 *
 * Loading the compiled tree module by module (about 400 of ours and as many again in
 * node_modules) was most of the start-up: over a second of resolving, reading and compiling
 * files on a 2-core machine before any of our code ran. One file is resolved and compiled once.
 * esbuild is the tool made for this (and already what vitest builds with). Left outside:
 * better-sqlite3 (a native addon, loaded by path) and pg's optional native binding.
 */
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const out = await build({
  entryPoints: [join(root, 'dist', 'cli', 'main.js')],
  outfile: join(root, 'dist', 'pocketstack.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg-native'],
  // The CommonJS packages bundled in (fastify, pino, ajv …) call require() for Node's own
  // modules; an ES module has none, so the bundle makes one.
  banner: { js: "import { createRequire as __pocketstackRequire } from 'node:module'; const require = __pocketstackRequire(import.meta.url);" },
  // Stack traces name the compiled files and lines (node --enable-source-maps maps them back).
  sourcemap: 'linked',
  logLevel: 'warning',
  write: false,
});
// V8 keeps a module's source text in the heap for as long as the process runs, as one-byte
// (Latin-1) characters when every character fits and as two bytes a character otherwise. esbuild
// already writes code ASCII-only (its default charset) but keeps comments as they are, and a
// single "—" in one made the whole 5.5 MB source a 11 MB two-byte string. Outside strings and
// regular expressions (ASCII already) a \uXXXX in a comment is just text.
for (const f of out.outputFiles) {
  writeFileSync(
    f.path,
    f.path.endsWith('.mjs') ? f.text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : f.contents,
    f.path.endsWith('.mjs') ? { mode: 0o755 } : {},
  );
}
