/**
 * Octavia's checks of TLS references on listeners and pools, in its order and words:
 * - the API's own (controllers/base.py `_validate_tls_refs`): each certificate reference must be
 *   readable with the caller's rights, else one 400 listing every bad one; a secret that is not a
 *   PKCS#12 bundle is UnreadablePKCS12 at once;
 * - the CA and CRL secrets (`_validate_client_ca_and_crl_refs`): readable, a PEM certificate, a
 *   PEM CRL signed by that CA;
 * - the provider driver's (api/drivers/utils.py → cert_parser.load_certificates_data): each
 *   certificate must give a certificate with a CN and a usable key, else "Could not retrieve
 *   certificate: <ref>".
 * Octavia's defaults for TLS-enabled listeners and pools come with them.
 */
import type { Q } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import type { KeyManagerService } from '../keymanager/service.js';
import { UnreadableCertificate, UnreadablePkcs12, caCertificate, crlSignedBy, tlsBundle } from './certs.js';
import { ALPN_PROTOCOLS, TLS_VERSIONS } from './constants.js';
import { lbErrors } from './errors.js';

/** [api_settings] default_listener_ciphers / default_pool_ciphers (CIPHERS_OWASP_SUITE_B). */
export const DEFAULT_CIPHERS =
  'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA256:DHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256';
/** default_listener_tls_versions / default_pool_tls_versions (TLS_VERSIONS_OWASP_SUITE_B). */
export const DEFAULT_TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'];
/** default_listener_alpn_protocols / default_pool_alpn_protocols. */
export const DEFAULT_ALPN = ['h2', 'http/1.1', 'http/1.0'];

/** validate.check_tls_version_list (no minimum_tls_version is configured). */
export function checkTlsVersions(versions: ReadonlyArray<string | null> | null | undefined): void {
  if (versions === undefined || versions === null) return;
  if (versions.length === 0) {
    throw lbErrors.validation('Empty TLS version list. Either specify at least one TLS version or remove this parameter to use the default.');
  }
  const bad = versions.filter((v): v is string => v === null || !TLS_VERSIONS.includes(v));
  if (bad.length) throw lbErrors.validation(`Invalid TLS versions: ${bad.join(', ')}`);
}

/** validate.check_alpn_protocols. */
export function checkAlpn(protocols: ReadonlyArray<string | null> | null | undefined): void {
  if (protocols === undefined || protocols === null) return;
  if (protocols.length === 0) {
    throw lbErrors.validation('Empty ALPN protocol list. Either specify at least one ALPN protocol or remove this parameter to use the default.');
  }
  const bad = protocols.filter((p): p is string => p === null || !ALPN_PROTOCOLS.includes(p));
  if (bad.length) throw lbErrors.validation(`Invalid ALPN protocol: ${bad.join(', ')}`);
}

export class TlsChecks {
  constructor(
    private readonly km: KeyManagerService,
    private readonly ctx: RequestContext,
    /** The transaction the checks run in (the store's own connection otherwise). */
    private readonly q?: Q,
  ) {}

  /** `_validate_tls_refs`: every certificate reference readable by the caller. */
  async refs(refs: readonly string[]): Promise<void> {
    const bad: string[] = [];
    for (const ref of refs) {
      const m = await this.km.material(ref, this.ctx, this.q);
      if (!m) {
        bad.push(ref);
        continue;
      }
      if (m.kind === 'secret') {
        try {
          tlsBundle(m);
        } catch (e) {
          if (e instanceof UnreadablePkcs12) throw lbErrors.unreadablePkcs12(e.message);
        }
      }
    }
    if (bad.length) throw lbErrors.certificateRetrieval(bad);
  }

  /** The driver's load_certificates_data: each reference yields a certificate and its key. */
  async certificates(refs: readonly string[]): Promise<void> {
    for (const ref of refs) {
      const m = await this.km.material(ref, this.ctx, this.q);
      try {
        if (!m) throw new UnreadableCertificate('not found');
        tlsBundle(m);
      } catch (e) {
        if (e instanceof UnreadablePkcs12) throw lbErrors.unreadablePkcs12(e.message);
        throw lbErrors.certificateRetrieval(ref);
      }
    }
  }

  /** `_validate_client_ca_and_crl_refs` (listeners' client authentication, pools' member CA). */
  async caAndCrl(caRef: string, crlRef: string | null | undefined): Promise<void> {
    const bad: string[] = [];
    const ca = await this.km.material(caRef, this.ctx, this.q);
    if (ca?.kind !== 'secret') bad.push(caRef);
    let crl: Buffer | null = null;
    if (crlRef) {
      const m = await this.km.material(crlRef, this.ctx, this.q);
      if (m?.kind !== 'secret') bad.push(crlRef);
      else crl = m.payload;
    }
    if (bad.length || ca?.kind !== 'secret') throw lbErrors.certificateRetrieval(bad);
    let cert: ReturnType<typeof caCertificate>;
    try {
      cert = caCertificate(ca.payload);
    } catch (e) {
      throw lbErrors.validation(
        `The client authentication CA certificate is invalid. It must be a valid x509 PEM format certificate. Error: ${(e as Error).message}`,
      );
    }
    if (crl) {
      let valid: boolean;
      try {
        valid = crlSignedBy(crl, cert);
      } catch (e) {
        throw lbErrors.validation(
          `The client authentication certificate revocation list is invalid. It must be a valid x509 PEM format certificate revocation list. Error: ${(e as Error).message}`,
        );
      }
      if (!valid) throw lbErrors.validation('The CRL specified is not valid for client certificate authority reference supplied.');
    }
  }
}
