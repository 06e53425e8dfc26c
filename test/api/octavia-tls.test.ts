import https from 'node:https';
import type tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type TestCloud, freePort, startCloud, tokenFor } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';
import { type Pki, makePki } from '../support/pki.js';
import { type Backend, httpBackend } from '../support/servers.js';

/**
 * TLS termination: TERMINATED_HTTPS listeners with certificates from the key manager (PKCS#12
 * secrets and certificate containers), Octavia's validation and words, and real HTTPS traffic
 * through both engines — SNI, client authentication with a CRL, and a certificate replaced
 * under an open connection.
 */
let pki: Pki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki?.cleanup());

const fault = (r: { status: number; body: any }, status: number, text: string | RegExp) => {
  expect(r.status).toBe(status);
  if (typeof text === 'string') expect(r.body.faultstring).toBe(text);
  else expect(r.body.faultstring).toMatch(text);
};

interface Env {
  tc: TestCloud;
  c: Awaited<ReturnType<typeof lbClients>>;
  km: Client;
  subnetId: string;
}

async function env(engine: 'builtin' | 'haproxy'): Promise<Env> {
  const tc = await startCloud({ config: { lbEngine: engine } });
  const c = await lbClients(tc);
  const km = new Client(tc.cloud.apps.get('key-manager')!, await tokenFor(tc, 'demo', 'demo-secret'));
  const { subnetId } = await makeSubnet(c.net.demo);
  return { tc, c, km, subnetId };
}

const secret = async (km: Client, payload: Buffer, binary = true) => {
  const r = await km.post(
    '/v1/secrets',
    binary
      ? { payload: payload.toString('base64'), payload_content_type: 'application/octet-stream', payload_content_encoding: 'base64' }
      : { payload: payload.toString('utf8'), payload_content_type: 'text/plain' },
  );
  expect(r.status).toBe(201);
  return r.body.secret_ref as string;
};

const container = async (km: Client, parts: Record<string, Buffer>) => {
  const refs = [];
  for (const [name, v] of Object.entries(parts)) refs.push({ name, secret_ref: await secret(km, v, false) });
  const r = await km.post('/v1/containers', { type: 'certificate', secret_refs: refs });
  expect(r.status).toBe(201);
  return r.body.container_ref as string;
};

async function lbOn(e: Env): Promise<string> {
  const r = await e.c.demo.post('/v2.0/lbaas/loadbalancers', { loadbalancer: { vip_subnet_id: e.subnetId } });
  await settle(e, r.body.loadbalancer.id);
  return r.body.loadbalancer.id;
}

const settle = (e: Env, lb: string) =>
  waitFor(
    () => e.c.demo.get(`/v2.0/lbaas/loadbalancers/${lb}`),
    (r) => r.body.loadbalancer.provisioning_status === 'ACTIVE',
  );

