import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fromJson, type Q } from '../../store/db.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { unauthorized } from '../errors.js';
import type { Assignments } from './assignments.js';
import type { BlobCipher } from './credentials.js';
import { expecting, notFound, notFoundTarget } from './errors.js';
import type { Attrs, IdentityEnv } from './model.js';

/** Keystone's [oauth1] request_token_duration and access_token_duration, seconds. */
const REQUEST_TOKEN_SECONDS = 28800;
const ACCESS_TOKEN_SECONDS = 86400;
/** How far a signed request's oauth_timestamp may be from now (oauthlib's window). */
const TIMESTAMP_WINDOW_SECONDS = 600;
const VERIFIER_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export interface Consumer {
  id: string;
  description: string | null;
  extra: Attrs;
}

export interface AccessToken {
  id: string;
  consumer_id: string;
  authorizing_user_id: string;
  project_id: string;
  role_ids: string[];
  expires_at: string | null;
}

const consumerNotFound = (_id: string) => notFoundTarget('Consumer not found');
/** Keystone's Unauthorized is a security error: whatever went wrong, the message is the generic one. */
const signatureError = () => unauthorized();

/** RFC 3986 percent-encoding as OAuth 1.0 requires it (RFC 5849 §3.6). */
const pct = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The parameters of an `Authorization: OAuth …` header. */
export function oauthHeaderParams(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header || !/^OAuth\s/i.test(header)) return out;
  for (const part of header.replace(/^OAuth\s+/i, '').split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*"([^"]*)"\s*$/.exec(part);
    if (m) out.set(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
  }
  return out;
}

/** What a signed request carries: its method, URL (as the client addressed it) and OAuth parameters. */
export interface SignedRequest {
  method: string;
  /** scheme://host[:port]/path, without the query. */
  url: string;
  query: Array<[string, string]>;
  oauth: Map<string, string>;
}

/** The HMAC signature methods oauthlib's RequestValidator allows by default, with their hashes. */
const HMAC_METHODS = new Map([
  ['HMAC-SHA1', 'sha1'],
  ['HMAC-SHA256', 'sha256'],
  ['HMAC-SHA512', 'sha512'],
]);

const sameBytes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/**
 * Check a request's signature (RFC 5849 §3.4) made with the consumer's and the token's secrets, as
 * Keystone's oauthlib endpoints do (SignatureOnlyEndpoint._check_signature): the default
 * allowed_signature_methods — HMAC-SHA1, -SHA256, -SHA512 and PLAINTEXT (the two secrets
 * themselves, §3.4.4; Gophercloud signs with it) — and the timestamp window for all of them.
 * RSA-SHA* needs an RSA key Keystone's validator never has: refused.
 */
