import { createHash } from 'node:crypto';
import { unauthorized } from '../errors.js';
import type { AppCreds } from './appcreds.js';
import type { Credentials } from './credentials.js';
import { notFound, validationError } from './errors.js';
import type { OAuth1 } from './oauth1.js';
import type { Delegation } from './tokens.js';
import type { Trusts } from './trusts.js';

/** Keystone's [credential] auth_ttl: how old a signed request's timestamp may be, minutes. */
const AUTH_TTL_MINUTES = 15;

/**
 * What EC2 and S3 signatures share (keystone/api/_shared/EC2_S3_Resource.py, ResourceBase):
 * the credential found by its access key, the signature checked by the caller's rule, the
 * signed timestamp's age, and the user, project and delegation a token is issued for.
 */

/** What the signed-request authentication needs of the identity service. */
export interface SignedAuthEnv {
  readonly credentials: Credentials;
  readonly trusts: Trusts;
  readonly appCreds: AppCreds;
  readonly oauth1: OAuth1;
}

/** Who the token is for, on which project, through which delegation. */
export interface SignedAuthOutcome {
  userId: string;
  projectId: string;
  delegation?: Delegation;
  /** The delegation's own expiry, which the token may not outlive. */
  expiresBy?: string | null;
}

/** ResourceBase._check_timestamp: a signed timestamp, when there is one, no older than auth_ttl. */
function checkTimestamp(credentials: Record<string, unknown>): void {
  const field = (o: unknown, k: string) => (o && typeof o === 'object' && Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined);
  const stamp = field(credentials.params, 'Timestamp') || field(credentials.headers, 'X-Amz-Date') || field(credentials.params, 'X-Amz-Date');
  if (!stamp) return;
  // oslo's parse_isotime takes ISO 8601, AWS's basic form (20261204T091500Z) included.
  const text = String(stamp).replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})/, '$1-$2-$3T$4:$5:$6');
  const at = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(text) ? text : `${text}Z`);
  if (Number.isNaN(at)) throw unauthorized();
  if (Date.now() > at + AUTH_TTL_MINUTES * 60_000) throw unauthorized();
}

/**
 * A service's `_check_signature(creds_ref, credentials)`: throws (Keystone's 401) unless the
 * request in `credentials` was signed with `secret`.
 */
export type SignatureCheck = (credentials: Record<string, unknown>, secret: string) => void;

/**
 * ResourceBase.handle_authenticate: the front end hands Keystone the access key, what was signed
 * and the signature; the EC2 credential found by the access key's SHA-256 checks it, and a token
 * is issued to its user on its project — through the trust, application credential or OAuth1
 * access token the credential was made with, if any. Keystone's errors are security errors (a
 * bare 401) except the unknown access key's 404 (get_credential's CredentialNotFound).
 */
export async function signedAuthenticate(env: SignedAuthEnv, body: unknown, checkSignature: SignatureCheck): Promise<SignedAuthOutcome> {
  const json = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (!json || Object.keys(json).length === 0) throw validationError('request must include a request body');
  // Keystone takes "credentials", then "credential", then "ec2Credentials".
  const pick = (k: string) => (Object.hasOwn(json, k) ? json[k] : undefined);
  const given = pick('credentials') || pick('credential') || pick('ec2Credentials');
  const credentials = given && typeof given === 'object' && !Array.isArray(given) ? (given as Record<string, unknown>) : {};
  if (!Object.hasOwn(credentials, 'access')) throw unauthorized();

  const access = String(credentials.access);
  const credentialId = createHash('sha256').update(access).digest('hex');
  const cred = await env.credentials.find(credentialId);
  if (!cred) throw notFound('credential', credentialId);
  if (cred.type !== 'ec2') throw unauthorized();
  let blob: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(cred.blob);
    blob = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    throw unauthorized();
  }
  const text = (k: string) => (typeof blob[k] === 'string' && blob[k] !== '' ? (blob[k] as string) : undefined);
  checkSignature(credentials, String(blob.secret ?? ''));
  if (!cred.project_id) throw unauthorized();
  checkTimestamp(credentials);

  const trustId = text('trust_id');
  const appCredId = text('app_cred_id');
  const accessTokenId = text('access_token_id');
  if (trustId) {
    const trust = await env.trusts.row(trustId);
    if (!trust) throw unauthorized();
    // The credential names the user its trust-scoped token stood for: the trustor when the trust
    // impersonates, else the trustee; a token here names that same user (Keystone issues it to
    // the trustee, and impersonation makes it the trustor's).
    return { userId: cred.user_id, projectId: cred.project_id, delegation: { trustId }, expiresBy: trust.expires_at };
  }
  if (appCredId) {
    const ac = await env.appCreds.row(appCredId);
    if (!ac || ac.project_id !== cred.project_id) throw unauthorized();
    return { userId: cred.user_id, projectId: cred.project_id, delegation: { appCredId }, expiresBy: ac.expires_at };
  }
  if (accessTokenId) {
    const at = await env.oauth1.accessTokenRow(accessTokenId);
    if (!at || at.project_id !== cred.project_id) throw unauthorized();
    return {
      userId: cred.user_id,
      projectId: cred.project_id,
      delegation: { oauthAccessTokenId: accessTokenId },
      expiresBy: at.expires_at ? at.expires_at.replace(/Z$/, '') : null,
    };
  }
  return { userId: cred.user_id, projectId: cred.project_id };
}
