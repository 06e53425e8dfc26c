/**
 * Certificates as Octavia reads them (octavia/certificates/common/pkcs12.py, barbican.py and
 * common/tls_utils/cert_parser.py): a secret reference holds a PKCS#12 bundle, a container
 * reference a Barbican certificate container (certificate, private_key, optional passphrase and
 * intermediates). Either becomes one TLS bundle in PEM: the certificate, its unencrypted key and
 * the intermediates, with the certificate's primary CN.
 *
 * node:crypto reads X.509 certificates and private keys; it has no PKCS#12 reader, so bundles are
 * unpacked with node-forge (its pkcs12 module handles the unencrypted, 3DES, RC2 and PBES2/AES
 * bags that cryptography, pyOpenSSL and `openssl pkcs12 -export` write), and what it yields is
 * handed back to node:crypto as DER, so forge's RSA-only key and certificate classes never limit
 * what is accepted (an EC bundle works too). Nor does node:crypto read CRLs: a CRL's outer
 * structure is split with forge's ASN.1 reader and its signature checked with node:crypto.
 */
import { X509Certificate, createPrivateKey, createPublicKey, verify } from 'node:crypto';
import forge from 'node-forge';
import type { Material } from '../keymanager/service.js';

export interface TlsBundle {
  /** PEM. */
  certificate: string;
  /** PEM, unencrypted PKCS#8. */
  privateKey: string;
  /** PEM blocks, in order. */
  intermediates: string[];
  /** The subject's CN, lower-cased (cert_parser.get_primary_cn). */
  primaryCn: string;
  /** DNS names of the subjectAltName extension. */
  dnsNames: string[];
}

/** The bundle is not a PKCS#12 one (Octavia's UnreadablePKCS12 carries the parser's error). */
export class UnreadablePkcs12 extends Error {}
/** Anything else wrong with the material (Octavia: CertificateRetrievalException). */
export class UnreadableCertificate extends Error {}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

function certFromPem(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new UnreadableCertificate(`Could not read X509 from PEM: ${(e as Error).message}`);
  }
}

/** The CN of a subject as node prints it ("CN=a\nO=b"), lower-cased; Octavia refuses a subject without. */
function primaryCn(cert: X509Certificate): string {
  const line = cert.subject.split('\n').find((l) => l.startsWith('CN='));
  if (!line) throw new UnreadableCertificate('the certificate has no common name');
  return line.slice(3).toLowerCase();
}

function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((x) => x.startsWith('DNS:'))
    .map((x) => x.slice(4).toLowerCase());
}

function bundle(certPem: string, keyPem: string | Buffer, passphrase: string | undefined, intermediates: string[]): TlsBundle {
  const cert = certFromPem(certPem);
  let key: string;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem', ...(passphrase !== undefined ? { passphrase } : {}) })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
  } catch {
    // cert_parser._read_private_key: an encrypted key without (the right) passphrase.
    throw new UnreadableCertificate('Passphrase needed to decrypt key but client did not provide one.');
  }
  for (const i of intermediates) certFromPem(i);
  return { certificate: cert.toString(), privateKey: key, intermediates, primaryCn: primaryCn(cert), dnsNames: dnsNames(cert) };
}

