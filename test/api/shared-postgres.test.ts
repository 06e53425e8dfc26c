/**
 * Several API servers sharing one cloud through PostgreSQL: tokens issued by one are honoured by
 * the other, writes through one are read through the other, and concurrent port creates spread
 * over both never hand out an address twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, type TestCloud, startCloud } from '../support/cloud.js';
import pg from 'pg';
import { http, passwordToken } from '../support/http.js';

const PG = process.env.POCKETSTACK_TEST_DATABASE_URL;

describe.skipIf(!PG)(`two servers on one PostgreSQL store${PG ? '' : ' — skipped: needs POCKETSTACK_TEST_DATABASE_URL (npm test provides it as root)'}`, () => {
  let a: TestCloud;
  let b: TestCloud;
  beforeAll(async () => {
    a = await startCloud({ listen: true });
    // The second server joins the first one's database: bootstrap finds everything in place.
    b = await startCloud({ listen: true, config: { databaseUrl: a.config.databaseUrl } });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  const net = (c: TestCloud) => `http://127.0.0.1:${c.config.ports.network}`;

  it('shares identity and resources', async () => {
    const token = await passwordToken(`http://127.0.0.1:${a.config.ports.identity}`, 'admin', ADMIN_PASSWORD);
    const created = await http('POST', `${net(a)}/v2.0/networks`, { token, body: { network: { name: 'shared-store' } } });
    expect(created.status).toBe(201);
    const seen = await http('GET', `${net(b)}/v2.0/networks/${created.body.network.id}`, { token });
    expect(seen.status).toBe(200);
    expect(seen.body.network.name).toBe('shared-store');
    const publics = await http('GET', `${net(b)}/v2.0/networks?name=public`, { token });
    expect(publics.body.networks).toHaveLength(1);
  });

  it('keeps answering when PostgreSQL terminates the connections it holds', async () => {
    const token = await passwordToken(`http://127.0.0.1:${a.config.ports.identity}`, 'admin', ADMIN_PASSWORD);
    expect((await http('GET', `${net(a)}/v2.0/networks`, { token })).status).toBe(200);
    const db = new URL(a.config.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    try {
      const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db]);
      expect(killed.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    // The idle connections' errors arrive now; an unheard one would end the process (and this run).
    await new Promise((r) => setTimeout(r, 200));
    const again = await http('GET', `${net(a)}/v2.0/networks`, { token });
    expect(again.status).toBe(200);
    expect((await http('GET', `${net(b)}/v2.0/networks`, { token })).status).toBe(200);
  });

  it('never hands out an address twice when both servers allocate at once', async () => {
    const token = await passwordToken(`http://127.0.0.1:${b.config.ports.identity}`, 'admin', ADMIN_PASSWORD);
    const n = (await http('POST', `${net(a)}/v2.0/networks`, { token, body: { network: { name: 'contended' } } })).body.network;
    await http('POST', `${net(b)}/v2.0/subnets`, { token, body: { subnet: { network_id: n.id, ip_version: 4, cidr: '10.77.0.0/25' } } });
    const results = await Promise.all(
      Array.from({ length: 120 }, (_, i) => http('POST', `${net(i % 2 ? a : b)}/v2.0/ports`, { token, body: { port: { network_id: n.id } } })),
    );
    const ok = results.filter((r) => r.status === 201);
    const full = results.filter((r) => r.status === 409);
    expect(ok.length + full.length).toBe(120);
    // A /25 has 125 addresses in its pool: all 120 fit, all distinct.
    expect(ok).toHaveLength(120);
    expect(new Set(ok.map((r) => r.body.port.fixed_ips[0].ip_address)).size).toBe(120);
    expect(full).toHaveLength(0);
  });
});
