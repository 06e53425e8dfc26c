/**
 * Key generation for orders, as DevStack's Barbican does it: the store_crypto adapter over the
 * simple_crypto plugin (barbican/plugin/store_crypto.py, plugin/crypto/simple_crypto.py). Its
 * checks come in its order, and a refusal carries what Barbican's order task records
 * (api.generate_safe_exception_message): a BarbicanHTTPException's status and client message, or
 * 500 for anything else.
 *
 *   - symmetric (`key` orders): aes, des, 3des, hmacsha1/256/384/512 of 64, 128, 192 or 256 bits
 *     (twice that in `xts` mode): `bit_length / 8` random bytes;
 *   - asymmetric: rsa (PKCS#8 and SubjectPublicKeyInfo, PEM) or dsa (the same, DER) of 1024,
 *     2048 or 4096 bits, the private key encrypted under the order's `passphrase` if it has one.
 *     Barbican has no plugin that generates EC keys (KeyAlgorithm lists `ec`, the crypto plugins
 *     do not): an `ec` order fails as there, "Requested algorithm is not supported".
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

/** What a failed generation leaves on the order: error_status_code and the client's reason. */
export class GenerationFailure extends Error {
  constructor(
    readonly status: number,
    readonly clientMessage: string | null,
  ) {
    super(clientMessage ?? 'failure');
  }
}

/** secret_store.KeyAlgorithm: what StoreCryptoAdapterPlugin.generate_supports accepts. */
const STORE_ASYMMETRIC = ['diffie_hellman', 'dsa', 'rsa', 'ec'];
const STORE_SYMMETRIC = ['aes', 'des', 'desede', 'hmacsha1', 'hmacsha256', 'hmacsha384', 'hmacsha512'];
/** crypto.base.PluginSupportTypes: what the crypto plugins generate. */
const CRYPTO_SYMMETRIC = ['aes', 'des', '3des', 'hmacsha1', 'hmacsha256', 'hmacsha384', 'hmacsha512'];
const CRYPTO_ASYMMETRIC = ['rsa', 'dsa'];
const SYMMETRIC_KEY_LENGTHS = [64, 128, 192, 256];
const ASYMMETRIC_KEY_LENGTHS = [1024, 2048, 4096];

const pluginNotFound = () => new GenerationFailure(400, 'Secret generate supported plugin not found');
const algorithmNotSupported = () => new GenerationFailure(400, 'Requested algorithm is not supported');
/** CryptoPluginUnsupportedOperation and TypeErrors are no BarbicanHTTPException: 500, no detail. */
const failure = () => new GenerationFailure(500, null);

function generationType(alg: string): 'symmetric' | 'asymmetric' {
  if (!STORE_ASYMMETRIC.includes(alg) && !STORE_SYMMETRIC.includes(alg)) throw pluginNotFound();
  if (CRYPTO_SYMMETRIC.includes(alg)) return 'symmetric';
  if (CRYPTO_ASYMMETRIC.includes(alg)) return 'asymmetric';
  throw algorithmNotSupported();
}

/** simple_crypto._is_algorithm_supported. */
function supported(alg: string, bits: number, mode: string | null): boolean {
  const factor = mode?.toLowerCase() === 'xts' ? 2 : 1;
  if (CRYPTO_SYMMETRIC.includes(alg) && SYMMETRIC_KEY_LENGTHS.includes(bits / factor)) return true;
  return CRYPTO_ASYMMETRIC.includes(alg) && ASYMMETRIC_KEY_LENGTHS.includes(bits);
}

/** store_crypto.generate_symmetric_key + simple_crypto.generate_symmetric. */
export function generateSymmetric(algorithm: string, bitLength: number, mode: string | null): Buffer {
  const alg = algorithm.toLowerCase();
  if (generationType(alg) !== 'symmetric') throw algorithmNotSupported();
  if (!supported(alg, bitLength, mode)) throw failure();
  return randomBytes(Math.floor(bitLength / 8));
}

export interface KeyPair {
  privateKey: Buffer;
  publicKey: Buffer;
  /** The passphrase secret's payload, when the order had one. */
  passphrase: Buffer | null;
}

/** store_crypto.generate_asymmetric_key + simple_crypto.generate_asymmetric (off the event loop). */
export async function generateAsymmetric(algorithm: string, bitLength: number, passphrase: unknown): Promise<KeyPair> {
  const alg = algorithm.toLowerCase();
  if (generationType(alg) !== 'asymmetric') throw algorithmNotSupported();
  if (!supported(alg, bitLength, null)) throw failure();
  // A passphrase that is no string fails in encodeutils.safe_encode (a TypeError: 500).
  const truthy =
    !(passphrase === undefined || passphrase === null || passphrase === false || passphrase === 0 || passphrase === '') &&
    !(Array.isArray(passphrase) && passphrase.length === 0) &&
    !(typeof passphrase === 'object' && !Array.isArray(passphrase) && Object.keys(passphrase as object).length === 0);
  if (truthy && typeof passphrase !== 'string') throw failure();
  const pass = typeof passphrase === 'string' && passphrase !== '' ? passphrase : null;
  const format = alg === 'rsa' ? 'pem' : 'der';
  // serialization.BestAvailableEncryption: PBES2 with AES-256-CBC; NoEncryption without a passphrase.
  const encryption = pass ? { cipher: 'aes-256-cbc', passphrase: pass } : {};
  const pair =
    alg === 'rsa'
      ? await generateKeyPairAsync('rsa', { modulusLength: bitLength, publicExponent: 65537 })
      : // cryptography's dsa.generate_private_key: OpenSSL's default subgroup (160 bits below 2048, else 256).
        await generateKeyPairAsync('dsa', { modulusLength: bitLength, divisorLength: bitLength < 2048 ? 160 : 256 });
  const privateKey =
    format === 'pem'
      ? pair.privateKey.export({ type: 'pkcs8', format: 'pem', ...encryption })
      : pair.privateKey.export({ type: 'pkcs8', format: 'der', ...encryption });
  const publicKey = format === 'pem' ? pair.publicKey.export({ type: 'spki', format: 'pem' }) : pair.publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKey: Buffer.isBuffer(privateKey) ? privateKey : Buffer.from(privateKey, 'utf8'),
    publicKey: Buffer.isBuffer(publicKey) ? publicKey : Buffer.from(publicKey, 'utf8'),
    passphrase: pass ? Buffer.from(pass, 'utf8') : null,
  };
}