describe('TERMINATED_HTTPS listeners: validation', () => {
  let e: Env;
  let lb: string;
  beforeAll(async () => {
    e = await env('builtin');
    lb = await lbOn(e);
  });
  afterAll(async () => e?.tc.stop());
  const create = (listener: Record<string, unknown>) =>
    e.c.demo.post('/v2.0/lbaas/listeners', { listener: { loadbalancer_id: lb, protocol: 'TERMINATED_HTTPS', protocol_port: 443, ...listener } });

  it('needs a certificate, and certificates only on TLS listeners', async () => {
    fault(
      await create({}),
      400,
      'Validation failure: An SNI or default certificate container reference must be provided for TERMINATED_HTTPS protocol listeners.',
    );
    const ref = await secret(e.km, pki.server('a.example.com').p12);
    fault(
      await e.c.demo.post('/v2.0/lbaas/listeners', { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 80, default_tls_container_ref: ref } }),
      400,
      'Validation failure: Certificate container references are not allowed on HTTP protocol listeners.',
    );
  });

  it('refuses references it cannot read, listing them', async () => {
    const missing = 'http://127.0.0.1:9311/v1/secrets/00000000-0000-4000-8000-000000000000';
    fault(await create({ default_tls_container_ref: missing }), 400, `Could not retrieve certificate: ['${missing}']`);
    fault(await create({ default_tls_container_ref: 'not a reference' }), 400, "Could not retrieve certificate: ['not a reference']");
    // Another project's secret, without an ACL naming the caller.
    const admin = new Client(e.tc.cloud.apps.get('key-manager')!, await tokenFor(e.tc, 'admin', 'admin-secret'));
    const foreign = await secret(admin, pki.server('a.example.com').p12);
    fault(await create({ default_tls_container_ref: foreign }), 400, `Could not retrieve certificate: ['${foreign}']`);
  });

  it('refuses a secret that is not a PKCS#12 bundle, and a container whose PEM does not parse', async () => {
    const text = await secret(e.km, Buffer.from('not a bundle'), false);
    fault(
      await create({ default_tls_container_ref: text }),
      400,
      /^The PKCS12 bundle is unreadable\. Please check the PKCS12 bundle validity\. In addition, make sure it does not require a pass phrase\. Error: /,
    );
    const bad = await container(e.km, {
      certificate: Buffer.from('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n'),
      private_key: pki.server('a.example.com').key,
    });
    fault(await create({ default_tls_container_ref: bad }), 400, `Could not retrieve certificate: ${bad}`);
    const locked = await container(e.km, { certificate: pki.server('a.example.com').cert, private_key: pki.server('a.example.com').encryptedKey });
    fault(await create({ default_tls_container_ref: locked }), 400, `Could not retrieve certificate: ${locked}`);
  });

  it('checks client authentication settings, the CA and that the CRL is that CA’s', async () => {
    const cert = await secret(e.km, pki.server('a.example.com').p12);
    fault(
      await create({ default_tls_container_ref: cert, client_authentication: 'MANDATORY' }),
      400,
      'Validation failure: Client authentication setting MANDATORY requires a client CA container reference.',
    );
    const ca = await secret(e.km, pki.clientCaPem, false);
    const wrongCrl = await secret(e.km, pki.otherCrl, false);
    fault(
      await create({ default_tls_container_ref: cert, client_ca_tls_container_ref: ca, client_crl_container_ref: wrongCrl }),
      400,
      'Validation failure: The CRL specified is not valid for client certificate authority reference supplied.',
    );
    const notCa = await secret(e.km, Buffer.from('garbage'), false);
    fault(
      await create({ default_tls_container_ref: cert, client_ca_tls_container_ref: notCa }),
      400,
      /^Validation failure: The client authentication CA certificate is invalid\. It must be a valid x509 PEM format certificate\. Error: /,
    );
    fault(await create({ default_tls_container_ref: cert, tls_versions: [] }), 400, /Empty TLS version list/);
    fault(await create({ default_tls_container_ref: cert, tls_versions: ['TLSv9'] }), 400, 'Validation failure: Invalid TLS versions: TLSv9');
  });

  it('accepts a PKCS#12 secret or a certificate container (encrypted key and passphrase too), with Octavia’s defaults', async () => {
    const p12 = await secret(e.km, pki.server('a.example.com').p12);
    const cont = await container(e.km, {
      certificate: pki.server('b.example.com').cert,
      private_key: pki.server('b.example.com').encryptedKey,
      private_key_passphrase: Buffer.from('sesame'),
    });
    const r = await create({ default_tls_container_ref: p12, sni_container_refs: [cont] });
    expect(r.status).toBe(201);
    expect(r.body.listener).toMatchObject({
      protocol: 'TERMINATED_HTTPS',
      default_tls_container_ref: p12,
      sni_container_refs: [cont],
      tls_versions: ['TLSv1.2', 'TLSv1.3'],
      alpn_protocols: ['h2', 'http/1.1', 'http/1.0'],
      client_authentication: 'NONE',
    });
    expect(r.body.listener.tls_ciphers).toMatch(/^TLS_AES_256_GCM_SHA384:/);
    await settle(e, lb);
    expect((await e.c.demo.get(`/v2.0/lbaas/listeners/${r.body.listener.id}`)).body.listener.provisioning_status).toBe('ACTIVE');
  });
});