function verifySignature(req: SignedRequest, consumerSecret: string, tokenSecret: string): boolean {
  const method = req.oauth.get('oauth_signature_method') ?? '';
  const ts = Number(req.oauth.get('oauth_timestamp'));
  if (!Number.isFinite(ts) || Math.abs(Date.now() / 1000 - ts) > TIMESTAMP_WINDOW_SECONDS) return false;
  const key = `${pct(consumerSecret)}&${pct(tokenSecret)}`;
  const signature = req.oauth.get('oauth_signature') ?? '';
  if (method === 'PLAINTEXT') return sameBytes(Buffer.from(signature), Buffer.from(key));
  const hash = HMAC_METHODS.get(method);
  if (!hash) return false;
  const params: Array<[string, string]> = [...req.query, ...[...req.oauth].filter(([k]) => k !== 'oauth_signature' && k !== 'realm')];
  const normalized = params
    .map(([k, v]) => [pct(k), pct(v)] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const u = new URL(req.url);
  const base = `${u.protocol}//${u.host}`.toLowerCase() + u.pathname.replace(/\/\//g, '/');
  const text = `${req.method.toUpperCase()}&${pct(base)}&${pct(normalized)}`;
  return sameBytes(Buffer.from(signature, 'base64'), createHmac(hash, key).update(text).digest());
}

const future = (seconds: number) => isoMicros(new Date(Date.now() + seconds * 1000));
const expired = (at: string | null) => !!at && Date.parse(at) <= Date.now();

/**
 * OS-OAUTH1: consumers, and the three-legged flow — a consumer's signed request token, a user
 * authorizing it for some of its roles on the requested project, the consumer exchanging it for
 * an access token — as keystone/api/os_oauth1.py does it, with HMAC-SHA1 signatures checked per
 * RFC 5849. Secrets are encrypted at rest under the credential key (a signature needs them).
 */
export class OAuth1 {
  constructor(
    private readonly env: IdentityEnv,
    private readonly cipher: BlobCipher,
    private readonly assignments: Assignments,
  ) {}

  private get db() {
    return this.env.store.db;
  }

  // ------------------------------------------------------------ consumers

  async consumers(): Promise<Consumer[]> {
    const rows = await this.db.selectFrom('oauth_consumers').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, description: r.description, extra: fromJson<Attrs>(r.extra, {}) }));
  }

  async consumer(id: string, q: Q = this.db): Promise<Consumer> {
    const r = await q.selectFrom('oauth_consumers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw consumerNotFound(id);
    return { id: r.id, description: r.description, extra: fromJson<Attrs>(r.extra, {}) };
  }

  private async consumerSecret(id: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('oauth_consumers').select('encrypted_secret').where('id', '=', id).executeTakeFirst();
    return r && this.cipher.open(r.encrypted_secret, id);
  }

  async createConsumer(input: Attrs): Promise<Consumer & { secret: string }> {
    const id = hexId();
    const secret = hexId();
    const extra = Object.fromEntries(Object.entries(input).filter(([k]) => !['id', 'description', 'secret', 'links'].includes(k)));
    await this.env.write({ id, op: 'create' }, async (trx) => {
      await trx
        .insertInto('oauth_consumers')
        .values({
          id,
          description: (input.description as string | null | undefined) ?? null,
          encrypted_secret: this.cipher.seal(secret, id),
          extra: JSON.stringify(extra),
          created_at: isoMicros(),
        })
        .execute();
    });
    return { ...(await this.consumer(id)), secret };
  }

  async updateConsumer(id: string, patch: Attrs): Promise<Consumer> {
    await this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.consumer(id, trx);
      const extra = { ...old.extra, ...Object.fromEntries(Object.entries(patch).filter(([k]) => !['id', 'description', 'secret', 'links'].includes(k))) };
      await trx
        .updateTable('oauth_consumers')
        .set({ description: patch.description !== undefined ? ((patch.description as string | null) ?? null) : old.description, extra: JSON.stringify(extra) })
        .where('id', '=', id)
        .execute();
    });
    return this.consumer(id);
  }

  /** Delete a consumer with its tokens; tokens issued through them stop. */
  async deleteConsumer(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.consumer(id, trx);
      const access = (await trx.selectFrom('oauth_access_tokens').select('id').where('consumer_id', '=', id).execute()).map((a) => a.id);
      if (access.length) await trx.updateTable('tokens').set({ revoked: 1 }).where('oauth_access_token_id', 'in', access).execute();
      await trx.deleteFrom('oauth_access_tokens').where('consumer_id', '=', id).execute();
      await trx.deleteFrom('oauth_request_tokens').where('consumer_id', '=', id).execute();
      await trx.deleteFrom('oauth_consumers').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ the flow

  /** POST /v3/OS-OAUTH1/request_token: a signed request (consumer secret only) for a project. */
  async requestToken(req: SignedRequest, projectId: string | undefined): Promise<{ id: string; secret: string; expiresAt: string }> {
    const consumerId = req.oauth.get('oauth_consumer_key');
    if (!consumerId) throw expecting('oauth_consumer_key', 'request');
    if (!projectId) throw expecting('Requested-Project-Id', 'request');
    if (!(await this.db.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst())) throw notFound('project', projectId);
    const consumerSecret = await this.consumerSecret(consumerId);
    if (consumerSecret === undefined) throw consumerNotFound(consumerId);
    if (!verifySignature(req, consumerSecret, '')) throw signatureError();
    const id = hexId();
    const secret = hexId();
    const expiresAt = future(REQUEST_TOKEN_SECONDS);
    await this.env.write({ id, projectId, op: 'create' }, async (trx) => {
      await trx
        .insertInto('oauth_request_tokens')
        .values({ id, encrypted_secret: this.cipher.seal(secret, id), consumer_id: consumerId, requested_project_id: projectId, expires_at: expiresAt })
        .execute();
    });
    return { id, secret, expiresAt };
  }

  /** PUT /v3/OS-OAUTH1/authorize/{id}: the caller grants some of its roles on the requested project. */
  async authorize(requestTokenId: string, userId: string, roleIds: string[]): Promise<string> {
    return this.env.write({ id: requestTokenId, op: 'update' }, async (trx) => {
      const rt = await trx.selectFrom('oauth_request_tokens').selectAll().where('id', '=', requestTokenId).executeTakeFirst();
      if (!rt) throw notFoundTarget('Request token not found');
      if (expired(rt.expires_at)) throw unauthorized();
      // Keystone's get_roles_for_user_and_project: effective assignments, implied roles included
      // (an admin may delegate `reader`, which `member` implies), domain-specific roles stripped.
      const held = new Set((await this.assignments.effectiveRoles(userId, 'project', rt.requested_project_id, trx)).map((r) => r.id));
      if (!roleIds.every((r) => held.has(r))) throw unauthorized();
      const verifier = Array.from(randomBytes(8), (b) => VERIFIER_CHARS[b % VERIFIER_CHARS.length]).join('');
      await trx
        .updateTable('oauth_request_tokens')
        .set({ authorizing_user_id: userId, role_ids: JSON.stringify(roleIds), verifier })
        .where('id', '=', requestTokenId)
        .execute();
      return verifier;
    });
  }

  /** POST /v3/OS-OAUTH1/access_token: the authorized request token, signed with both secrets, for an access token. */
  async accessToken(req: SignedRequest): Promise<{ id: string; secret: string; expiresAt: string }> {
    const consumerId = req.oauth.get('oauth_consumer_key');
    const requestTokenId = req.oauth.get('oauth_token');
    const verifier = req.oauth.get('oauth_verifier');
    if (!consumerId) throw expecting('oauth_consumer_key', 'request');
    if (!requestTokenId) throw expecting('oauth_token', 'request');
    if (!verifier) throw expecting('oauth_verifier', 'request');
    const rt = await this.db.selectFrom('oauth_request_tokens').selectAll().where('id', '=', requestTokenId).executeTakeFirst();
    if (!rt) throw notFoundTarget('Request token not found');
    if (expired(rt.expires_at)) throw unauthorized();
    const consumerSecret = await this.consumerSecret(consumerId);
    if (consumerSecret === undefined) throw unauthorized();
    if (rt.consumer_id !== consumerId) throw unauthorized();
    if (rt.verifier !== verifier) throw unauthorized();
    if (!verifySignature(req, consumerSecret, this.cipher.open(rt.encrypted_secret, rt.id))) throw signatureError();
    if (!rt.authorizing_user_id) throw unauthorized();
    const id = hexId();
    const secret = hexId();
    const expiresAt = future(ACCESS_TOKEN_SECONDS);
    await this.env.write({ id, projectId: rt.requested_project_id, op: 'create' }, async (trx) => {
      await trx
        .insertInto('oauth_access_tokens')
        .values({
          id,
          encrypted_secret: this.cipher.seal(secret, id),
          consumer_id: consumerId,
          authorizing_user_id: rt.authorizing_user_id!,
          project_id: rt.requested_project_id,
          role_ids: rt.role_ids ?? '[]',
          expires_at: expiresAt,
        })
        .execute();
      // A request token is used once.
      await trx.deleteFrom('oauth_request_tokens').where('id', '=', rt.id).execute();
    });
    return { id, secret, expiresAt };
  }

  /** The `oauth1` authentication method: a request signed with an access token; its user, project and roles. */
  async authenticate(req: SignedRequest): Promise<AccessToken> {
    const consumerId = req.oauth.get('oauth_consumer_key');
    const tokenId = req.oauth.get('oauth_token');
    if (!consumerId || !tokenId) throw unauthorized();
    const at = await this.accessTokenRow(tokenId);
    const consumerSecret = await this.consumerSecret(consumerId);
    if (!at || consumerSecret === undefined || at.consumer_id !== consumerId || expired(at.expires_at)) throw unauthorized();
    const row = await this.db.selectFrom('oauth_access_tokens').select('encrypted_secret').where('id', '=', tokenId).executeTakeFirstOrThrow();
    if (!verifySignature(req, consumerSecret, this.cipher.open(row.encrypted_secret, tokenId))) throw signatureError();
    return at;
  }

  async accessTokenRow(id: string): Promise<AccessToken | undefined> {
    const r = await this.db.selectFrom('oauth_access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return (
      r && {
        id: r.id,
        consumer_id: r.consumer_id,
        authorizing_user_id: r.authorizing_user_id,
        project_id: r.project_id,
        role_ids: fromJson<string[]>(r.role_ids, []),
        expires_at: r.expires_at,
      }
    );
  }

  async accessTokens(userId: string): Promise<AccessToken[]> {
    const rows = await this.db.selectFrom('oauth_access_tokens').select('id').where('authorizing_user_id', '=', userId).orderBy('id').execute();
    return (await Promise.all(rows.map((r) => this.accessTokenRow(r.id)))).filter((a): a is AccessToken => !!a);
  }

  async userAccessToken(userId: string, id: string): Promise<AccessToken> {
    const at = await this.accessTokenRow(id);
    if (!at || at.authorizing_user_id !== userId) throw notFoundTarget('Access token not found');
    return at;
  }

  async revokeAccessToken(userId: string, id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const res = await trx.deleteFrom('oauth_access_tokens').where('id', '=', id).where('authorizing_user_id', '=', userId).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFoundTarget('Access token not found');
      await trx.updateTable('tokens').set({ revoked: 1 }).where('oauth_access_token_id', '=', id).execute();
    });
  }
}
