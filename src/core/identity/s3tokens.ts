import { createHmac, timingSafeEqual } from 'node:crypto';
import { unauthorized } from '../errors.js';
import { type SignedAuthEnv, type SignedAuthOutcome, signedAuthenticate } from './signedauth.js';

const hmac = (alg: 'sha1' | 'sha256', key: string | Buffer, msg: string | Buffer) => createHmac(alg, key).update(msg).digest();

/** s3tokens._calculate_signature_v4: AWS Signature v4 over the string the S3 proxy signed. */
function signatureV4(stringToSign: Buffer, secret: string): string {
  const parts = stringToSign.toString('latin1').split('\n');
  if (parts.length !== 4 || parts[0] !== 'AWS4-HMAC-SHA256') throw unauthorized();
  const scope = parts[2].split('/');
  if (scope.length !== 4 || scope[3] !== 'aws4_request' || !['s3', 'iam', 'sts'].includes(scope[2])) throw unauthorized();
  let key = hmac('sha256', `AWS4${secret}`, Buffer.from(scope[0], 'latin1'));
  key = hmac('sha256', key, Buffer.from(scope[1], 'latin1'));
  key = hmac('sha256', key, Buffer.from(scope[2], 'latin1'));
  key = hmac('sha256', key, 'aws4_request');
  return hmac('sha256', key, stringToSign).toString('hex');
}

/**
 * S3Resource._check_signature: `token` is the base64 (URL-safe) of the string the S3 proxy
 * signed; v4 when it starts with `AWS4`, else v1 (HMAC-SHA1, base64).
 */
function checkS3Signature(credentials: Record<string, unknown>, secret: string): void {
  const token = credentials.token;
  const signature = credentials.signature;
  if (typeof token !== 'string' || typeof signature !== 'string') throw unauthorized();
  const stringToSign = Buffer.from(token, 'base64url');
  const expected =
    stringToSign.subarray(0, 4).toString('latin1') === 'AWS4' ? signatureV4(stringToSign, secret) : hmac('sha1', secret, stringToSign).toString('base64');
  const a = Buffer.from(signature);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw unauthorized();
}

/** POST /v3/s3tokens (keystone/api/s3tokens.py): an S3 front end's v1 or v4 signature. */
export function s3Authenticate(env: SignedAuthEnv, body: unknown): Promise<SignedAuthOutcome> {
  return signedAuthenticate(env, body, checkS3Signature);
}
