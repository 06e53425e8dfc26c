import { createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { paging, pyRepr } from '../../src/core/keymanager/common.js';
import { GenerationFailure, generateAsymmetric, generateSymmetric } from '../../src/core/keymanager/keygen.js';

/**
 * What the key manager's orders generate and refuse, in the order Barbican's store_crypto and
 * simple_crypto check; and the small pieces of Python it speaks (repr, clean_paging_values).
 */
const failureOf = async (f: () => unknown): Promise<{ status: number; clientMessage: string | null }> => {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(GenerationFailure);
    const g = e as GenerationFailure;
    return { status: g.status, clientMessage: g.clientMessage };
  }
  throw new Error('no failure');
};

describe('symmetric keys', () => {
  it('are bit_length/8 random bytes for the algorithms and sizes simple_crypto supports', () => {
    expect(generateSymmetric('AES', 256, 'cbc')).toHaveLength(32);
    expect(generateSymmetric('hmacsha256', 128, null)).toHaveLength(16);
    // xts halves the effective key: 512 bits are two AES-256 keys.
    expect(generateSymmetric('aes', 512, 'xts')).toHaveLength(64);
    expect(generateSymmetric('aes', 256, null).equals(generateSymmetric('aes', 256, null))).toBe(false);
  });

  it('fail as Barbican fails them', async () => {
    expect(await failureOf(() => generateSymmetric('aes', 512, 'cbc'))).toEqual({ status: 500, clientMessage: null });
    expect(await failureOf(() => generateSymmetric('rsa', 2048, null))).toEqual({ status: 400, clientMessage: 'Requested algorithm is not supported' });
    // `desede` passes the store's check, not the crypto plugin's (which says `3des`); `3des` the reverse.
    expect(await failureOf(() => generateSymmetric('desede', 192, null))).toEqual({ status: 400, clientMessage: 'Requested algorithm is not supported' });
    expect(await failureOf(() => generateSymmetric('3des', 192, null))).toEqual({
      status: 400,
      clientMessage: 'Secret generate supported plugin not found',
    });
  });
});

describe('key pairs', () => {
  it('are RSA PEM (encrypted with a passphrase) or DSA DER', async () => {
    const rsa = await generateAsymmetric('RSA', 1024, 'pw');
    expect(rsa.privateKey.toString()).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(createPrivateKey({ key: rsa.privateKey, passphrase: 'pw' }).asymmetricKeyDetails?.modulusLength).toBe(1024);
    expect(rsa.publicKey.toString()).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(rsa.passphrase?.toString()).toBe('pw');
    const dsa = await generateAsymmetric('dsa', 1024, undefined);
    expect(createPrivateKey({ key: dsa.privateKey, format: 'der', type: 'pkcs8' }).asymmetricKeyType).toBe('dsa');
    expect(dsa.passphrase).toBeNull();
  });

  it('fail as Barbican fails them: EC, sizes, symmetric algorithms, a passphrase that is no string', async () => {
    expect(await failureOf(() => generateAsymmetric('ec', 256, undefined))).toEqual({ status: 400, clientMessage: 'Requested algorithm is not supported' });
    expect(await failureOf(() => generateAsymmetric('rsa', 3072, undefined))).toEqual({ status: 500, clientMessage: null });
    expect(await failureOf(() => generateAsymmetric('aes', 256, undefined))).toEqual({ status: 400, clientMessage: 'Requested algorithm is not supported' });
    expect(await failureOf(() => generateAsymmetric('rsa', 1024, 5))).toEqual({ status: 500, clientMessage: null });
    // A falsy passphrase is none at all.
    expect((await generateAsymmetric('rsa', 1024, 0)).passphrase).toBeNull();
  });
});

describe('Python as Barbican quotes and pages', () => {
  it('repr', () => {
    expect(pyRepr('x')).toBe("'x'");
    expect(pyRepr("it's")).toBe(`"it's"`);
    expect(pyRepr([1, true, null, { a: 'b' }])).toBe("[1, True, None, {'a': 'b'}]");
    expect(pyRepr(1.5)).toBe('1.5');
  });

  it('clean_paging_values', () => {
    const p = (q: string) => paging(new Map(new URLSearchParams(q)));
    expect(p('')).toEqual({ offset: 0, limit: 10 });
    expect(p('offset=-3&limit=0')).toEqual({ offset: 0, limit: 1 });
    expect(p('offset=x&limit=y')).toEqual({ offset: 0, limit: 10 });
    expect(p('offset=5&limit=500')).toEqual({ offset: 5, limit: 100 });
  });
});