/** PKCS12Cert: the bundle's certificate, key and CA certificates (no passphrase, as Octavia). */
export function fromPkcs12(der: Buffer): TlsBundle {
  const certs: Buffer[] = [];
  let keyDer: Buffer | undefined;
  try {
    const asn = forge.asn1.fromDer(der.toString('binary'), false);
    // No passphrase, as Octavia reads bundles; OpenSSL's PKCS12_parse takes that as either the
    // empty password or none at all (cryptography's NoEncryption MACs with none), so both are tried.
    let p12: forge.pkcs12.Pkcs12Pfx;
    try {
      p12 = forge.pkcs12.pkcs12FromAsn1(asn, false, '');
    } catch {
      p12 = forge.pkcs12.pkcs12FromAsn1(asn, false, null as unknown as string);
    }
    for (const sc of p12.safeContents) {
      for (const bag of sc.safeBags) {
        if (bag.type === forge.pki.oids.certBag) {
          const asn = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
          certs.push(Buffer.from(forge.asn1.toDer(asn).getBytes(), 'binary'));
        } else if (bag.type === forge.pki.oids.keyBag || bag.type === forge.pki.oids.pkcs8ShroudedKeyBag) {
          const asn = bag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key)) : bag.asn1;
          keyDer = Buffer.from(forge.asn1.toDer(asn).getBytes(), 'binary');
        }
      }
    }
  } catch (e) {
    throw new UnreadablePkcs12(String((e as Error).message ?? e));
  }
  if (!certs.length) throw new UnreadablePkcs12('the bundle holds no certificate');
  if (!keyDer) throw new UnreadablePkcs12('the bundle holds no private key');
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey({ key: keyDer, format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw new UnreadablePkcs12((e as Error).message);
  }
  // The certificate is the one whose public key is the key's; the others are intermediates.
  const pub = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const parsed = certs.map((c) => new X509Certificate(c));
  const leaf = Math.max(
    0,
    parsed.findIndex((c) => c.publicKey.export({ format: 'der', type: 'spki' }).equals(pub)),
  );
  const main = parsed[leaf];
  const rest = parsed.filter((_, i) => i !== leaf).map((c) => c.toString());
  return bundle(main.toString(), key.export({ format: 'pem', type: 'pkcs8' }).toString(), undefined, rest);
}

/** BarbicanCert over a certificate container: its named secrets. */
function fromContainer(type: string, secrets: Map<string, Buffer>): TlsBundle {
  if (type !== 'certificate') throw new UnreadableCertificate('Retrieved Barbican Container is not of the correct type (certificate).');
  const cert = secrets.get('certificate');
  const key = secrets.get('private_key');
  if (!cert || !key) throw new UnreadableCertificate('the container holds no certificate or private key');
  const pass = secrets.get('private_key_passphrase')?.toString('utf8');
  const inter = secrets.get('intermediates')?.toString('utf8').match(PEM_CERT_RE) ?? [];
  return bundle(cert.toString('utf8'), key, pass, inter);
}

/** The TLS bundle a reference's material holds (PKCS#12 for a secret, a certificate container). */
export function tlsBundle(m: Material): TlsBundle {
  if (m.kind === 'secret') return fromPkcs12(m.payload);
  return fromContainer(m.type, m.secrets);
}

/** A CA certificate secret (PEM); throws the parser's message. */
export function caCertificate(pem: Buffer): X509Certificate {
  return new X509Certificate(pem);
}

/**
 * A PEM CRL, checked to be signed by `ca` (Octavia: x509.load_pem_x509_crl, then
 * crl.is_signature_valid(ca_pub_key)). Returns false when it parses but another key signed it.
 */
export function crlSignedBy(pem: Buffer, ca: X509Certificate): boolean {
  const m = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(pem.toString('utf8'));
  if (!m) throw new Error('Unable to load CRL');
  const der = Buffer.from(m[1].replace(/\s/g, ''), 'base64');
  const outer = forge.asn1.fromDer(der.toString('binary'), true);
  const parts = outer.value as forge.asn1.Asn1[];
  if (!Array.isArray(parts) || parts.length !== 3) throw new Error('Unable to load CRL');
  const tbs = Buffer.from(forge.asn1.toDer(parts[0]).getBytes(), 'binary');
  const algOid = forge.asn1.derToOid(((parts[1].value as forge.asn1.Asn1[])[0].value as string) ?? '');
  // BIT STRING: a leading byte of unused bits (0), then the signature.
  const sig = Buffer.from((parts[2].value as string).slice(1), 'binary');
  const hash = SIGNATURE_HASH.get(algOid);
  if (!hash) return false;
  try {
    return verify(hash, tbs, ca.publicKey, sig);
  } catch {
    return false;
  }
}

const SIGNATURE_HASH = new Map([
  ['1.2.840.113549.1.1.5', 'sha1'],
  ['1.2.840.113549.1.1.11', 'sha256'],
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
  ['1.2.840.10045.4.3.2', 'sha256'],
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
]);
