import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throw-away PKI made with the openssl command (as an operator would): a server CA with server
 * certificates (PEM and PKCS#12, no passphrase, as Octavia reads them), and a client CA with a
 * good and a revoked client certificate and its CRL.
 */
export interface Pki {
  dir: string;
  caPem: Buffer;
  server(name: string): { cert: Buffer; key: Buffer; p12: Buffer; encryptedKey: Buffer };
  clientCaPem: Buffer;
  clientCaCrl: Buffer;
  /** A CRL signed by the server CA (the wrong CA for client authentication). */
  otherCrl: Buffer;
  client: { cert: Buffer; key: Buffer };
  revoked: { cert: Buffer; key: Buffer };
  cleanup(): void;
}

const CA_CONF = (dir: string, name: string) => `
[ca]
default_ca = this_ca
[this_ca]
database = ${dir}/${name}.index.txt
crlnumber = ${dir}/${name}.crlnumber
default_md = sha256
default_crl_days = 30
`;

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'pocketstack-pki-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const read = (f: string) => readFileSync(join(dir, f));
  const ca = (name: string) => {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.index.txt`), '');
    writeFileSync(join(dir, `${name}.crlnumber`), '01\n');
    writeFileSync(join(dir, `${name}.cnf`), CA_CONF(dir, name));
  };
  const issue = (caName: string, file: string, cn: string, sans: string[] = []) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(join(dir, `${file}.ext`), sans.length ? `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}\n` : 'basicConstraints=CA:FALSE\n');
    ssl(
      'x509',
      '-req',
      '-in',
      `${file}.csr`,
      '-CA',
      `${caName}.pem`,
      '-CAkey',
      `${caName}.key`,
      '-CAcreateserial',
      '-out',
      `${file}.pem`,
      '-days',
      '30',
      '-extfile',
      `${file}.ext`,
    );
  };
  const crl = (caName: string, revoke: string[]) => {
    for (const f of revoke) ssl('ca', '-config', `${caName}.cnf`, '-keyfile', `${caName}.key`, '-cert', `${caName}.pem`, '-revoke', `${f}.pem`);
    ssl('ca', '-config', `${caName}.cnf`, '-keyfile', `${caName}.key`, '-cert', `${caName}.pem`, '-gencrl', '-out', `${caName}.crl`);
    return read(`${caName}.crl`);
  };
  ca('server-ca');
  ca('client-ca');
  issue('client-ca', 'client', 'good-client');
  issue('client-ca', 'revoked', 'revoked-client');
  const clientCaCrl = crl('client-ca', ['revoked']);
  const otherCrl = crl('server-ca', []);
  const servers = new Map<string, ReturnType<Pki['server']>>();
  return {
    dir,
    caPem: read('server-ca.pem'),
    server(name) {
      const cached = servers.get(name);
      if (cached) return cached;
      const file = `srv-${servers.size}`;
      issue('server-ca', file, name, [name]);
      ssl('pkcs12', '-export', '-inkey', `${file}.key`, '-in', `${file}.pem`, '-passout', 'pass:', '-out', `${file}.p12`);
      ssl('pkey', '-in', `${file}.key`, '-aes256', '-passout', 'pass:sesame', '-out', `${file}.enc.key`);
      const s = { cert: read(`${file}.pem`), key: read(`${file}.key`), p12: read(`${file}.p12`), encryptedKey: read(`${file}.enc.key`) };
      servers.set(name, s);
      return s;
    },
    clientCaPem: read('client-ca.pem'),
    clientCaCrl,
    otherCrl,
    client: { cert: read('client.pem'), key: read('client.key') },
    revoked: { cert: read('revoked.pem'), key: read('revoked.key') },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
