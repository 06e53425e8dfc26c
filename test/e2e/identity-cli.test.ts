/**
 * Identity through Debian's real `openstack` client (keystoneauth1 5.0, OSC 6.0): a v3 openrc as
 * PocketStack writes it, and the seed's v2.0 openrc (OS_TENANT_NAME, no domains), which
 * keystoneauth sends to GET /v2.0 and POST /v2.0/tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, DEMO_PASSWORD, type TestCloud, startCloud } from '../support/cloud.js';
import { OPENSTACK_CLIENT, missing } from '../support/requires.js';
import { fieldMap, listHeaders, listRows, openrcV2, openrcV3, run } from '../support/osc.js';

const skip = missing([OPENSTACK_CLIENT]);

let tc: TestCloud;
let identityUrl: string;
let networkUrl: string;
const osc = (env: Record<string, string>, args: string) => run('openstack', args.split(' '), env);

beforeAll(async () => {
  if (skip) return;
  tc = await startCloud({ listen: true });
  identityUrl = `http://127.0.0.1:${tc.config.ports.identity}`;
  networkUrl = `http://127.0.0.1:${tc.config.ports.network}`;
});
afterAll(async () => tc?.stop());

/** `openstack token issue` prints the Field rows it prints against Keystone, for `user` in its own project. */
async function expectTokenIssue(env: Record<string, string>, user: string) {
  const r = await osc(env, 'token issue');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const f = fieldMap(r.stdout);
  expect([...f.keys()]).toEqual(['expires', 'id', 'project_id', 'user_id']);
  const db = tc.cloud.store.db;
  const u = await db.selectFrom('users').select('id').where('name', '=', user).executeTakeFirstOrThrow();
  const p = await db.selectFrom('projects').select('id').where('name', '=', user).executeTakeFirstOrThrow();
  expect(f.get('project_id')).toBe(p.id);
  expect(f.get('user_id')).toBe(u.id);
  expect(f.get('id')).toMatch(/^gAAAAA/);
  expect(Date.parse(f.get('expires')!.replace('+0000', 'Z'))).toBeGreaterThan(Date.now());
}

/** A wrong password: the client prints Keystone's 401 and exits 1. */
async function expectWrongPassword(env: Record<string, string>) {
  const r = await osc({ ...env, OS_PASSWORD: 'wrong' }, 'token issue');
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/The request you have made requires authentication\. \(HTTP 401\) \(Request-ID: req-[0-9a-f-]{36}\)/);
}

describe.skipIf(skip)(`identity through the openstack CLI${skip ? ` — skipped: ${skip}` : ''}`, () => {
  describe('v3 openrc', () => {
    let env: Record<string, string>;
    beforeAll(() => {
      env = openrcV3(identityUrl, 'admin', ADMIN_PASSWORD);
    });

    it('openstack token issue', () => expectTokenIssue(env, 'admin'));

    it('openstack project list', async () => {
      const r = await osc(env, 'project list');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(listHeaders(r.stdout)).toEqual(['ID', 'Name']);
      expect(
        listRows(r.stdout)
          .map((row) => row[1])
          .sort(),
      ).toEqual(['admin', 'demo']);
    });

    it('openstack catalog list', async () => {
      const r = await osc(env, 'catalog list');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(listHeaders(r.stdout)).toEqual(['Name', 'Type', 'Endpoints']);
      const rows = listRows(r.stdout).filter((row) => row[0] !== '');
      expect(rows.map((row) => [row[0], row[1]])).toEqual([
        ['keystone', 'identity'],
        ['neutron', 'network'],
        ['nova', 'compute'],
        ['glance', 'image'],
        ['octavia', 'load-balancer'],
        ['barbican', 'key-manager'],
      ]);
      expect(r.stdout).toContain(`public: ${identityUrl}/v3`);
      expect(r.stdout).toContain(`public: ${networkUrl}`);
      expect(r.stdout).toContain('RegionOne');
    });

    it('a wrong password is the 401 the client prints, exit 1', () => expectWrongPassword(env));

    it("a member is refused the admin API with Keystone's words", async () => {
      const r = await osc(openrcV3(identityUrl, 'demo', DEMO_PASSWORD), 'user list');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/You are not authorized to perform the requested action: identity:list_users\. \(HTTP 403\)/);
    });
  });

  describe("the seed's v2.0 openrc", () => {
    let env: Record<string, string>;
    beforeAll(() => {
      env = openrcV2(identityUrl, 'demo', DEMO_PASSWORD);
    });

    it('openstack token issue', () => expectTokenIssue(env, 'demo'));

    it('openstack network list', async () => {
      const r = await osc(env, 'network list');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(listHeaders(r.stdout)).toEqual(['ID', 'Name', 'Subnets']);
      expect(listRows(r.stdout).map((row) => row[1])).toContain('public');
    });

    it('a wrong password is a 401, exit 1', () => expectWrongPassword(env));
  });

  describe("clouds.yaml's application-credential cloud and the admin commands of issue 13", () => {
    it('openstack --os-cloud pocketstack-appcred token issue and network list', async () => {
      const env = { OS_CLIENT_CONFIG_FILE: `${tc.dir}/clouds.yaml`, OS_CLOUD: 'pocketstack-appcred' };
      await expectTokenIssue(env, 'demo');
      const r = await osc(env, 'network list');
      expect(r.stderr).toBe('');
      expect(listRows(r.stdout).map((row) => row[1])).toContain('public');
    });

    it('groups, application credentials and the catalog through the client', async () => {
      const admin = openrcV3(identityUrl, 'admin', ADMIN_PASSWORD);
      expect((await osc(admin, 'group create ops')).code).toBe(0);
      expect((await osc(admin, 'group add user ops demo')).code).toBe(0);
      const contains = await osc(admin, 'group contains user ops demo');
      expect(contains.stdout).toMatch(/demo in group ops/);
      expect((await osc(admin, 'role add --group ops --project demo reader')).code).toBe(0);
      const assignments = await osc(admin, 'role assignment list --group ops --names');
      expect(assignments.code).toBe(0);
      expect(assignments.stdout).toMatch(/reader/);

      const demo = openrcV3(identityUrl, 'demo', DEMO_PASSWORD);
      const created = await osc(demo, 'application credential create ci-cred');
      expect(created.stderr).toBe('');
      const f = fieldMap(created.stdout);
      expect(f.get('name')).toBe('ci-cred');
      expect(f.get('secret')).toMatch(/^[A-Za-z0-9_-]{86}$/);
      const viaCred = await run('openstack', ['token', 'issue'], {
        OS_AUTH_TYPE: 'v3applicationcredential',
        OS_AUTH_URL: `${identityUrl}/v3`,
        OS_APPLICATION_CREDENTIAL_ID: f.get('id')!,
        OS_APPLICATION_CREDENTIAL_SECRET: f.get('secret')!,
        OS_IDENTITY_API_VERSION: '3',
      });
      expect(viaCred.stderr).toBe('');
      expect(viaCred.code).toBe(0);

      expect((await osc(admin, 'service create --name swift object-store')).code).toBe(0);
      expect((await osc(admin, 'endpoint create --region RegionOne swift public http://127.0.0.1:8080/v1/AUTH_$(project_id)s')).code).toBe(0);
      const catalog = await osc(admin, 'catalog list');
      expect(catalog.stdout).toMatch(/object-store/);
      expect((await osc(admin, 'project create --tag blue tagged')).code).toBe(0);
      const tagged = await osc(admin, 'project list --tags blue');
      expect(listRows(tagged.stdout).map((row) => row[1])).toEqual(['tagged']);
    });
  });
});
