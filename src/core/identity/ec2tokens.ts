import { timingSafeEqual } from 'node:crypto';
import { unauthorized } from '../errors.js';
import { ec2Signature, hostnameOf } from './ec2signer.js';
import { type SignedAuthEnv, type SignedAuthOutcome, signedAuthenticate } from './signedauth.js';

/** keystone.common.utils.auth_str_equal: a comparison whose time does not tell where they differ. */
function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * EC2TokensResource._check_signature: the signature Ec2Signer computes must be the one given;
 * when it is not and `host` has a port, again without it ("some client libraries don't use the
 * port when signing requests"). The signature is computed before its presence is checked, so a
 * request the signer cannot read is Keystone's 500 either way. Both refusals ("Invalid EC2
 * signature.", "EC2 signature not supplied.") are security errors: a bare 401.
 */
function checkEc2Signature(credentials: Record<string, unknown>, secret: string): void {
  const expected = ec2Signature(secret, credentials);
  const given = credentials.signature;
  // `if credentials.get('signature')`: absent or empty is "not supplied".
  if (!given || (typeof given === 'object' && Object.keys(given).length === 0)) throw unauthorized();
  if (typeof given !== 'string') throw unauthorized();
  const signature = given;
  if (sameString(signature, expected)) return;
  const host = credentials.host;
  if (typeof host === 'string' && host.includes(':')) {
    if (sameString(signature, ec2Signature(secret, { ...credentials, host: hostnameOf(host) }))) return;
  }
  throw unauthorized();
}

/**
 * POST /v3/ec2tokens (keystone/api/ec2tokens.py): an EC2 API front end (ec2-api, or a client of
 * keystoneclient's Ec2Signer) hands Keystone the request it received — access key, verb, host,
 * path, parameters, headers and body hash — and its signature.
 */
export function ec2Authenticate(env: SignedAuthEnv, body: unknown): Promise<SignedAuthOutcome> {
  return signedAuthenticate(env, body, checkEc2Signature);
}
