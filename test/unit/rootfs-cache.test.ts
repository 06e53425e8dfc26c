import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RootfsCache, rootfsKey } from '../../src/dataplane/netns/machines/rootfs.js';

describe('RootfsCache.removeAllBut', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps the tree being unpacked for an instance that waits for it (no instance state names it yet), and removes unused trees', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pocketstack-rootfs-'));
    dirs.push(dir);
    const data = join(dir, 'image.tar.gz');
    writeFileSync(data, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
    const uid = process.getuid?.() ?? 0;
    // The unpacking waits here: the tools' user namespace never comes.
    const cache = new RootfsCache({ dir: join(dir, 'rootfs'), idBase: uid, toolsUserns: () => new Promise<string>(() => undefined), runDir: join(dir, 'run') });
    const img = { id: 'img-1', checksum: '0123456789abcdef', diskFormat: 'raw', containerFormat: 'bare', path: data };
    cache.ensure(img, () => undefined);
    const part = join(dir, 'rootfs', `${rootfsKey(img)}.part`);
    await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(part)).toBe(true);
    const unused = join(dir, 'rootfs', 'old-image-000000000000');
    writeFileSync(unused, '');
    cache.removeAllBut(new Set());
    expect(existsSync(part)).toBe(true);
    expect(existsSync(unused)).toBe(false);
  });
});
