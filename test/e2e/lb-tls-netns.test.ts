/**
 * TLS termination on the real data plane, with the real clients, once with HAProxy and once with
 * the built-in engine: a certificate bundle stored with `openstack secret store` (Barbican), a
 * TERMINATED_HTTPS listener made with `openstack loadbalancer listener create
 * --default-tls-container-ref`, two web instances as HTTP members at their fixed IPs, and
 * `curl --cacert` reaching the VIP's floating IP under the certificate's name: HTTPS end to end,
 * the certificate verified, both members answering.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../src/dataplane/netns/down.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type ServicePorts, freeServicePorts } from '../../src/util/ports.js';
import { ADMIN_PASSWORD, DEMO_PASSWORD } from '../support/cloud.js';
import { lockPublicNetwork } from '../support/hostlock.js';
import { httpGet, webUserData } from '../support/netns.js';
import { fieldMap, openrcV3, run } from '../support/osc.js';
import { type Pki, makePki } from '../support/pki.js';
import { until } from '../support/poll.js';
import { type ServerProcess, startServerProcess } from '../support/process.js';
import { BARBICAN_CLIENT, CURL, NOVA_CLIENT, OPENSTACK_CLIENT, ROOT, missing } from '../support/requires.js';

const PREFIX = 'pk';
const names = new Names(PREFIX);
const skip = missing([ROOT, OPENSTACK_CLIENT, NOVA_CLIENT, BARBICAN_CLIENT, CURL]);
const NAME = 'www.example.com';

/** A web server answering "<instance id> <X-Forwarded-Proto>" on port 80 (user_data). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's parameter expansion
const WEB_USER_DATA = webUserData(null, [80], '\\${HTTP_X_FORWARDED_PROTO:--}');

for (const engine of ['haproxy', 'builtin'] as const) {
  describe.skipIf(skip)(`HTTPS through a TERMINATED_HTTPS listener on the netns data plane with ${engine}${skip ? ` — skipped: ${skip}` : ''}`, () => {
    let dir: string;
    let ports: ServicePorts;
    let server: ServerProcess;
    let v3: Record<string, string>;
    let pki: Pki;
    const instances: Array<{ name: string; id: string; ip: string }> = [];
    let unlock: (() => void) | undefined;

    const osc = async (...args: string[]) => {
      const r = await run('openstack', args, v3);
      if (r.code !== 0) throw new Error(`openstack ${args.join(' ')}: ${r.stderr || r.stdout}`);
      return r.stdout;
    };
    const value = async (...args: string[]) => (await osc(...args, '-f', 'value')).trim();
    /** curl --cacert: the certificate must verify for NAME, reached at `ip`. */
    const curl = async (ip: string) => {
      const r = await run(
        'curl',
        ['-sS', '--max-time', '5', '--cacert', join(pki.dir, 'server-ca.pem'), '--resolve', `${NAME}:443:${ip}`, `https://${NAME}/`],
        {},
      );
      return r.code === 0 ? r.stdout.trim() : null;
    };

    beforeAll(async () => {
      if (skip) return;
      unlock = await lockPublicNetwork();
      await teardown(names);
      pki = makePki();
      dir = mkdtempSync(join(tmpdir(), `pocketstack-lb-tls-${engine}-`));
      ports = await freeServicePorts();
      server = await startServerProcess(dir, ports, {
        POCKETSTACK_DATAPLANE: 'netns',
        POCKETSTACK_DATAPLANE_PREFIX: PREFIX,
        POCKETSTACK_RUN_USER_DATA: '1',
        POCKETSTACK_LB_ENGINE: engine,
        POCKETSTACK_ADMIN_PASSWORD: ADMIN_PASSWORD,
        POCKETSTACK_DEMO_PASSWORD: DEMO_PASSWORD,
      });
      v3 = openrcV3(server.identityUrl, 'demo', DEMO_PASSWORD);
    }, 10 * 60_000);

    afterAll(async () => {
      if (skip) return;
      try {
        await server?.stop();
        await teardown(names);
        if (dir) rmSync(dir, { recursive: true, force: true });
        pki?.cleanup();
      } finally {
        unlock?.();
      }
    });

    it('boots two web servers behind a router', async () => {
      await osc('network', 'create', 'webserver_network');
      await osc('subnet', 'create', 'webserver_subnet', '--network', 'webserver_network', '--subnet-range', '10.0.2.0/24');
      await osc('router', 'create', 'project_router');
      await osc('router', 'set', 'project_router', '--external-gateway', 'public');
      await osc('router', 'add', 'subnet', 'project_router', 'webserver_subnet');
      await osc('security', 'group', 'create', 'web');
      await osc('security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '80', 'web');
      const file = join(dir, 'web.sh');
      writeFileSync(file, WEB_USER_DATA);
      const nova = await run(
        'nova',
        ['boot', '--flavor', '1', '--image', 'cirros-0.3.3-x86_64-disk', '--min-count', '2', '--security-groups', 'web', '--user-data', file, 'web'],
        v3,
      );
      expect(nova.code, nova.stderr).toBe(0);
      for (const name of ['web-1', 'web-2']) {
        await until(
          `${name} ACTIVE`,
          () => value('server', 'show', name, '-c', 'status'),
          (s) => s === 'ACTIVE',
        );
        const id = await value('server', 'show', name, '-c', 'id');
        const ports = JSON.parse(await osc('port', 'list', '--server', id, '-f', 'json')) as Array<{ 'Fixed IP Addresses': Array<{ ip_address: string }> }>;
        instances.push({ name, id, ip: ports[0]['Fixed IP Addresses'][0].ip_address });
      }
    }, 180_000);

    it('serves HTTPS at the VIP with the certificate stored in the key manager, to both HTTP members', async () => {
      const p12 = pki.server(NAME).p12.toString('base64');
      const ref = await value(
        'secret',
        'store',
        '--name',
        'tls-www',
        '--payload-content-type',
        'application/octet-stream',
        '--payload-content-encoding',
        'base64',
        '--payload',
        p12,
        '-c',
        'Secret href',
      );
      expect(ref).toMatch(/\/v1\/secrets\/[0-9a-f-]{36}$/);
      const lb = fieldMap(await osc('loadbalancer', 'create', '--name', 'lb1', '--vip-subnet-id', 'webserver_subnet', '--wait'));
      expect(lb.get('provisioning_status')).toBe('ACTIVE');
      const listener = fieldMap(
        await osc(
          'loadbalancer',
          'listener',
          'create',
          '--name',
          'https',
          '--protocol',
          'TERMINATED_HTTPS',
          '--protocol-port',
          '443',
          '--default-tls-container-ref',
          ref,
          '--insert-headers',
          'X-Forwarded-Proto=true',
          '--wait',
          'lb1',
        ),
      );
      expect(listener.get('protocol')).toBe('TERMINATED_HTTPS');
      expect(listener.get('default_tls_container_ref')).toBe(ref);
      await osc('loadbalancer', 'pool', 'create', '--name', 'pool1', '--lb-algorithm', 'ROUND_ROBIN', '--listener', 'https', '--protocol', 'HTTP', '--wait');
      for (const i of instances)
        await osc(
          'loadbalancer',
          'member',
          'create',
          '--name',
          i.name,
          '--subnet-id',
          'webserver_subnet',
          '--address',
          i.ip,
          '--protocol-port',
          '80',
          '--wait',
          'pool1',
        );
      const fip = await value('floating', 'ip', 'create', 'public', '--port', lb.get('vip_port_id')!, '-c', 'floating_ip_address');
      await until(
        'HTTPS at the floating IP',
        () => curl(fip),
        (v) => v !== null,
        60_000,
      );
      const seen: string[] = [];
      for (let k = 0; k < 10; k++) seen.push((await curl(fip)) ?? 'FAILED');
      expect(seen.filter((s) => s === 'FAILED')).toEqual([]);
      expect(new Set(seen.map((s) => s.split(' ')[0]))).toEqual(new Set(instances.map((i) => i.id)));
      // Members are plain HTTP and told the client came in over HTTPS.
      expect(seen.every((s) => s.endsWith(' https'))).toBe(true);
      // Nothing answers in clear on 443.
      expect(await httpGet(`http://${fip}:443/`, { timeoutS: 3 })).toBeNull();
      console.log(`[${engine}] TLS: ${seen.length} HTTPS requests through ${fip}, answered by ${[...new Set(seen)].length} members`);
    }, 240_000);
  });
}
