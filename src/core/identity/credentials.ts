import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromJson, isUniqueViolation, type Q } from '../../store/db.js';
import type { CredentialsTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { conflict, expecting, notFound, validationError } from './errors.js';
import type { IdentityEnv } from './model.js';

export interface Credential {
  id: string;
  user_id: string;
  project_id: string | null;
  type: string;
  blob: string;
  extra: Record<string, unknown>;
}

/**
 * The key credential blobs are encrypted with: 32 random bytes in `<data dir>/credential.key`,
 * mode 0600, made on first use (Keystone's `credential_setup` key repository, one key). A
 * database copy without the data directory holds no readable secret.
 */
export function credentialKey(dataDir: string): Buffer {
  const file = join(dataDir, 'credential.key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    // 'wx': two servers starting at once on the same directory must not overwrite each other's key.
    try {
      writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  chmodSync(file, 0o600);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key (base64); move it away to make a new one`);
  return key;
}

/** AES-256-GCM: "<iv>.<tag>.<ciphertext>", base64; the credential id is authenticated with it. */
export class BlobCipher {
  constructor(private readonly key: Buffer) {}

  seal(plain: string, id: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(id));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return [iv, c.getAuthTag(), body].map((b) => b.toString('base64')).join('.');
  }

  open(sealed: string, id: string): string {
    const [iv, tag, body] = sealed.split('.').map((s) => Buffer.from(s, 'base64'));
    const d = createDecipheriv('aes-256-gcm', this.key, iv);
    d.setAAD(Buffer.from(id));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]).toString('utf8');
  }
}

const KNOWN = ['id', 'user_id', 'project_id', 'type', 'blob', 'links'];

/** Keystone's EC2 credential id: the SHA-256 of its access key, so a signature finds it. */
const ec2Id = (access: string) => createHash('sha256').update(access).digest('hex');

function ec2Access(blob: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    throw validationError('Invalid blob in credential');
  }
  // Python's `not blob`: an empty object is no blob either.
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.keys(parsed).length === 0) throw expecting('blob', 'credential');
  const access = (parsed as Record<string, unknown>).access;
  if (access === undefined || access === null) throw expecting('access', 'blob');
  return String(access);
}

/**
 * Keystone credentials (EC2 key pairs, TOTP secrets, anything else): the blob is encrypted at
 * rest and only ever decrypted to answer the credential API, which shows it to its owner and
 * admins as Keystone does.
 */
export class Credentials {
  constructor(
    private readonly env: IdentityEnv,
    private readonly cipher: BlobCipher,
  ) {}

  private view(r: CredentialsTable): Credential {
    return {
      id: r.id,
      user_id: r.user_id,
      project_id: r.project_id,
      type: r.type,
      blob: this.cipher.open(r.encrypted_blob, r.id),
      extra: fromJson<Record<string, unknown>>(r.extra, {}),
    };
  }

  async list(f: { userId?: string; type?: string } = {}): Promise<Credential[]> {
    let qb = this.env.store.db.selectFrom('credentials').selectAll();
    if (f.userId !== undefined) qb = qb.where('user_id', '=', f.userId);
    if (f.type !== undefined) qb = qb.where('type', '=', f.type);
    return (await qb.orderBy('created_at').orderBy('id').execute()).map((r) => this.view(r));
  }

  async find(id: string, q: Q = this.env.store.db): Promise<Credential | undefined> {
    const r = await q.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
    return r && this.view(r);
  }

  async get(id: string, q: Q = this.env.store.db): Promise<Credential> {
    const c = await this.find(id, q);
    if (!c) throw notFound('credential', id);
    return c;
  }

  async create(input: Record<string, unknown>): Promise<Credential> {
    const blob = String(input.blob);
    const type = String(input.type);
    const id = type === 'ec2' ? ec2Id(ec2Access(blob)) : hexId();
    return this.env.write({ id, op: 'create' }, async (trx) => {
      const extra = Object.fromEntries(Object.entries(input).filter(([k]) => !KNOWN.includes(k)));
      try {
        await trx
          .insertInto('credentials')
          .values({
            id,
            user_id: String(input.user_id),
            project_id: (input.project_id as string | undefined) ?? null,
            type,
            encrypted_blob: this.cipher.seal(blob, id),
            extra: JSON.stringify(extra),
            created_at: isoMicros(),
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('credential', `Duplicate ID, ${id}.`);
        throw e;
      }
      return this.get(id, trx);
    });
  }

  async update(id: string, patch: Record<string, unknown>): Promise<Credential> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.get(id, trx);
      const type = patch.type !== undefined ? String(patch.type) : old.type;
      const blob = patch.blob !== undefined ? String(patch.blob) : old.blob;
      const projectId = patch.project_id !== undefined ? ((patch.project_id as string | null) ?? null) : old.project_id;
      if (type === 'ec2') {
        if (!projectId) throw validationError('Credential of type ec2 must have a project_id');
        ec2Access(blob);
      }
      const extra = { ...old.extra, ...Object.fromEntries(Object.entries(patch).filter(([k]) => !KNOWN.includes(k))) };
      await trx
        .updateTable('credentials')
        .set({
          type,
          project_id: projectId,
          user_id: patch.user_id !== undefined ? String(patch.user_id) : old.user_id,
          encrypted_blob: this.cipher.seal(blob, id),
          extra: JSON.stringify(extra),
        })
        .where('id', '=', id)
        .execute();
      return this.get(id, trx);
    });
  }

  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const res = await trx.deleteFrom('credentials').where('id', '=', id).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFound('credential', id);
    });
  }

  /** OS-EC2: a new key pair for a user on a project (Keystone's `ec2` credential with a generated access and secret). */
  async createEc2(userId: string, projectId: string, trustId: string | null): Promise<Credential> {
    const blob = JSON.stringify({ access: hexId(), secret: hexId(), trust_id: trustId });
    return this.create({ user_id: userId, project_id: projectId, type: 'ec2', blob });
  }

  /** The EC2 credential of a user with this access key, if any. */
  async findEc2(userId: string, access: string): Promise<Credential | undefined> {
    const c = await this.find(ec2Id(access));
    return c && c.user_id === userId && c.type === 'ec2' ? c : undefined;
  }
}
