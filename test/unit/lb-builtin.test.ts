import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RtListener, RtLoadBalancer, RtMember, RtMonitor, RtPool } from '../../src/lb/config.js';
import { BuiltinInstance } from '../../src/lb/builtin/instance.js';
import { WorkerInstance, workerCommand } from '../../src/lb/builtin/remote.js';
import pino from 'pino';
import { type Backend, get, httpBackend } from '../support/servers.js';
import { freePort } from '../support/cloud.js';
import { rtListener, rtMember, rtPool } from '../support/lb.js';

/** The built-in engine on its own, against member servers on loopback. */

const ADDRESS = '127.0.0.1';

const member = (b: Backend, extra: Partial<RtMember> = {}): RtMember => rtMember(b.name, b.port, extra);
const listener = rtListener;
const pool = rtPool;

const monitor = (extra: Partial<RtMonitor> = {}): RtMonitor => ({
  id: 'hm',
  type: 'HTTP',
  delay: 0.2,
  timeout: 1,
  rise: 1,
  fall: 1,
  httpMethod: 'GET',
  urlPath: '/',
  expectedCodes: '200',
  httpVersion: '1.0',
  domainName: null,
  ...extra,
});

const lb = (listeners: RtListener[], pools: RtPool[]): RtLoadBalancer => ({ id: 'lb', vipAddress: null, listeners, pools });

let web1: Backend;
let web2: Backend;
let web3: Backend;
let inst: BuiltinInstance | WorkerInstance | undefined;
let port: number;

beforeAll(async () => {
  web1 = await httpBackend('web1');
  web2 = await httpBackend('web2');
  web3 = await httpBackend('web3');
});
afterAll(async () => {
  for (const b of [web1, web2, web3]) await b?.close();
});
afterEach(async () => {
  await inst?.stop();
  inst = undefined;
  for (const b of [web1, web2, web3]) if (!(await isUp(b))) await b.start();
});

