import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

const golden = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/neutron-golden/${name}.json`, import.meta.url), 'utf8'));

const { admin, demo } = await cloudForFile('network');
let demoProject: string;

beforeAll(async () => {
  demoProject = (await demo.post('/v2.0/networks', { network: { name: 'q0' } })).body.network.project_id;
});

describe('quotas', () => {
  it('shows Neutron defaults for a project and for /default, in Neutron order', async () => {
    const show = await demo.get(`/v2.0/quotas/${demoProject}`);
    expect(show.status).toBe(200);
    expect(show.body).toEqual(golden('quota-show'));
    expect((await admin.get('/v2.0/quotas/anyproject/default')).body).toEqual(golden('quota-defaults'));
    expect((await admin.get('/v2.0/quotas')).body).toEqual({ quotas: [] });
    expect((await demo.get('/v2.0/quotas/project')).body).toEqual({ project: { project_id: demoProject } });
  });

  it('is admin-only to change, list or read another project', async () => {
    const put = await demo.put(`/v2.0/quotas/${demoProject}`, { quota: { network: 5 } });
    expect(put.status).toBe(403);
    expect(put.body.NeutronError).toEqual({ type: 'PolicyNotAuthorized', message: 'rule:update_quota is disallowed by policy', detail: '' });
    expect((await demo.delete(`/v2.0/quotas/${demoProject}`)).body.NeutronError.message).toBe('rule:delete_quota is disallowed by policy');
    expect((await demo.get('/v2.0/quotas')).status).toBe(403);
    expect((await demo.get('/v2.0/quotas/otherproject')).body.NeutronError.message).toBe('rule:get_quota is disallowed by policy');
    const details = await demo.get('/v2.0/quotas/otherproject/details');
    expect(details.status).toBe(403);
    expect(details.body.NeutronError).toEqual({
      type: 'AdminRequired',
      message: 'User does not have admin privileges: Only admin is authorized to access quotas for another project.',
      detail: '',
    });
  });

  it('updates, lists non-default projects, resets; -1 is unlimited; bad values are refused', async () => {
    const upd = await admin.put('/v2.0/quotas/proj-a', { quota: { network: 1, router: -1 } });
    expect(upd.status).toBe(200);
    expect(upd.body.quota).toMatchObject({ network: 1, router: -1, subnet: 100 });
    expect(Object.keys(upd.body.quota)).toEqual(Object.keys(golden('quota-update').quota));
    const list = (await admin.get('/v2.0/quotas')).body.quotas;
    expect(list).toEqual([{ ...golden('quota-defaults').quota, network: 1, router: -1, project_id: 'proj-a', tenant_id: 'proj-a' }]);
    expect((await admin.delete('/v2.0/quotas/proj-a')).status).toBe(204);
    expect((await admin.get('/v2.0/quotas')).body.quotas).toEqual([]);
    const again = await admin.delete('/v2.0/quotas/proj-a');
    expect(again.status).toBe(404);
    expect(again.body.NeutronError).toEqual({ type: 'TenantQuotaNotFound', message: 'Quota for tenant proj-a could not be found.', detail: '' });

    const tooSmall = await admin.put('/v2.0/quotas/proj-a', { quota: { network: -2 } });
    expect(tooSmall.status).toBe(400);
    expect(tooSmall.body.NeutronError.message).toBe("Invalid input for network. Reason: '-2' is too small - must be at least '-1'.");
    expect((await admin.put('/v2.0/quotas/proj-a', { quota: { widgets: 1 } })).body.NeutronError.message).toBe("Unrecognized attribute(s) 'widgets'");
    expect((await admin.put('/v2.0/quotas/proj-a', { quota: { network: 'lots' } })).body.NeutronError.type).toBe('InvalidInput');
    expect((await admin.post('/v2.0/quotas', { quota: {} })).status).toBe(501);
  });

  it('enforces limits on create with Neutron OverQuota, for routers and floating IPs too', async () => {
    await admin.put(`/v2.0/quotas/${demoProject}`, { quota: { network: 2, router: 1, floatingip: 1 } });
    expect((await demo.post('/v2.0/networks', { network: { name: 'q1' } })).status).toBe(201);
    const over = await demo.post('/v2.0/networks', { network: { name: 'q2' } });
    expect(over.status).toBe(409);
    expect(over.body).toEqual(golden('error-quota-exceeded'));
    expect((await demo.post('/v2.0/routers', { router: {} })).status).toBe(201);
    expect((await demo.post('/v2.0/routers', { router: {} })).body.NeutronError.message).toBe("Quota exceeded for resources: ['router'].");
    const pub = (await demo.get('/v2.0/networks?name=public')).body.networks[0].id;
    expect((await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub } })).status).toBe(201);
    expect((await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub } })).body.NeutronError.message).toBe(
      "Quota exceeded for resources: ['floatingip'].",
    );
    const details = await demo.get(`/v2.0/quotas/${demoProject}/details.json`);
    expect(details.status).toBe(200);
    expect(Object.keys(details.body.quota)).toEqual(Object.keys(golden('quota-details').quota));
    expect(details.body.quota.network).toEqual({ limit: 2, used: 2, reserved: 0 });
    expect(details.body.quota.router).toEqual({ limit: 1, used: 1, reserved: 0 });
    expect(details.body.quota.floatingip).toEqual({ limit: 1, used: 1, reserved: 0 });
    // check_limit refuses a limit below what is already used.
    const check = await admin.put(`/v2.0/quotas/${demoProject}`, { quota: { network: 1, check_limit: true } });
    expect(check.status).toBe(400);
    expect(check.body.NeutronError.message).toBe('Quota limit 1 for network must be greater than or equal to already used 2');
    await admin.put(`/v2.0/quotas/${demoProject}`, { quota: { network: -1 } });
    expect((await demo.post('/v2.0/networks', { network: { name: 'q3' } })).status).toBe(201);
  });
});
