/**
 * Secrets at rest. Barbican's simple_crypto plugin encrypts each payload under a key-encryption
 * key from its configuration; here the key is 32 random bytes in `<data dir>/keymanager.key`,
 * created on first use with mode 0600 (only the user PocketStack runs as can read it), and each
 * payload is sealed with AES-256-GCM:
 *
 *   base64( "1" | 12-byte nonce | 16-byte tag | ciphertext )
 *
 * A fresh random nonce per seal (a payload is written once, so nonces never repeat under one key
 * in practice: 2^96 space), and the secret's id as additional authenticated data, so a sealed
 * payload copied onto another secret's row does not open. The database alone (a dump, a backup,
 * a PostgreSQL shared with other tools) reveals no payload; the key file and the database
 * together do, as Barbican's KEK and database do. Several API servers sharing one PostgreSQL
 * store must share the key file too (same data directory, or a copy).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const VERSION = 1;
const NONCE = 12;
const TAG = 16;

export class Sealer {
  private constructor(private readonly key: Buffer) {}

  /** The data directory's key, made (0600, exclusively) when there is none yet. */
  static fromFile(path: string): Sealer {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      try {
        // 'wx': if another server created it meanwhile, read theirs instead of replacing it.
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, randomBytes(32));
        closeSync(fd);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    const key = readFileSync(path);
    if (key.length !== 32) throw new Error(`${path}: the key-manager key must be 32 bytes (it has ${key.length})`);
    return new Sealer(key);
  }

  /** A key held in memory only (tests). */
  static ephemeral(): Sealer {
    return new Sealer(randomBytes(32));
  }

  seal(plain: Buffer, boundTo: string): string {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(Buffer.from(boundTo, 'utf8'));
    const ct = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), nonce, c.getAuthTag(), ct]).toString('base64');
  }

  /** Throws when the sealed text was not made by this key for `boundTo`. */
  open(sealed: string, boundTo: string): Buffer {
    const b = Buffer.from(sealed, 'base64');
    if (b.length < 1 + NONCE + TAG || b[0] !== VERSION) throw new Error('not a sealed payload');
    const d = createDecipheriv('aes-256-gcm', this.key, b.subarray(1, 1 + NONCE));
    d.setAAD(Buffer.from(boundTo, 'utf8'));
    d.setAuthTag(b.subarray(1 + NONCE, 1 + NONCE + TAG));
    return Buffer.concat([d.update(b.subarray(1 + NONCE + TAG)), d.final()]);
  }
}
