import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RtLoadBalancer } from '../../src/lb/config.js';
import { haproxyConfig, maxConnections } from '../../src/lb/haproxy/cfg.js';
import { memberState, parseStat } from '../../src/lb/haproxy/runtime.js';

const cfg: RtLoadBalancer = {
  id: 'lb1',
  vipAddress: '10.0.0.10',
  listeners: [
    {
      id: 'L1',
      protocol: 'HTTP',
      port: 80,
      connectionLimit: 100,
      timeoutClientData: 50000,
      timeoutMemberConnect: 5000,
      timeoutMemberData: 50000,
      timeoutTcpInspect: 0,
      insertHeaders: { forwardedFor: true, forwardedPort: true, forwardedProto: false },
      allowedCidrs: ['192.0.2.0/24'],
      defaultPoolId: 'P1',
      policies: [
        {
          id: 'x',
          action: 'REJECT',
          redirectUrl: null,
          redirectPrefix: null,
          redirectHttpCode: 302,
          redirectPoolId: null,
          rules: [{ type: 'PATH', compareType: 'REGEX', key: null, value: '^/a b$', invert: true }],
        },
        {
          id: 'y',
          action: 'REDIRECT_TO_POOL',
          redirectUrl: null,
          redirectPrefix: null,
          redirectHttpCode: 302,
          redirectPoolId: 'P2',
          rules: [{ type: 'HEADER', compareType: 'EQUAL_TO', key: 'X-Env', value: 'prod', invert: false }],
        },
      ],
    },
    {
      id: 'U1',
      protocol: 'UDP',
      port: 53,
      connectionLimit: -1,
      timeoutClientData: 50000,
      timeoutMemberConnect: 5000,
      timeoutMemberData: 50000,
      timeoutTcpInspect: 0,
      insertHeaders: { forwardedFor: false, forwardedPort: false, forwardedProto: false },
      allowedCidrs: [],
      defaultPoolId: 'P3',
      policies: [],
    },
  ],
  pools: [
    {
      id: 'P1',
      protocol: 'HTTP',
      algorithm: 'ROUND_ROBIN',
      persistence: { type: 'HTTP_COOKIE', cookieName: null, timeout: null },
      tls: false,
      enabled: true,
      members: [
        { id: 'M1', address: '10.0.0.3', port: 80, weight: 1, backup: false, enabled: true, checkAddress: '10.0.0.3', checkPort: 80 },
        { id: 'M2', address: '10.0.0.4', port: 80, weight: 2, backup: true, enabled: false, checkAddress: '10.0.0.4', checkPort: 8080 },
      ],
      monitor: {
        id: 'H',
        type: 'HTTP',
        delay: 3,
        timeout: 3,
        rise: 3,
        fall: 3,
        httpMethod: 'GET',
        urlPath: '/health',
        expectedCodes: '200-202',
        httpVersion: '1.1',
        domainName: 'app.example',
      },
    },
    { id: 'P2', protocol: 'PROXY', algorithm: 'SOURCE_IP_PORT', persistence: null, tls: false, enabled: true, members: [], monitor: null },
    { id: 'P3', protocol: 'UDP', algorithm: 'ROUND_ROBIN', persistence: null, tls: false, enabled: true, members: [], monitor: null },
  ],
};