for (const engine of ['builtin', 'haproxy'] as const) {
  describe(`HTTPS through the ${engine} engine`, () => {
    let e: Env;
    let lb: string;
    let listener: string;
    let address: string;
    let port: number;
    let web1: Backend;
    let web2: Backend;
    let refA: string;
    let refB: string;

    beforeAll(async () => {
      e = await env(engine);
      web1 = await httpBackend('web1');
      web2 = await httpBackend('web2');
      lb = await lbOn(e);
      port = await freePort();
      refA = await secret(e.km, pki.server('a.example.com').p12);
      refB = await secret(e.km, pki.server('b.example.com').p12);
      const ca = await secret(e.km, pki.clientCaPem, false);
      const crl = await secret(e.km, pki.clientCaCrl, false);
      const l = await e.c.demo.post('/v2.0/lbaas/listeners', {
        listener: {
          loadbalancer_id: lb,
          protocol: 'TERMINATED_HTTPS',
          protocol_port: port,
          default_tls_container_ref: refA,
          sni_container_refs: [refB],
          client_authentication: 'OPTIONAL',
          client_ca_tls_container_ref: ca,
          client_crl_container_ref: crl,
          insert_headers: { 'X-Forwarded-Proto': 'true', 'X-SSL-Client-CN': 'true', 'X-SSL-Client-Verify': 'true' },
        },
      });
      expect(l.status).toBe(201);
      listener = l.body.listener.id;
      await settle(e, lb);
      const p = await e.c.demo.post('/v2.0/lbaas/pools', { pool: { listener_id: listener, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } });
      await settle(e, lb);
      for (const b of [web1, web2]) {
        await e.c.demo.post(`/v2.0/lbaas/pools/${p.body.pool.id}/members`, { member: { address: '127.0.0.1', protocol_port: b.port } });
        await settle(e, lb);
      }
      address = e.tc.cloud.services.lbEngine.endpoint(lb)!.address;
    });
    afterAll(async () => {
      await e?.tc.stop();
      await web1?.close();
      await web2?.close();
    });

    const request = (
      opts: { servername?: string; cert?: Buffer; key?: Buffer; agent?: https.Agent; path?: string } = {},
    ): Promise<{ body: string; subject: string }> =>
      new Promise((resolve, reject) => {
        const req = https.get(
          {
            host: address,
            port,
            path: opts.path ?? '/',
            ca: pki.caPem,
            servername: opts.servername ?? 'a.example.com',
            checkServerIdentity: () => undefined,
            agent: opts.agent ?? false,
            ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
          },
          (res) => {
            let body = '';
            const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ body, subject: String(cert.subject?.CN ?? '') }));
          },
        );
        req.on('error', reject);
        req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      });

    it('serves HTTPS to the two HTTP members, the certificate chosen by SNI', async () => {
      const seen = [];
      for (let i = 0; i < 4; i++) seen.push(await request());
      expect(seen.map((s) => s.body).sort()).toEqual(['web1', 'web1', 'web2', 'web2']);
      expect(seen[0].subject).toBe('a.example.com');
      expect((await request({ servername: 'b.example.com' })).subject).toBe('b.example.com');
      expect((await request({ servername: 'unknown.example.com' })).subject).toBe('a.example.com');
      expect(web1.lastHeaders?.['x-forwarded-proto']).toBe('https');
    });

    it('checks client certificates: a good one is named to members, a revoked one is refused', async () => {
      await request({ cert: pki.client.cert, key: pki.client.key });
      const last = [web1, web2].sort((a, b) => (b.lastHeaders?.['x-ssl-client-cn'] ? 1 : 0) - (a.lastHeaders?.['x-ssl-client-cn'] ? 1 : 0))[0];
      expect(last.lastHeaders?.['x-ssl-client-cn']).toBe('good-client');
      expect(last.lastHeaders?.['x-ssl-client-verify']).toBe('0');
      await expect(request({ cert: pki.revoked.cert, key: pki.revoked.key })).rejects.toThrow();
    });

    it('replaces the certificate without dropping a connection in flight', async () => {
      // A request the member answers only after the new certificate is in place.
      const inFlight = request({ path: '/slow/2500' });
      await new Promise((r) => setTimeout(r, 300));
      const refC = await secret(e.km, pki.server('c.example.com').p12);
      const u = await e.c.demo.put(`/v2.0/lbaas/listeners/${listener}`, { listener: { default_tls_container_ref: refC } });
      expect(u.status).toBe(200);
      await settle(e, lb);
      const answered = await inFlight;
      expect(answered.subject).toBe('a.example.com');
      expect(['web1', 'web2']).toContain(answered.body);
      await waitFor(
        () => request(),
        (r) => r.subject === 'c.example.com',
      );
    });
  });
}
