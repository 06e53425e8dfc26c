/**
 * The Fractal demo and the dashboard, end to end, in a real Chromium (Debian's, driven by
 * playwright-core; no browser download): `pocketstack serve --dataplane netns --run-user-data`
 * as a separate process, `pocketstack demo fractal` against it (the web UI must return an image
 * the workers computed, through the load balancer's floating IP), then the browser logs in, sees
 * the deployment drawn, sees a floating IP made by the `openstack` CLI appear within a second,
 * opens the load balancer and sees a member's health turn ERROR when its instance is stopped, and
 * asks explain. Each step leaves a screenshot in test-artifacts/screenshots/ (CI keeps them);
 * `demo fractal --down` removes everything at the end.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../src/dataplane/netns/down.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { freePort, freeServicePorts } from '../../src/util/ports.js';
import { ADMIN_PASSWORD, DEMO_PASSWORD } from '../support/cloud.js';
import { lockPublicNetwork } from '../support/hostlock.js';
import { openrcV3, run } from '../support/osc.js';
import { type ServerProcess, startServerProcess } from '../support/process.js';
import { OPENSTACK_CLIENT, ROOT, missing } from '../support/requires.js';

const ROOT_DIR = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = { path: '/usr/bin/chromium', why: "needs Debian's chromium (npm test installs it when run as root)" };
const skip = missing([ROOT, OPENSTACK_CLIENT, CHROMIUM]);
const PREFIX = 'pt';
/** Where screenshots go; CI keeps this directory as an artifact. */
export const SCREENSHOTS = process.env.POCKETSTACK_SCREENSHOTS ?? join(ROOT_DIR, 'test-artifacts', 'screenshots');

let dir: string;
let server: ServerProcess;
let dashboard: string;
let env: Record<string, string>;
let unlock: (() => void) | undefined;
let browser: Browser;
let page: Page;
let demoOut = '';
let shot = 0;

