import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
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
    super(`Image exceeds the maximum image size of ${cap} bytes`);
  }
}

/**
 * Image data as files under `<dataDir>/images/`, like glance_store's filesystem driver. Uploads
 * stream through the hashes into `<id>.part` and are renamed into place only when complete, so a
 * broken or refused upload never leaves a partial image behind.
 */
export class ImageFiles {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'images');
  }

  path(id: string): string {
    return join(this.dir, id);
  }

  async write(id: string, data: Readable, cap: number): Promise<StoredData> {
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
        md5.update(chunk);
        sha512.update(chunk);
        done(null, chunk);
      },
    });
    const part = `${this.path(id)}.part`;
    try {
      await pipeline(data, meter, createWriteStream(part, { mode: 0o600 }));
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
