import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's directory (where package.json is), found by climbing from this module: the same
 * answer from src/util/ (tsx, tests), dist/util/ (the compiled tree) and dist/pocketstack.mjs
 * (the one-file bundle `pocketstack` runs), whose modules sit at different depths. What the
 * server reads from the project (the dashboard's compiled page, Glance's metadefs catalog, the
 * built-in balancer's worker script) is named from here.
 */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
