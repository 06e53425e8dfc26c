import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Transactions belong to the unit of work (src/core/work.ts): it alone opens them, with the
 * retries a serialization conflict needs and the change events published after the commit.
 * These tests read the sources (parsed with the TypeScript compiler, so a call split over lines
 * counts and a comment does not) and name every place that goes around it, as file:line.
 * The layering rules between folders are Biome's (noRestrictedImports in biome.jsonc).
 */

const ROOT = join(import.meta.dirname, '..', '..');
const SRC = join(ROOT, 'src');

/** Where transactions and raw writes are the point: the store itself, and the unit of work. */
const owners = (file: string) => file.startsWith('src/store/') || file === 'src/core/work.ts';

/** Kysely's write builders. */
const WRITES = new Set(['insertInto', 'updateTable', 'deleteFrom', 'replaceInto', 'mergeInto']);

/** Writes allowed outside the unit of work, by file and table, each with the reason. */
const ALLOWED_WRITES: Array<{ file: string; table: string; reason: string }> = [
  {
    file: 'src/core/identity/tokens.ts',
    table: 'tokens',
    reason:
      'token bookkeeping (issue, revoke, purge): each write is one statement on the tokens table alone, atomic by itself; ' +
      'tokens are no API resource, nothing subscribes to their changes, and one is issued on every authentication, ' +
      'so a unit of work would add a transaction and its retries for nothing',
  },
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

interface Found {
  /** file:line, the file relative to the repository. */
  at: string;
  file: string;
  /** The table of a write, when its first argument is a string literal. */
  table?: string;
}

/** The files under src/ outside the owners, parsed once for both tests. */
const parsed = sources(SRC)
  .map((path) => ({ path, file: relative(ROOT, path) }))
  .filter(({ file }) => !owners(file))
  .map(({ path, file }) => ({ file, sf: ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true) }));

/** Every node of every file under src/ outside the owners, given to `visit`. */
function scan(visit: (node: ts.Node, where: (n: ts.Node) => Omit<Found, 'table'>) => Found | undefined): Found[] {
  const found: Found[] = [];
  for (const { file, sf } of parsed) {
    const where = (n: ts.Node) => ({ at: `${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`, file });
    const walk = (node: ts.Node): void => {
      const f = visit(node, where);
      if (f) found.push(f);
      ts.forEachChild(node, walk);
    };
    walk(sf);
  }
  return found;
}

describe('architecture: the unit of work owns transactions', () => {
  it('opens transactions only in src/store/ and src/core/work.ts (no .tx( anywhere else in src/)', () => {
    const calls = scan((node, where) =>
      ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'tx'
        ? where(node.expression.name)
        : undefined,
    );
    expect(calls.map((c) => c.at)).toEqual([]);
  });

  it('writes through the unit of work: no <x>.db.insertInto / updateTable / deleteFrom outside it but the allowed ones', () => {
    const writes = scan((node, where) => {
      if (!ts.isPropertyAccessExpression(node) || !WRITES.has(node.name.text)) return undefined;
      const target = node.expression;
      if (!ts.isPropertyAccessExpression(target) || target.name.text !== 'db') return undefined;
      const call = node.parent;
      const first = ts.isCallExpression(call) && call.expression === node ? call.arguments[0] : undefined;
      return { ...where(node.name), table: first && ts.isStringLiteral(first) ? first.text : undefined };
    });
    const allowed = (w: Found) => ALLOWED_WRITES.some((a) => a.file === w.file && a.table === w.table);
    expect(writes.filter((w) => !allowed(w)).map((w) => `${w.at} (${w.table ?? 'table not a literal'})`)).toEqual([]);
    // Each allowance still stands for something: one left behind after its writes moved would
    // hide the next write in that file.
    for (const a of ALLOWED_WRITES)
      expect(
        writes.some((w) => w.file === a.file && w.table === a.table),
        `${a.file} ${a.table}`,
      ).toBe(true);
  });
});
