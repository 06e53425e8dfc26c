import { execFile } from 'node:child_process';
import { X509Certificate, createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Store } from '../../store/db.js';
import type { KeypairsTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { DomainError } from '../errors.js';
import { novaBadRequest, novaConflict, novaForbidden, novaNotFound, policyDenied } from './errors.js';
import { computeQuotaLimits } from './quotas.js';

export interface Keypair extends KeypairsTable {
  /** Only when Nova generated the key: handed out once, never stored. */
  private_key?: string;
}

const colonHex = (hex: string) => hex.match(/../g)!.join(':');

// ---------------------------------------------------------------- OpenSSH public keys

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** RFC 4251 mpint from unsigned big-endian bytes. */
function mpint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return sshString(b);
}

function readStrings(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < blob.length) {
    if (off + 4 > blob.length) throw new Error('truncated');
    const len = blob.readUInt32BE(off);
    off += 4;
    if (off + len > blob.length) throw new Error('truncated');
    out.push(blob.subarray(off, off + len));
    off += len;
  }
  return out;
}

const unsigned = (b: Buffer) => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);
const b64url = (b: Buffer) => b.toString('base64url');
const CURVES: Record<string, { crv: string; size: number }> = {
  nistp256: { crv: 'P-256', size: 32 },
  nistp384: { crv: 'P-384', size: 48 },
  nistp521: { crv: 'P-521', size: 66 },
};

/**
 * Check an OpenSSH public key line the way Nova does (pyca's load_ssh_public_key): the key type,
 * its wire-format blob and the key itself must all be valid. Throws on anything else.
 */
function loadSshPublicKey(line: string): Buffer {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2) throw new Error('not an ssh key');
  const [type, data] = parts;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new Error('bad base64');
  const blob = Buffer.from(data, 'base64');
  const fields = readStrings(blob);
  if (fields[0]?.toString() !== type) throw new Error('key type mismatch');
  if (type === 'ssh-rsa' && fields.length === 3) {
    createPublicKey({ key: { kty: 'RSA', e: b64url(unsigned(fields[1])), n: b64url(unsigned(fields[2])) }, format: 'jwk' });
  } else if (type === 'ssh-ed25519' && fields.length === 2 && fields[1].length === 32) {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(fields[1]) }, format: 'jwk' });
  } else if (type.startsWith('ecdsa-sha2-') && fields.length === 3) {
    const curve = CURVES[fields[1].toString()];
    const point = fields[2];
    if (!curve || `ecdsa-sha2-${fields[1].toString()}` !== type || point[0] !== 4 || point.length !== 1 + 2 * curve.size) throw new Error('bad ecdsa key');
    createPublicKey({
      key: { kty: 'EC', crv: curve.crv, x: b64url(point.subarray(1, 1 + curve.size)), y: b64url(point.subarray(1 + curve.size)) },
      format: 'jwk',
    });
  } else if (type === 'ssh-dss' && fields.length === 5) {
    // p, q, g, y: structure only (DSA keys cannot be imported as JWK).
  } else {
    throw new Error('unsupported key type');
  }
  return blob;
}

/** Nova's fingerprint of an ssh key: MD5 of the key blob, colon-separated hex. */
export function sshFingerprint(publicKey: string): string {
  let blob: Buffer;
  try {
    blob = loadSshPublicKey(publicKey);
  } catch {
    throw new DomainError('bad_request', 'InvalidKeypair', 'Keypair data is invalid: failed to generate fingerprint');
  }
  return colonHex(createHash('md5').update(blob).digest('hex'));
}

/** Nova's fingerprint of an x509 certificate: SHA-1 of the DER, colon-separated hex. */
export function x509Fingerprint(pem: string): string {
  try {
    return colonHex(createHash('sha1').update(new X509Certificate(pem).raw).digest('hex'));
  } catch {
    throw new DomainError('bad_request', 'InvalidKeypair', 'Keypair data is invalid: failed to generate fingerprint');
  }
}

/** A fresh RSA key pair as Nova generates it: PKCS#1 PEM private key, `ssh-rsa … Generated-by-Nova`. */
export function generateSshKeyPair(): { privateKey: string; publicKey: string; fingerprint: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(Buffer.from(jwk.e, 'base64url')), mpint(Buffer.from(jwk.n, 'base64url'))]);
  const line = `ssh-rsa ${blob.toString('base64')} Generated-by-Nova`;
  return {
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    publicKey: line,
    fingerprint: colonHex(createHash('md5').update(blob).digest('hex')),
  };
}

const run = promisify(execFile);

/**
 * crypto.generate_winrm_x509_cert: a ten-year self-signed client certificate for CN=<user> with
 * the user's UPN, made by openssl as Nova makes it; the private key is handed out as a base64
 * PKCS#12 bundle without a password.
 */
