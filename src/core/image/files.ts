import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What Glance records about uploaded data: md5 `checksum` and the multihash (sha512). */
export interface StoredData {
  size: number;
  checksum: string;
  hashAlgo: 'sha512';
  hashValue: string;
}

/** Thrown when an upload grows past the configured cap (Glance's ImageSizeLimitExceeded). */
export class ImageTooLarge extends Error {
  constructor(readonly cap: number) {
    // Glance's LimitingReader raises ImageSizeLimitExceeded() with its class message.
    super('The provided image is too large.');
  }
}

/** glance_store's filesystem `add` refusing data whose length is not the one announced. */
export class SizeMismatch extends Error {}

/**
 * Image data as files in one directory, like glance_store's filesystem driver. Uploads stream
 * through the hashes into `<id>.part` and are renamed into place only when complete, so a broken
 * or refused upload never leaves a partial image behind.
 */
export class ImageFiles {
  constructor(readonly dir: string) {}

  path(id: string): string {
    return join(this.dir, id);
  }

  exists(id: string): boolean {
    return existsSync(this.path(id));
  }

  /**
   * Write `data` as `id`. `expectedSize` (when not 0) is the length the client announced: more or
   * fewer bytes are glance_store's "Size exceeds" / "Size mismatch".
   */
  async write(id: string, data: Readable, cap: number, expectedSize = 0): Promise<StoredData> {
    // Under the private data directory, private itself (util/private.ts).
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const md5 = createHash('md5');
    const sha512 = createHash('sha512');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > cap) {
          done(new ImageTooLarge(cap));
          return;
        }
        if (expectedSize !== 0 && size > expectedSize) {
          done(new SizeMismatch(`Size exceeds: expected ${expectedSize} bytes, got ${size} bytes`));
          return;
        }
        md5.update(chunk);
        sha512.update(chunk);
        done(null, chunk);
      },
    });
    const part = `${this.path(id)}.part`;
    // Opened here, not by the stream: a stream opens its file asynchronously, so a refusal
    // (over the cap) could remove `.part` before the stream created it, leaving it behind.
    const fd = openSync(part, 'w', 0o600);
    try {
      await pipeline(data, meter, createWriteStream(part, { fd }));
      if (expectedSize !== 0 && size !== expectedSize) throw new SizeMismatch(`Size mismatch: expected ${expectedSize} bytes, got ${size} bytes`);
      renameSync(part, this.path(id));
    } catch (e) {
      rmSync(part, { force: true });
      throw e;
    }
    return { size, checksum: md5.digest('hex'), hashAlgo: 'sha512', hashValue: sha512.digest('hex') };
  }

  /** Size on disk, or null when the image has no data. */
  size(id: string): number | null {
    try {
      return statSync(this.path(id)).size;
    } catch {
      return null;
    }
  }

  /** A stream of bytes [start, end] (inclusive), or the whole file. */
  read(id: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.path(id), range ? { start: range.start, end: range.end } : undefined);
  }

  remove(id: string): void {
    rmSync(this.path(id), { force: true });
    rmSync(`${this.path(id)}.part`, { force: true });
  }
}
