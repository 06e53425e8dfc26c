/**
 * The certificates and PEM secrets a load balancer's configuration names, read from the key
 * manager with the load-balancer service's own rights (Octavia's service user, which Octavia
 * grants itself read access to on every reference a request names). Nothing here is logged.
 */
import { createHash } from 'node:crypto';
import type { KeyManagerService } from '../core/keymanager/service.js';
import { tlsBundle } from '../core/loadbalancer/certs.js';
import type { LbGraph } from '../core/loadbalancer/model.js';
import { type RtCertificate, type TlsMaterial, tlsReferences } from './config.js';

export async function loadTlsMaterial(km: KeyManagerService, g: LbGraph): Promise<TlsMaterial> {
  const { certificates, pems } = tlsReferences(g);
  const certs = new Map<string, RtCertificate | Error>();
  const texts = new Map<string, string>();
  for (const ref of certificates) {
    const m = await km.material(ref, null);
    try {
      if (!m) throw new Error(`certificate ${ref} is gone or unreadable`);
      const b = tlsBundle(m);
      const der = Buffer.from(b.certificate.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
      certs.set(ref, {
        id: createHash('sha1').update(der).digest('hex'),
        chain: `${[b.certificate.trim(), ...b.intermediates.map((i) => i.trim())].join('\n')}\n`,
        key: b.privateKey,
        names: [...new Set([b.primaryCn, ...b.dnsNames])],
      });
    } catch (e) {
      certs.set(ref, new Error(`certificate ${ref}: ${(e as Error).message}`));
    }
  }
  for (const ref of pems) {
    const m = await km.material(ref, null);
    if (m?.kind === 'secret') texts.set(ref, m.payload.toString('utf8'));
  }
  return {
    certificate(ref) {
      const c = certs.get(ref);
      if (!c) throw new Error(`certificate ${ref} is not available`);
      if (c instanceof Error) throw c;
      return c;
    },
    pem(ref) {
      const t = texts.get(ref);
      if (t === undefined) throw new Error(`secret ${ref} is gone or unreadable`);
      return t;
    },
  };
}