const pocketstack = async (args: string[], timeoutMs = 300_000) => {
  const r = await run(
    process.execPath,
    ['--import', 'tsx', join(ROOT_DIR, 'src/cli/main.ts'), ...args],
    { ...env, POCKETSTACK_DASHBOARD_URL: dashboard },
    timeoutMs,
  );
  return r;
};
const osc = async (...args: string[]) => {
  const r = await run('openstack', args, env);
  if (r.code !== 0) throw new Error(`openstack ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
};
const screenshot = async (name: string) => {
  shot++;
  await page.screenshot({ path: join(SCREENSHOTS, `${String(shot).padStart(2, '0')}-${name}.png`) });
};
const nodes = () => page.evaluate(() => window.pocketstack.nodes());

// What the page offers tests, and the bits of the DOM they read (this file is compiled without the DOM library).
declare const window: { pocketstack: { nodes(): Array<{ id: string; kind: string; label: string; status: string }>; select(id: string): void } };
declare const document: {
  body: { dataset: Record<string, string | undefined> };
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(selector: string): { textContent: string | null } | null;
};
declare const sessionStorage: { getItem(key: string): string | null };

describe.skipIf(skip)('the Fractal demo and the dashboard in a real browser', () => {
  beforeAll(async () => {
    rmSync(SCREENSHOTS, { recursive: true, force: true });
    mkdirSync(SCREENSHOTS, { recursive: true });
    // The page's script, as `npm run build` makes it.
    execFileSync('npx', ['tsc', '-p', 'tsconfig.web.json'], { cwd: ROOT_DIR });
    unlock = await lockPublicNetwork();
    await teardown(new Names(PREFIX));
    dir = mkdtempSync(join(tmpdir(), 'pocketstack-fractal-'));
    const ports = await freeServicePorts();
    const dashPort = await freePort();
    dashboard = `http://127.0.0.1:${dashPort}`;
    server = await startServerProcess(dir, ports, {
      POCKETSTACK_DATAPLANE: 'netns',
      POCKETSTACK_RUN_USER_DATA: '1',
      POCKETSTACK_DATAPLANE_PREFIX: PREFIX,
      POCKETSTACK_DASHBOARD_PORT: String(dashPort),
      POCKETSTACK_ADMIN_PASSWORD: ADMIN_PASSWORD,
      POCKETSTACK_DEMO_PASSWORD: DEMO_PASSWORD,
    });
    env = openrcV3(server.identityUrl, 'demo', DEMO_PASSWORD);
    browser = await chromium.launch({ executablePath: CHROMIUM.path, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  }, 120_000);

  afterAll(async () => {
    try {
      await browser?.close();
      if (server) {
        const down = await pocketstack(['demo', 'fractal', '--down']);
        if (down.code !== 0) process.stderr.write(`demo --down: ${down.stderr}\n`);
        await server.stop();
      }
      await teardown(new Names(PREFIX));
      if (dir) rmSync(dir, { recursive: true, force: true });
    } finally {
      unlock?.();
    }
  }, 300_000);

  it('refuses the demo on a noop cloud, saying what it needs', async () => {
    const r = await run(
      process.execPath,
      ['--import', 'tsx', join(ROOT_DIR, 'src/cli/main.ts'), 'demo', 'fractal', '--dashboard-url', 'http://127.0.0.1:1'],
      env,
      60_000,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot ask the dashboard/);
  });

  it('deploys the Fractal app through the APIs; the web UI returns a generated image through the load balancer’s floating IP', async () => {
    const started = Date.now();
    const r = await pocketstack(['demo', 'fractal']);
    demoOut = r.stdout;
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/The Fractal app is up/);
    const url = /web UI\s+(http:\/\/172\.24\.4\.\d+\/)/.exec(r.stdout)![1];
    const html = await (await fetch(url)).text();
    expect(html).toMatch(/Served by web[12]/);
    const list = (await (await fetch(`${url}api`)).json()) as { objects: Array<{ uuid: string; status: string; generated_by: string }> };
    const done = list.objects.filter((j) => j.status === 'done');
    expect(done.length).toBeGreaterThan(0);
    expect(done.every((j) => /^worker[12]$/.test(j.generated_by))).toBe(true);
    const png = Buffer.from(await (await fetch(`${url}fractal/${done[0].uuid}.png`)).arrayBuffer());
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    // Both web servers answer through the load balancer.
    const servedBy = new Set<string>();
    for (let i = 0; i < 6; i++) servedBy.add(/Served by (web\d)/.exec(await (await fetch(url)).text())![1]);
    expect([...servedBy].sort()).toEqual(['web1', 'web2']);
    process.stdout.write(`demo fractal took ${Date.now() - started} ms\n${r.stdout}`);
  });

  it('logs in with Keystone credentials and draws the deployment', async () => {
    await page.goto(`${dashboard}/`);
    await page.waitForSelector('#login-form');
    await screenshot('login');
    await page.fill('input[name=username]', 'demo');
    await page.fill('input[name=password]', 'wrong');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-error')?.textContent !== '');
    await page.fill('input[name=password]', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForFunction(() => Number(document.body.dataset.version ?? 0) > 0);
    const drawn = await nodes();
    const labels = drawn.map((n) => n.label.split('\n')[0]);
    expect(labels).toEqual(
      expect.arrayContaining([
        'public',
        'project_router',
        'worker_network',
        'webserver_network',
        'api_network',
        'api1',
        'worker1',
        'worker2',
        'web1',
        'web2',
        'fractal-lb',
        'HTTP:80',
      ]),
    );
    expect(drawn.filter((n) => n.kind === 'member').map((n) => n.status)).toEqual(['ONLINE', 'ONLINE']);
    expect(drawn.filter((n) => n.kind === 'floatingip')).toHaveLength(2);
    await page.waitForTimeout(300);
    await screenshot('fractal-topology');
  });

  it('shows a floating IP created with the openstack CLI within a second', async () => {
    const address = await osc('floating', 'ip', 'create', 'public', '-f', 'value', '-c', 'floating_ip_address');
    const created = Date.now();
    await page.waitForFunction((a) => window.pocketstack.nodes().some((n) => n.kind === 'floatingip' && n.label === a), address, { timeout: 5000 });
    const ms = Date.now() - created;
    expect(ms).toBeLessThan(1000);
    await screenshot('floating-ip-appears');
    await osc('floating', 'ip', 'delete', address);
  });

  it('opens the load balancer, and a member turns ERROR when its instance stops', async () => {
    const lb = (await nodes()).find((n) => n.kind === 'loadbalancer')!;
    await page.evaluate((id) => window.pocketstack.select(id), lb.id);
    await page.waitForFunction(() => document.querySelector('#details h2')?.textContent === 'fractal-lb');
    const details = await page.textContent('#details');
    expect(details).toContain(lb.id);
    expect(details).toMatch(/vip_address/);
    await screenshot('load-balancer-details');
    const web1 = await osc('server', 'show', 'web1', '-f', 'value', '-c', 'addresses');
    const ip = /(10\.0\.2\.\d+)/.exec(web1)![1];
    await osc('server', 'stop', 'web1');
    // delay 3 s × max_retries 3 + timeout 3 s at most, then the change is streamed at once.
    await page.waitForFunction((a) => window.pocketstack.nodes().some((n) => n.kind === 'member' && n.label.startsWith(`${a}:`) && n.status === 'ERROR'), ip, {
      timeout: 20_000,
    });
    const lbNode = (await nodes()).find((n) => n.kind === 'loadbalancer')!;
    expect(lbNode.status).toBe('DEGRADED');
    await screenshot('member-error');
    await osc('server', 'start', 'web1');
    await page.waitForFunction((a) => window.pocketstack.nodes().some((n) => n.kind === 'member' && n.label.startsWith(`${a}:`) && n.status === 'ONLINE'), ip, {
      timeout: 30_000,
    });
  });

  it('explains the path from the internet to the web UI, and the kernel agrees', async () => {
    const vip = (await nodes()).find((n) => n.kind === 'floatingip' && /172\.24\.4/.test(n.label) && demoOut.includes(`explain internet ${n.label}`))!;
    await page.evaluate((id) => window.pocketstack.select(id), vip.id);
    await page.click('#set-to');
    await page.click('#run-explain');
    await page.waitForSelector('#explain-out .verdict');
    expect(await page.textContent('#explain-out .verdict')).toMatch(/^ALLOWED/);
    expect(await page.textContent('#explain-out')).toMatch(/the kernel agrees/);
    await screenshot('explain');
    const cli = await pocketstack(['explain', 'internet', vip.label, '--port', '80']);
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^ALLOWED/);
    expect(cli.stdout).toMatch(/listener/);
    const blocked = await pocketstack(['explain', 'web1', 'api1', '--port', '22']);
    expect(blocked.code, blocked.stdout + blocked.stderr).toBe(3);
    expect(blocked.stdout).toMatch(/no ingress rule of port .* \(api\) admits tcp\/22/);
  });

  it('sends an expired or revoked token back to the login', async () => {
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('pocketstack.session')!).token as string);
    const res = await fetch(`${server.identityUrl}/v3/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': token, 'x-subject-token': token } });
    expect(res.status).toBe(204);
    await osc('network', 'create', 'wake-the-page');
    await page.waitForFunction(() => document.body.dataset.state === 'login', null, { timeout: 5000 });
    expect(await page.textContent('#login-error')).toMatch(/log in again/);
    await screenshot('expired-back-to-login');
    await osc('network', 'delete', 'wake-the-page');
  });
});
