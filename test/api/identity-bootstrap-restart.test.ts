import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type TestCloud, passwordLogin, restartableStore, startCloud, tokenFor } from '../support/cloud.js';

const dir = mkdtempSync(join(tmpdir(), 'pocketstack-bootstrap-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Keystone's token validation (`GET /v3/auth/tokens`) of `subject`, by an admin token of this run. */
async function validate(tc: TestCloud, adminPassword: string, subject: string): Promise<number> {
  const identity = new Client(tc.cloud.apps.get('identity')!, await tokenFor(tc, 'admin', adminPassword));
  return (await identity.request('GET', '/v3/auth/tokens', undefined, { 'x-subject-token': subject })).status;
}

/** A password login's status: 201, or 401 for a wrong password. */
const loginStatus = async (tc: TestCloud, user: string, password: string) => (await passwordLogin(tc, user, password)).status;

it('keeps the stored passwords and tokens across a restart, and takes a new password given at start-up', async () => {
  const store = await restartableStore('pocketstack_bootstrap');
  try {
    let tc = await startCloud({ dir, config: store.config });
    const before = await tokenFor(tc, 'admin', ADMIN_PASSWORD);
    await tc.stop();

    // The same password again (the usual restart): nothing changes, the token still validates.
    tc = await startCloud({ dir, config: store.config });
    try {
      expect(await validate(tc, ADMIN_PASSWORD, before)).toBe(200);
      expect(await loginStatus(tc, 'demo', DEMO_PASSWORD)).toBe(201);
    } finally {
      await tc.stop();
    }

    // A new admin password in the environment wins over the stored one, and the admin's tokens
    // from before are revoked; the demo user, given its old password, is untouched.
    tc = await startCloud({ dir, config: { ...store.config, adminPassword: 'changed-secret' } });
    try {
      expect(await loginStatus(tc, 'admin', 'changed-secret')).toBe(201);
      expect(await loginStatus(tc, 'admin', ADMIN_PASSWORD)).toBe(401);
      expect(await validate(tc, 'changed-secret', before)).toBe(404);
      expect(await loginStatus(tc, 'demo', DEMO_PASSWORD)).toBe(201);
    } finally {
      await tc.stop();
    }
  } finally {
    await store.drop();
  }
});