describe('HAProxy configuration', () => {
  const text = haproxyConfig(cfg, { bindAddress: '10.0.0.10', statsSocket: '/run/x.sock', pingScript: null, maxconn: 4000 });

  it('maps the health monitor as Octavia does: delay→inter, timeout→timeout check, max_retries→rise, max_retries_down→fall', () => {
    expect(text).toContain('server M1 10.0.0.3:80 weight 1 check inter 3000 fall 3 rise 3');
    expect(text).toContain('timeout check 3000');
    expect(text).toContain('http-check send meth GET uri "/health" ver HTTP/1.1 hdr Host "app.example"');
    expect(text).toContain('http-check expect rstatus (200|201|202)');
  });

  it('always retries 3 times and redispatches, within the file-descriptor limit', () => {
    expect(text).toMatch(/retries 3\n\s+option redispatch/);
    expect(text).toContain('maxconn 4000');
    expect(maxConnections()).toBeLessThanOrEqual(9000);
  });

  it('renders listeners, persistence, members and L7 policies; leaves UDP to the built-in engine', () => {
    expect(text).toContain('frontend L1\n    bind 10.0.0.10:80\n    mode http\n    maxconn 100');
    expect(text).toContain('tcp-request connection reject unless { src 192.0.2.0/24 }');
    expect(text).toContain('option forwardfor');
    expect(text).toContain('http-request set-header X-Forwarded-Port %[dst_port]');
    expect(text).toContain('cookie SRV insert indirect nocache');
    expect(text).toContain('server M2 10.0.0.4:80 weight 2 check inter 3000 fall 3 rise 3 port 8080 backup disabled cookie M2');
    expect(text).toContain('acl p0r0 path -m reg "^/a b\\$"');
    expect(text).toContain('http-request deny if !p0r0 !{ var(txn.l7pool) -m found }');
    expect(text).toContain('http-request set-var(txn.l7pool) str(P2:L1) if p1r0');
    expect(text).toContain('balance hash src,concat(:,txn.sport)');
    expect(text).not.toContain('frontend U1');
  });

  it.skipIf(!existsSync('/usr/sbin/haproxy'))('is accepted by haproxy -c', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-cfg-'));
    try {
      const file = join(dir, 'h.cfg');
      writeFileSync(file, haproxyConfig(cfg, { bindAddress: '127.0.0.1', statsSocket: join(dir, 's.sock'), pingScript: null, maxconn: 4000 }));
      execFileSync('/usr/sbin/haproxy', ['-c', '-q', '-f', file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads member state from the stats socket', () => {
    const rows = parseStat('# pxname,svname,status,scur\nL1,FRONTEND,OPEN,2\nP1:L1,M1,UP 1/3,0\nP1:L1,M2,MAINT,0\n');
    expect(rows[1]).toMatchObject({ svname: 'M1', status: 'UP 1/3' });
    // The health poll keeps only the columns it reads.
    expect(parseStat('# pxname,svname,status,scur\nP1:L1,M1,UP,0\n', ['svname', 'status', 'absent'])).toEqual([{ svname: 'M1', status: 'UP' }]);
    expect(memberState('UP 1/3')).toBe('UP');
    expect(memberState('DOWN 1/2')).toBe('DOWN');
    expect(memberState('no check')).toBe('NOCHECK');
    expect(memberState('MAINT')).toBe('MAINT');
    expect(memberState('DRAIN')).toBe('DRAIN');
  });
});

describe.skipIf(!existsSync('/usr/sbin/haproxy'))('HAProxy processes across PocketStack restarts', () => {
  it('a new PocketStack takes the sockets over from the HAProxy an earlier one left, and stops those of deleted load balancers', async () => {
    const { HaproxyRuntime, runningPid } = await import('../../src/lb/haproxy/runtime.js');
    const { httpBackend, get } = await import('../support/servers.js');
    const { freePort } = await import('../support/cloud.js');
    const pino = (await import('pino')).default;
    const log = pino({ level: 'silent' });
    const base = mkdtempSync(join(tmpdir(), 'lbhx-'));
    const web = await httpBackend('web');
    const port = await freePort();
    const one: RtLoadBalancer = {
      id: 'keep',
      vipAddress: null,
      listeners: [{ ...cfg.listeners[0], id: 'L', port, policies: [], allowedCidrs: [], defaultPoolId: 'P' }],
      pools: [
        {
          id: 'P',
          protocol: 'HTTP',
          algorithm: 'ROUND_ROBIN',
          persistence: null,
          tls: false,
          enabled: true,
          monitor: null,
          members: [{ id: 'M', address: '127.0.0.1', port: web.port, weight: 1, backup: false, enabled: true, checkAddress: '127.0.0.1', checkPort: web.port }],
        },
      ],
    };
    const gone: RtLoadBalancer = { ...one, id: 'gone', listeners: [{ ...one.listeners[0], port: await freePort() }] };
    try {
      // The first PocketStack starts two load balancers, then dies without stopping them.
      const first = new HaproxyRuntime('/usr/sbin/haproxy', base, log);
      await first.create('keep', { address: '127.0.0.1' }).apply(one);
      await first.create('gone', { address: '127.0.0.1' }).apply(gone);
      const oldPid = (await runningPid(join(base, 'keep', 'stats.sock')))!;
      const gonePid = (await runningPid(join(base, 'gone', 'stats.sock')))!;
      expect((await get('127.0.0.1', port)).body).toBe('web');
      // The next one: 'gone' was deleted meanwhile; 'keep' is applied again on the same port.
      const second = new HaproxyRuntime('/usr/sbin/haproxy', base, log);
      await second.cleanup(new Set(['keep']));
      expect(existsSync(join(base, 'gone'))).toBe(false);
      const again = second.create('keep', { address: '127.0.0.1' });
      await again.apply(one);
      const newPid = (await runningPid(join(base, 'keep', 'stats.sock')))!;
      expect(newPid).not.toBe(oldPid);
      expect((await get('127.0.0.1', port)).body).toBe('web');
      await new Promise((r) => setTimeout(r, 300));
      for (const pid of [oldPid, gonePid]) expect(() => process.kill(pid, 0)).toThrow();
      await again.stop();
    } finally {
      await web.close();
      rmSync(base, { recursive: true, force: true });
    }
    // Starts, takes over and stops real HAProxy processes: seconds on a loaded CI machine.
  }, 30_000);
});

describe('HAProxy configuration for TLS termination', () => {
  it('binds a crt-list with client authentication, TLS versions, ciphers and ALPN, and writes every file it names', async () => {
    const { makePki } = await import('../support/pki.js');
    const { fromPkcs12 } = await import('../../src/core/loadbalancer/certs.js');
    const { tlsFiles, tlsPaths } = await import('../../src/lb/haproxy/cfg.js');
    const pki = makePki();
    const dir = mkdtempSync(join(tmpdir(), 'lb-tls-'));
    try {
      const bundle = fromPkcs12(pki.server('a.example.com').p12);
      const cert = { id: 'abc', chain: bundle.certificate, key: bundle.privateKey, names: ['a.example.com'] };
      const tlsCfg: RtLoadBalancer = {
        ...cfg,
        listeners: [
          {
            ...cfg.listeners[0],
            id: 'T1',
            protocol: 'TERMINATED_HTTPS',
            port: 443,
            allowedCidrs: [],
            insertHeaders: { forwardedFor: false, forwardedPort: false, forwardedProto: true },
            sslHeaders: ['X-SSL-Client-CN'],
            policies: [
              {
                id: 'z',
                action: 'REJECT',
                redirectUrl: null,
                redirectPrefix: null,
                redirectHttpCode: 302,
                redirectPoolId: null,
                rules: [{ type: 'SSL_CONN_HAS_CERT', compareType: 'EQUAL_TO', key: null, value: 'True', invert: true }],
              },
            ],
            tls: {
              certificates: [cert],
              clientAuth: 'OPTIONAL',
              clientCa: pki.clientCaPem.toString(),
              clientCrl: pki.clientCaCrl.toString(),
              versions: ['TLSv1.2', 'TLSv1.3'],
              ciphers: 'TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES256-GCM-SHA384',
              alpn: ['h2', 'http/1.1'],
            },
          },
        ],
        pools: cfg.pools.map((p) => ({
          ...p,
          tls: true,
          tlsOptions: { clientCertificate: cert, ca: pki.caPem.toString(), crl: null, versions: [], ciphers: null, alpn: [] },
        })),
      };
      const paths = tlsPaths(dir);
      const files = tlsFiles(tlsCfg, paths);
      for (const [path, content] of files) writeFileSync(path, content, { mode: 0o600 });
      const text = haproxyConfig(tlsCfg, { bindAddress: '127.0.0.1', statsSocket: join(dir, 's.sock'), pingScript: null, maxconn: 4000, tls: paths });
      expect(text).toContain(
        `bind 127.0.0.1:443 ssl crt-list ${dir}/T1.crt-list ca-file ${dir}/T1-ca.pem verify optional crl-file ${dir}/T1-crl.pem ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers ECDHE-RSA-AES256-GCM-SHA384 ciphersuites TLS_AES_256_GCM_SHA384 alpn h2,http/1.1`,
      );
      expect(text).toContain('http-request set-header X-Forwarded-Proto https');
      expect(text).toContain('http-request set-header X-SSL-Client-CN %{+Q}[ssl_c_s_dn(cn)]');
      expect(text).toContain('acl p0r0 ssl_c_used');
      expect(text).toContain(`ssl crt ${dir}/abc.pem ca-file ${dir}/P1-ca.pem verify required`);
      expect(files.get(`${dir}/T1.crt-list`)).toBe(`${dir}/abc.pem\n`);
      expect(files.get(`${dir}/abc.pem`)).toContain('PRIVATE KEY');
      if (existsSync('/usr/sbin/haproxy')) {
        const file = join(dir, 'h.cfg');
        writeFileSync(file, text);
        execFileSync('/usr/sbin/haproxy', ['-c', '-q', '-f', file]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      pki.cleanup();
    }
  }, 30_000);
});

describe.skipIf(!existsSync('/usr/sbin/haproxy'))('HAProxy member changes without a reload', async () => {
  const { HaproxyRuntime, runningPid, statsCommand } = await import('../../src/lb/haproxy/runtime.js');
  const { httpBackend, get } = await import('../support/servers.js');
  const { freePort } = await import('../support/cloud.js');
  const { waitFor } = await import('../support/lb.js');
  const { readFileSync } = await import('node:fs');
  const pino = (await import('pino')).default;
  type Backend = Awaited<ReturnType<typeof httpBackend>>;
  type Instance = ReturnType<InstanceType<typeof HaproxyRuntime>['create']>;

  let base: string;
  let port: number;
  let web1: Backend;
  let web2: Backend;
  let deadPort: number;
  let lb: Instance;
  let firstPid: number;
  const sock = () => join(base, 'lb', 'stats.sock');
  const pid = async () => (await runningPid(sock()))!;
  const member = (id: string, p: number, o: Partial<RtLoadBalancer['pools'][0]['members'][0]> = {}) => ({
    id,
    address: '127.0.0.1',
    port: p,
    weight: 1,
    backup: false,
    enabled: true,
    checkAddress: '127.0.0.1',
    checkPort: p,
    ...o,
  });
  const config = (members: RtLoadBalancer['pools'][0]['members'], timeoutClientData = 50000): RtLoadBalancer => ({
    id: 'lb',
    vipAddress: null,
    listeners: [{ ...cfg.listeners[0], id: 'L', port, policies: [], allowedCidrs: [], defaultPoolId: 'P', timeoutClientData }],
    pools: [
      {
        id: 'P',
        protocol: 'HTTP',
        algorithm: 'ROUND_ROBIN',
        persistence: null,
        tls: false,
        enabled: true,
        // Checks every 200 ms: a member that stops answering is DOWN after one failure.
        monitor: {
          ...cfg.pools[0].monitor!,
          delay: 0.2,
          timeout: 0.5,
          rise: 1,
          fall: 1,
          urlPath: '/',
          expectedCodes: '200',
          httpVersion: '1.0',
          domainName: null,
        },
        members,
      },
    ],
  });
  const answers = async (n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await get('127.0.0.1', port)).body);
    return out;
  };
  /** Weight and status of each server, from the running process. */
  const servers = async () =>
    new Map(
      parseStat(await statsCommand(sock(), 'show stat'))
        .filter((r) => r.pxname === 'P:L' && r.svname !== 'BACKEND')
        .map((r) => [r.svname, { weight: Number(r.weight), status: memberState(r.status) }]),
    );

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'lbrt-'));
    web1 = await httpBackend('web1');
    web2 = await httpBackend('web2');
    port = await freePort();
    deadPort = await freePort();
    lb = new HaproxyRuntime('/usr/sbin/haproxy', base, pino({ level: 'silent' })).create('lb', { address: '127.0.0.1' });
    await lb.apply(config([member('W1', web1.port)]));
    firstPid = await pid();
  });
  afterAll(async () => {
    await lb?.stop();
    await web1?.close();
    await web2?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('serves an added member from the same HAProxy process, and writes it into the file', async () => {
    await lb.apply(config([member('W1', web1.port), member('W2', web2.port)]));
    expect(await pid()).toBe(firstPid);
    expect(new Set(await answers(6))).toEqual(new Set(['web1', 'web2']));
    // Written a moment after a change made at run time (once for a burst: runtime.ts, fileSoon).
    await waitFor(
      async () => readFileSync(join(base, 'lb', 'haproxy.cfg'), 'utf8'),
      (text) => text.includes(`server W2 127.0.0.1:${web2.port} weight 1 check inter 200 fall 1 rise 1`),
    );
  });

  it('health-checks an added member: one that does not answer goes DOWN and gets no request', async () => {
    await lb.apply(config([member('W1', web1.port), member('W2', web2.port), member('DEAD', deadPort)]));
    expect(await pid()).toBe(firstPid);
    await waitFor(
      () => lb.health(),
      (h) => h.members.get('DEAD') === 'DOWN',
    );
    for (const body of await answers(6)) expect(['web1', 'web2']).toContain(body);
  });

  it('drains a member whose weight goes to 0, and takes an admin-down one out of rotation', async () => {
    await lb.apply(config([member('W1', web1.port), member('W2', web2.port, { weight: 0 }), member('DEAD', deadPort)]));
    expect(await answers(6)).toEqual(Array(6).fill('web1'));
    await lb.apply(config([member('W1', web1.port, { enabled: false }), member('W2', web2.port), member('DEAD', deadPort)]));
    expect(await answers(6)).toEqual(Array(6).fill('web2'));
    expect((await lb.health()).members.get('W1')).toBe('MAINT');
    expect(await pid()).toBe(firstPid);
  });

  it('stops sending requests to a removed member', async () => {
    await lb.apply(config([member('W1', web1.port), member('DEAD', deadPort)]));
    expect(await pid()).toBe(firstPid);
    expect(await answers(6)).toEqual(Array(6).fill('web1'));
    expect((await servers()).has('W2')).toBe(false);
  });

  it('reloads for a listener change, and the new process runs the servers the runtime changes left', async () => {
    await lb.apply(config([member('W1', web1.port, { enabled: false }), member('W2', web2.port, { weight: 3 }), member('DEAD', deadPort)]));
    expect(await pid()).toBe(firstPid);
    await lb.apply(config([member('W1', web1.port, { enabled: false }), member('W2', web2.port, { weight: 3 }), member('DEAD', deadPort)], 40000));
    expect(await pid()).not.toBe(firstPid);
    const s = await servers();
    expect(s.get('W1')?.status).toBe('MAINT');
    expect(s.get('W2')).toEqual({ weight: 3, status: 'UP' });
    expect(await answers(4)).toEqual(Array(4).fill('web2'));
    // Back in service at run time, after the reload: the configuration's `disabled` is gone too.
    const now = await pid();
    await lb.apply(config([member('W1', web1.port), member('W2', web2.port, { weight: 3 }), member('DEAD', deadPort)], 40000));
    expect(await pid()).toBe(now);
    expect(new Set(await answers(8))).toEqual(new Set(['web1', 'web2']));
  });

  it('lets a request in flight to a removed member finish: del server refuses, the reload hands it to the old process', async () => {
    const before = await pid();
    const slow = get('127.0.0.1', port, '/slow/1500', { 'x-forwarded-test': 'in flight' });
    const target = await waitFor(
      async () => [web1, web2].find((w) => w.lastHeaders?.['x-forwarded-test'] === 'in flight'),
      (w) => w !== undefined,
    );
    const stays = target === web1 ? member('W2', web2.port, { weight: 3 }) : member('W1', web1.port);
    await lb.apply(config([stays, member('DEAD', deadPort)], 40000));
    expect(await pid()).not.toBe(before);
    expect(await slow).toMatchObject({ status: 200, body: target!.name });
    expect([...(await servers()).keys()].sort()).toEqual(['DEAD', stays.id]);
    // A member read from the file keeps idle connections to its server once it has served:
    // HAProxy drops them when it goes into maintenance, and only then can it be deleted.
    const now = await pid();
    const other = stays.id === 'W1' ? member('W2', web2.port) : member('W1', web1.port);
    await lb.apply(config([stays, other, member('DEAD', deadPort)], 40000));
    expect(new Set(await answers(8)).size).toBe(2);
    await lb.apply(config([other, member('DEAD', deadPort)], 40000));
    expect(await pid()).toBe(now);
    expect(await answers(4)).toEqual(Array(4).fill(other.id === 'W1' ? 'web1' : 'web2'));
  });
});
