import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';

// scrypt parameters: N=2^14, r=8, p=1 (~16 MiB, ~40 ms here): slow enough to make a stolen
// hash expensive to attack, fast enough for a token request.
const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scrypt(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEYLEN, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Checked instead when there is no hash (no such user, no password): same parameters, same cost. */
const DUMMY_SALT = randomBytes(16);

/**
 * True when `password` matches `stored`. It always spends one scrypt, also when there is nothing
 * to compare with (an unknown user name, a user without a password): otherwise how long a login
 * takes would tell which user names exist.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = (stored ?? '').split('$');
  const usable = alg === 'scrypt' && !!hash;
  const key = usable ? await scrypt(password, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p)) : await scrypt(password, DUMMY_SALT, N, R, P);
  if (!usable) return false;
  const expected = Buffer.from(hash, 'base64');
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A password for generated accounts: 20 URL-safe characters. */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}
