import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type Response, type TestCloud, startCloud, tokenFor } from '../support/cloud.js';
import { KEYSTONE_CLIENT, missing } from '../support/requires.js';

/**
 * POST /v3/ec2tokens (keystone/api/ec2tokens.py): an EC2 request signed with an EC2 key pair is
 * traded for a token of the key's user. Every signature here is computed by keystoneclient's own
 * Ec2Signer (test/support/ec2sign.py, run by Debian's python3), not by PocketStack's code; the
 * answers were captured from a real Keystone (Debian's 2:22.0.2, Zed with OSSA-2025-002).
 */

const skip = missing([KEYSTONE_CLIENT]);
const SIGNER = fileURLToPath(new URL('../support/ec2sign.py', import.meta.url));

type Credentials = Record<string, unknown>;

/** keystoneclient's Ec2Signer(secret).generate(credentials) for each request. */
function ec2Sign(requests: Array<{ secret: string; credentials: Credentials }>): string[] {
  return JSON.parse(execFileSync('/usr/bin/python3', [SIGNER], { input: JSON.stringify(requests) }).toString());
}

const signed = (secret: string, credentials: Credentials): Credentials => ({ ...credentials, signature: ec2Sign([{ secret, credentials }])[0] });

const UNAUTHORIZED = 'The request you have made requires authentication.';

function expectError(res: Response, code: number, message: string) {
  expect(res.status).toBe(code);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.body).toEqual({ error: { code, message, title: expect.any(String) } });
}

let tc: TestCloud;
let anon: Client;
let admin: Client;
let demo: Client;
let demoId: string;
let demoProject: string;
let access: string;
let secret: string;

const now = () => new Date().toISOString().replace(/\.\d{3}/, '');
const amzDate = () => now().replace(/[-:]/g, '');
const base = (a = access) => ({ access: a, host: 'localhost:8773', verb: 'GET', path: '/services/Cloud' });