export async function generateX509KeyPair(userId: string): Promise<{ privateKey: string; publicKey: string; fingerprint: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pocketstack-x509-'));
  try {
    const keyfile = join(dir, 'temp.key');
    const conffile = join(dir, 'temp.conf');
    const certfile = join(dir, 'temp.crt');
    await writeFile(
      conffile,
      'distinguished_name  = req_distinguished_name\n[req_distinguished_name]\n[v3_req_client]\n' +
        `extendedKeyUsage = clientAuth\nsubjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:${userId}@localhost\n`,
    );
    const { stdout: certificate } = await run('openssl', [
      'req',
      '-x509',
      '-nodes',
      '-days',
      '3650',
      '-config',
      conffile,
      '-newkey',
      'rsa:2048',
      '-outform',
      'PEM',
      '-keyout',
      keyfile,
      '-subj',
      `/CN=${userId}`,
      '-extensions',
      'v3_req_client',
    ]);
    await writeFile(certfile, certificate);
    const { stdout: p12 } = await run('openssl', ['pkcs12', '-export', '-inkey', keyfile, '-in', certfile, '-password', 'pass:'], {
      encoding: 'buffer',
    });
    return { privateKey: p12.toString('base64'), publicKey: certificate, fingerprint: x509Fingerprint(certificate) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the key pair store

/** Key pairs belong to a user (not a project), as in Nova. */
export class Keypairs {
  constructor(private readonly uow: UnitOfWork) {}

  private get store(): Store {
    return this.uow.store;
  }

  /** Whose key pairs: the caller's, or (admins, 2.10+) another user's. */
  private owner(ctx: RequestContext, userId: string | undefined, action: string): string {
    if (userId === undefined || userId === ctx.userId) return ctx.userId;
    if (!ctx.isAdmin) throw policyDenied(`os_compute_api:os-keypairs:${action}`);
    return userId;
  }

  async create(ctx: RequestContext, k: { name: string; type: 'ssh' | 'x509'; publicKey?: string; userId?: string }): Promise<Keypair> {
    const user = this.owner(ctx, k.userId, 'create');
    let publicKey = k.publicKey;
    let privateKey: string | undefined;
    let fingerprint: string;
    if (publicKey === undefined) {
      const generated = k.type === 'x509' ? await generateX509KeyPair(user) : generateSshKeyPair();
      publicKey = generated.publicKey;
      privateKey = generated.privateKey;
      fingerprint = generated.fingerprint;
    } else {
      fingerprint = k.type === 'x509' ? x509Fingerprint(publicKey) : sshFingerprint(publicKey);
    }
    const row = await this.uow.run(async ({ trx }) => {
      const limits = await computeQuotaLimits(trx, ctx.projectId ?? '');
      const n = await trx
        .selectFrom('keypairs')
        .select(({ fn }) => fn.countAll<number>().as('n'))
        .where('user_id', '=', user)
        .executeTakeFirst();
      if (limits.key_pairs >= 0 && Number(n?.n ?? 0) + 1 > limits.key_pairs) throw novaForbidden('Quota exceeded, too many key pairs.');
      if (await trx.selectFrom('keypairs').select('name').where('user_id', '=', user).where('name', '=', k.name).executeTakeFirst()) {
        throw novaConflict(`Key pair '${k.name}' already exists.`);
      }
      const max = await trx
        .selectFrom('keypairs')
        .select(({ fn }) => fn.max<number>('id').as('m'))
        .executeTakeFirst();
      const values: KeypairsTable = {
        id: Number(max?.m ?? 0) + 1,
        user_id: user,
        name: k.name,
        type: k.type,
        public_key: publicKey!,
        fingerprint,
        created_at: new Date().toISOString(),
      };
      await trx.insertInto('keypairs').values(values).execute();
      return values;
    }, ctx);
    return privateKey ? { ...row, private_key: privateKey } : row;
  }

  async get(ctx: RequestContext, name: string, userId?: string): Promise<Keypair> {
    const user = this.owner(ctx, userId, 'show');
    const row = await this.store.db.selectFrom('keypairs').selectAll().where('user_id', '=', user).where('name', '=', name).executeTakeFirst();
    if (!row) throw novaNotFound(`Keypair ${name} not found for user ${user}`);
    return row;
  }

  async list(ctx: RequestContext, o: { userId?: string; limit?: number; marker?: string }): Promise<Keypair[]> {
    const user = this.owner(ctx, o.userId, 'index');
    let qb = this.store.db.selectFrom('keypairs').selectAll().where('user_id', '=', user);
    if (o.marker !== undefined) {
      const m = await this.store.db.selectFrom('keypairs').select('id').where('user_id', '=', user).where('name', '=', o.marker).executeTakeFirst();
      if (!m) throw novaBadRequest(`Marker ${o.marker} could not be found.`);
      qb = qb.where('id', '>', m.id);
    }
    qb = qb.orderBy('id');
    if (o.limit !== undefined) qb = qb.limit(o.limit);
    return qb.execute();
  }

  async delete(ctx: RequestContext, name: string, userId?: string): Promise<void> {
    const user = this.owner(ctx, userId, 'delete');
    const res = await this.uow.run(({ trx }) => trx.deleteFrom('keypairs').where('user_id', '=', user).where('name', '=', name).executeTakeFirst(), ctx);
    if (Number(res.numDeletedRows) === 0) throw novaNotFound(`Keypair ${name} not found for user ${user}`);
  }
}