async function isUp(b: Backend): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(b.port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function start(cfg: RtLoadBalancer): Promise<void> {
  inst = new BuiltinInstance('lb', { address: ADDRESS });
  await inst.apply(cfg);
}

async function bodies(n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await get(ADDRESS, port, '/', headers)).body);
  return out;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('built-in engine', () => {
  beforeAll(async () => {
    port = await freePort();
  });

  it('round robin alternates, weights share proportionally', async () => {
    await start(lb([listener(port)], [pool([member(web1), member(web2)])]));
    const seen = await bodies(6);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
    expect(seen.filter((x) => x === 'web1').length).toBe(3);
    await inst!.apply(lb([listener(port)], [pool([member(web1, { weight: 3 }), member(web2)])]));
    const weighted = await bodies(8);
    expect(weighted.filter((x) => x === 'web1').length).toBe(6);
  });

  it('least connections prefers the member with fewer open connections', async () => {
    await start(lb([listener(port, { protocol: 'TCP' })], [pool([member(web1), member(web2)], { algorithm: 'LEAST_CONNECTIONS', protocol: 'TCP' })]));
    // Hold one connection open through the load balancer; it lands on one member.
    const held = net.connect(port, ADDRESS);
    await new Promise((r) => held.once('connect', r));
    held.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const first = await new Promise<string>((r) => held.once('data', (d) => r(d.toString())));
    const busy = first.includes('web1') ? 'web1' : 'web2';
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push((await get(ADDRESS, port)).body);
      // Let the finished connection close before the next pick.
      await wait(50);
    }
    expect(seen.every((x) => x !== busy)).toBe(true);
    held.destroy();
  });

  it('source IP sends one client to one member; HTTP_COOKIE and APP_COOKIE pin sessions', async () => {
    await start(lb([listener(port)], [pool([member(web1), member(web2), member(web3)], { algorithm: 'SOURCE_IP' })]));
    expect(new Set(await bodies(6)).size).toBe(1);
    await inst!.apply(lb([listener(port)], [pool([member(web1), member(web2)], { persistence: { type: 'HTTP_COOKIE', cookieName: null, timeout: null } })]));
    const r = await get(ADDRESS, port);
    const cookie = String(r.headers['set-cookie']).split(';')[0];
    expect(cookie).toMatch(/^SRV=web[12]$/);
    const pinned = await bodies(4, { cookie });
    expect(new Set(pinned)).toEqual(new Set([r.body]));
    await inst!.apply(lb([listener(port)], [pool([member(web1), member(web2)], { persistence: { type: 'SOURCE_IP', cookieName: null, timeout: 60 } })]));
    expect(new Set(await bodies(4)).size).toBe(1);
  });

  it('health checks take a dead member out and bring it back', async () => {
    await start(lb([listener(port)], [pool([member(web1), member(web2)], { monitor: monitor() })]));
    await wait(300);
    const h0 = await inst!.health();
    expect([...h0.members.values()]).toEqual(['UP', 'UP']);
    await web2.kill();
    await wait(600);
    const h1 = await inst!.health();
    expect(h1.members.get('web2')).toBe('DOWN');
    expect(await bodies(4)).toEqual(['web1', 'web1', 'web1', 'web1']);
    await web2.start();
    await wait(600);
    expect((await inst!.health()).members.get('web2')).toBe('UP');
    expect(new Set(await bodies(4))).toEqual(new Set(['web1', 'web2']));
  });

  it('retries a request on another member when its member refuses the connection', async () => {
    await start(lb([listener(port)], [pool([member(web1), member(web2)])]));
    await web2.kill();
    // No monitor: the engine only learns from the refused connection, and redispatches.
    const seen = await bodies(6);
    expect(seen).toEqual(['web1', 'web1', 'web1', 'web1', 'web1', 'web1']);
  });

  it('inserts X-Forwarded-For and answers 503 when no member is available', async () => {
    await start(lb([listener(port)], [pool([member(web1)])]));
    await get(ADDRESS, port);
    expect(web1.lastForwardedFor).toBe('127.0.0.1');
    await inst!.apply(lb([listener(port)], [pool([member(web1, { enabled: false })])]));
    expect((await get(ADDRESS, port)).status).toBe(503);
  });

  it('applies L7 policies in position order: reject, redirect, redirect to pool', async () => {
    const p2: RtPool = { ...pool([member(web2)]), id: 'p2' };
    const l = listener(port, {
      policies: [
        {
          id: 'a',
          action: 'REJECT',
          redirectUrl: null,
          redirectPrefix: null,
          redirectHttpCode: 302,
          redirectPoolId: null,
          rules: [{ type: 'PATH', compareType: 'STARTS_WITH', key: null, value: '/admin', invert: false }],
        },
        {
          id: 'b',
          action: 'REDIRECT_TO_URL',
          redirectUrl: 'http://example.com/',
          redirectPrefix: null,
          redirectHttpCode: 301,
          redirectPoolId: null,
          rules: [{ type: 'HOST_NAME', compareType: 'EQUAL_TO', key: null, value: 'old.example', invert: false }],
        },
        {
          id: 'c',
          action: 'REDIRECT_TO_POOL',
          redirectUrl: null,
          redirectPrefix: null,
          redirectHttpCode: 302,
          redirectPoolId: 'p2',
          rules: [{ type: 'HEADER', compareType: 'EQUAL_TO', key: 'X-Env', value: 'prod', invert: false }],
        },
      ],
    });
    await start(lb([l], [pool([member(web1)]), p2]));
    expect((await get(ADDRESS, port, '/admin/x')).status).toBe(403);
    const r = await get(ADDRESS, port, '/', { host: 'old.example' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('http://example.com/');
    expect((await get(ADDRESS, port, '/', { 'x-env': 'prod' })).body).toBe('web2');
    expect((await get(ADDRESS, port, '/')).body).toBe('web1');
  });

  it('keeps serving a kept listener across reconfigurations and refuses a port that is taken', async () => {
    await start(lb([listener(port)], [pool([member(web1)])]));
    const blocker = net.createServer();
    const taken = await freePort();
    await new Promise<void>((r) => blocker.listen(taken, ADDRESS, () => r()));
    await expect(inst!.apply(lb([listener(port), listener(taken, { id: 'l2' })], [pool([member(web1)])]))).rejects.toThrow(/cannot listen/);
    // The running configuration is untouched.
    expect((await get(ADDRESS, port)).body).toBe('web1');
    blocker.close();
  });
});

describe('built-in engine in a worker process (how it runs inside a namespace)', () => {
  const asRoot = process.getuid?.() === 0;
  let healthKicks = 0;
  let lost = 0;

  beforeAll(async () => {
    port = await freePort();
  });

  const startWorker = async (cfg: RtLoadBalancer, user?: { uid: number; gid: number }) => {
    const w = new WorkerInstance(
      'lb',
      { address: ADDRESS, ...(user ? { user } : {}) },
      { onHealthChange: () => healthKicks++, onLost: () => lost++ },
      pino({ level: 'silent' }),
    );
    inst = w;
    await w.apply(cfg);
    return w;
  };

  it('enters the namespace and drops to the unprivileged user with the command it builds', () => {
    const argv = workerCommand('lb1', { address: '10.0.0.5', netns: 'psl-0d000001-00', user: { uid: 65534, gid: 65534 } });
    expect(argv.slice(0, 9)).toEqual([
      'ip',
      'netns',
      'exec',
      'psl-0d000001-00',
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--no-new-privs',
    ]);
    expect(argv.slice(-2)).toEqual(['lb1', '10.0.0.5']);
  });

  it('balances, health-checks, counts, survives reconfiguration, and is replaced when it dies', async () => {
    const w = await startWorker(
      lb([listener(port)], [pool([member(web1), member(web2)], { monitor: monitor() })]),
      asRoot ? { uid: 65534, gid: 65534 } : undefined,
    );
    const seen = await bodies(4);
    expect(new Set(seen)).toEqual(new Set(['web1', 'web2']));
    await wait(300);
    expect([...(await w.health()).members.values()]).toEqual(['UP', 'UP']);
    await web2.kill();
    await wait(600);
    expect((await w.health()).members.get('web2')).toBe('DOWN');
    expect(healthKicks).toBeGreaterThan(0);
    expect(await bodies(3)).toEqual(['web1', 'web1', 'web1']);
    const before = (await w.counters()).get('l1')!.total_connections;
    expect(before).toBeGreaterThanOrEqual(7);
    // A worker killed behind our back: reported lost, replaced at the next apply, counters kept.
    const pid = (w as unknown as { child: { pid: number } }).child.pid;
    process.kill(pid, 'SIGKILL');
    await wait(200);
    expect(lost).toBe(1);
    expect((await w.health()).members.size).toBe(0);
    await w.apply(lb([listener(port)], [pool([member(web1)])]));
    expect(await bodies(2)).toEqual(['web1', 'web1']);
    expect((await w.counters()).get('l1')!.total_connections).toBe(before + 2);
    await w.stop();
    await expect(get(ADDRESS, port)).rejects.toThrow();
    // It forks a worker process twice and waits for health checks: seconds on a loaded 2-core
    // machine, where vitest's 5 s default cut it short.
  }, 30_000);

  it.runIf(asRoot)('runs as the unprivileged user it is given', async () => {
    const w = await startWorker(lb([listener(port)], [pool([member(web1)])]), { uid: 65534, gid: 65534 });
    const pid = (w as unknown as { child: { pid: number } }).child.pid;
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+65534\s+65534/m);
    expect((await get(ADDRESS, port)).body).toBe('web1');
  });
});