describe.skipIf(skip)(`ec2tokens${skip ? ` — skipped: ${skip}` : ''}`, () => {
  beforeAll(async () => {
    tc = await startCloud();
    anon = new Client(tc.cloud.apps.get('identity')!);
    admin = anon.withToken(await tokenFor(tc, 'admin', ADMIN_PASSWORD));
    const demoToken = await tokenFor(tc, 'demo', DEMO_PASSWORD);
    demo = anon.withToken(demoToken);
    const t = (await admin.get('/v3/auth/tokens', { 'x-subject-token': demoToken })).body.token;
    demoId = t.user.id;
    demoProject = t.project.id;
    const ec2 = await admin.post(`/v3/users/${demoId}/credentials/OS-EC2`, { tenant_id: demoProject });
    expect(ec2.status).toBe(201);
    access = ec2.body.credential.access;
    secret = ec2.body.credential.secret;
  });
  afterAll(async () => tc?.stop());

  it("signature versions 0, 1, 2 and 4 (header or query) each earn a token of the key's user on its project", async () => {
    const date = amzDate();
    const scope = `${date.slice(0, 8)}/RegionOne/ec2/aws4_request`;
    const requests: Record<string, Credentials> = {
      v0: { ...base(), params: { SignatureVersion: '0', Action: 'DescribeInstances', Timestamp: now() } },
      // v1 sorts names without case; values with spaces and non-ASCII are signed as UTF-8.
      v1: { ...base(), params: { SignatureVersion: '1', Action: 'Describe', Timestamp: now(), aB: 'x y/é', Zeta: '1' } },
      // v2 percent-encodes all but letters, digits and -_.~ (`*`, `(`, `!` included).
      v2: { ...base(), params: { SignatureVersion: '2', Action: 'Describe', Timestamp: now(), 'Filter.1': 'a b*(é)~!' } },
      v4header: {
        ...base(),
        params: { Action: 'Describe' },
        headers: {
          Host: 'localhost:8773',
          'X-Amz-Date': date,
          Authorization: `AWS4-HMAC-SHA256 Credential=${access}/${scope}, SignedHeaders=host;x-amz-date, Signature=unused`,
        },
        body_hash: createHash('sha256').update('').digest('hex'),
      },
      v4query: {
        ...base(),
        params: {
          Action: 'Describe',
          'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
          'X-Amz-Credential': `${access}/${scope}`,
          'X-Amz-SignedHeaders': 'host',
          'X-Amz-Date': date,
        },
        headers: { Host: 'localhost:8773' },
        body_hash: 'e3b0',
      },
      // A POST signs no query string; a signed header the request lacks is left out.
      v4post: {
        ...base(),
        verb: 'post',
        params: { Action: 'Describe' },
        headers: {
          Host: 'h',
          'X-Amz-Date': date,
          Authorization: `AWS4-HMAC-SHA256 Credential=${access}/${scope}, SignedHeaders=host;x-amz-date;absent, Signature=x`,
        },
        body_hash: 'abc',
      },
    };
    const names = Object.keys(requests);
    const signatures = ec2Sign(names.map((n) => ({ secret, credentials: requests[n] })));
    for (const [i, name] of names.entries()) {
      const res = await admin.post('/v3/ec2tokens', { credentials: { ...requests[name], signature: signatures[i] } });
      expect(res.status, name).toBe(200);
      expect(res.headers['x-subject-token'], name).toMatch(/^\S+$/);
      expect(res.body.token).toMatchObject({ methods: ['ec2credential'], user: { id: demoId, name: 'demo' }, project: { id: demoProject, name: 'demo' } });
      expect(res.body.token.catalog.length).toBeGreaterThan(0);
      // The token it answers is a real one: it validates, as the key's user.
      const check = await admin.get('/v3/auth/tokens', { 'x-subject-token': res.headers['x-subject-token'] as string });
      expect(check.status).toBe(200);
      expect(check.body.token.user.id).toBe(demoId);
    }
  });

  it('takes the body under "credentials", "credential" or "ec2Credentials", and a request signed without the port', async () => {
    const creds = signed(secret, { ...base(), params: { SignatureVersion: '2', Action: 'Describe' } });
    expect((await admin.post('/v3/ec2tokens', { credential: creds })).status).toBe(200);
    expect((await admin.post('/v3/ec2tokens', { ec2Credentials: creds })).status).toBe(200);
    // Signed for `localhost`, sent as `LocalHost:8773`: Keystone tries again with the host name only.
    const noPort = signed(secret, { ...base(), host: 'localhost', params: { SignatureVersion: '2', Action: 'Describe' } });
    expect((await admin.post('/v3/ec2tokens', { credentials: { ...noPort, host: 'LocalHost:8773' } })).status).toBe(200);
  });

  it("refuses as Keystone does: security errors a bare 401, the unknown key's 404, an empty body's 400", async () => {
    const good = signed(secret, { ...base(), params: { SignatureVersion: '2', Action: 'Describe', Timestamp: now() } });
    // Another secret's signature, no signature, an empty one.
    const forged = signed('not-the-secret', { ...base(), params: { SignatureVersion: '2', Action: 'Describe', Timestamp: now() } });
    expectError(await admin.post('/v3/ec2tokens', { credentials: forged }), 401, UNAUTHORIZED);
    const { signature: _, ...unsigned } = good;
    expectError(await admin.post('/v3/ec2tokens', { credentials: unsigned }), 401, UNAUTHORIZED);
    expectError(await admin.post('/v3/ec2tokens', { credentials: { ...good, signature: '' } }), 401, UNAUTHORIZED);
    // A signed Timestamp older than [credential] auth_ttl (15 minutes), or one that is no date.
    const stale = signed(secret, { ...base(), params: { SignatureVersion: '2', Action: 'Describe', Timestamp: '2020-01-01T00:00:00Z' } });
    expectError(await admin.post('/v3/ec2tokens', { credentials: stale }), 401, UNAUTHORIZED);
    const garbled = signed(secret, { ...base(), params: { SignatureVersion: '2', Action: 'Describe', Timestamp: 'yesterday' } });
    expectError(await admin.post('/v3/ec2tokens', { credentials: garbled }), 401, UNAUTHORIZED);
    // No access key at all; credentials that are not an object.
    expectError(await admin.post('/v3/ec2tokens', { credentials: { signature: 'x' } }), 401, UNAUTHORIZED);
    expectError(await admin.post('/v3/ec2tokens', { credentials: 'x' }), 401, UNAUTHORIZED);
    // get_credential's refusal names the SHA-256 it looked for.
    const nobody = createHash('sha256').update('nobody').digest('hex');
    expectError(await admin.post('/v3/ec2tokens', { credentials: { ...good, access: 'nobody' } }), 404, `Could not find credential: ${nobody}.`);
    expectError(await admin.post('/v3/ec2tokens', {}), 400, 'request must include a request body');
    expectError(await admin.post('/v3/ec2tokens'), 400, 'request must include a request body');
    expect((await admin.post('/v3/ec2tokens', '[1]')).body.error.message).toMatch(/^Expecting to find valid JSON in request body\./);
    // What Ec2Signer cannot read (no params, an unknown version, a v4 date outside its scope)
    // raises in Keystone past its handlers: its 500.
    for (const credentials of [
      { ...base(), signature: 'x' },
      { ...base(), signature: 'x', params: { SignatureVersion: '3' } },
      {
        ...base(),
        signature: 'x',
        params: {},
        headers: { 'X-Amz-Date': '20200101T000000Z', Authorization: 'AWS4-HMAC-SHA256 Credential=a/20261204/r/ec2/aws4_request, SignedHeaders=host' },
        body_hash: 'x',
      },
    ]) {
      expectError(await admin.post('/v3/ec2tokens', { credentials }), 500, 'An unexpected error prevented the server from fulfilling your request.');
    }
  });

  it('is for a service or admin token only (OSSA-2025-002), and refused once the user is disabled', async () => {
    const creds = signed(secret, { ...base(), params: { SignatureVersion: '2', Action: 'Describe' } });
    expectError(
      await demo.post('/v3/ec2tokens', { credentials: creds }),
      403,
      'You are not authorized to perform the requested action: identity:ec2tokens_validate.',
    );
    expectError(await anon.post('/v3/ec2tokens', { credentials: creds }), 401, UNAUTHORIZED);
    expect((await admin.request('PATCH', `/v3/users/${demoId}`, { user: { enabled: false } })).status).toBe(200);
    expectError(await admin.post('/v3/ec2tokens', { credentials: creds }), 401, UNAUTHORIZED);
    expect((await admin.request('PATCH', `/v3/users/${demoId}`, { user: { enabled: true } })).status).toBe(200);
    expect((await admin.post('/v3/ec2tokens', { credentials: creds })).status).toBe(200);
  });

  it('answers other methods with 405 and the Allow header Keystone sends', async () => {
    for (const path of ['/v3/ec2tokens', '/v3/s3tokens']) {
      // The resource's own GET refuses itself with valid_methods=['POST'].
      for (const method of ['GET', 'HEAD']) {
        const res = await anon.request(method, path);
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.allow).toBe('POST');
      }
      // Werkzeug's routing refusal lists every method the resource class has.
      for (const method of ['PUT', 'PATCH', 'DELETE']) {
        const res = await admin.request(method, path, {});
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(String(res.headers.allow).split(', ').sort()).toEqual(['GET', 'HEAD', 'OPTIONS', 'POST']);
        expect(res.body).toEqual({ message: 'The method is not allowed for the requested URL.' });
      }
    }
  });
});
