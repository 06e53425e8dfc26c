import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { freeServicePorts } from '../../src/util/ports.js';
import pino, { type Logger } from 'pino';
import { afterAll } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import { Cloud } from '../../src/server.js';
import { type ScratchDatabase, scratchDatabase } from '../../src/store/scratch.js';

export const ADMIN_PASSWORD = 'admin-secret';
export const DEMO_PASSWORD = 'demo-secret';

export { freePort } from '../../src/util/ports.js';

// One helper for a database of a test's own (and the benchmark's): src/store/scratch.ts.
export { type ScratchDatabase, scratchDatabase };

/**
 * With POCKETSTACK_TEST_DATABASE_URL=postgres://…/postgres, every test cloud gets a fresh
 * PostgreSQL database (dropped afterwards): the same suites then run on both stores.
 */
async function freshPostgres(): Promise<ScratchDatabase | undefined> {
  const admin = process.env.POCKETSTACK_TEST_DATABASE_URL;
  return admin ? scratchDatabase(admin) : undefined;
}

/**
 * One store kept across a test's restarts of its cloud (start it on the same `dir` with this
 * config each time): the SQLite file in that directory, or, with POCKETSTACK_TEST_DATABASE_URL,
 * one PostgreSQL database of its own (`name` is its prefix), dropped by `drop()`.
 */
export async function restartableStore(name: string): Promise<{ config: { databaseUrl?: string }; drop(): Promise<void> }> {
  const adminUrl = process.env.POCKETSTACK_TEST_DATABASE_URL;
  if (!adminUrl) return { config: {}, drop: async () => undefined };
  const db = await scratchDatabase(adminUrl, name);
  return { config: { databaseUrl: db.url }, drop: db.drop };
}

export interface TestCloud {
  cloud: Cloud;
  config: Config;
  dir: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Bind free loopback ports (for real clients); without it tests use inject(). */
  listen?: boolean;
  config?: Partial<Config>;
  /** Use (and keep) this data directory instead of a fresh temporary one. */
  dir?: string;
  /** Log here instead of a pino at the configured level (tests that read what the server logged). */
  logger?: Logger;
}

/**
 * A whole PocketStack in this process, on a fresh SQLite file in a temporary directory.
 * With `listen`, it binds free loopback ports (for real clients); otherwise tests use inject().
 */
export async function startCloud(opts: StartOptions = {}): Promise<TestCloud> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pocketstack-test-'));
  const ports = opts.listen ? await freeServicePorts() : undefined;
  const pgdb = opts.config?.databaseUrl ? undefined : await freshPostgres();
  const config = loadConfig(
    {
      dataDir: dir,
      ...(pgdb ? { databaseUrl: pgdb.url } : {}),
      adminPassword: ADMIN_PASSWORD,
      demoPassword: DEMO_PASSWORD,
      logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
      // Server actions complete at the manager's next pass (tests that want the transitional
      // status visible set this themselves).
      computeActionMs: 0,
      // The test cloud's compute node is sized as a whole, fixed machine (not this 2-CPU one,
      // where Nova's placement would hold 8 VCPU): suites boot many servers and resize to
      // m1.large; tests of capacity register hosts of their own size.
      hostCapacity: { vcpus: 16, memoryMb: 65536, diskGb: 1000 },
      ...(ports ? { ports } : {}),
      ...opts.config,
    },
    {},
  );
  const cloud = await Cloud.create(config, opts.logger ?? pino({ level: config.logLevel }));
  await cloud.bootstrap();
  if (opts.listen) await cloud.listen();
  else for (const app of cloud.apps.values()) await app.ready();
  await cloud.startDataPlane();
  return {
    cloud,
    config,
    dir,
    async stop() {
      await cloud.close();
      await pgdb?.drop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Response<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

/** A minimal client over Fastify's inject(): no sockets, same code path as a real request. */
export class Client {
  constructor(
    private readonly app: FastifyInstance,
    private readonly token?: string,
  ) {}

  withToken(token: string): Client {
    return new Client(this.app, token);
  }

  async request<T = any>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response<T>> {
    const res = await this.app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(this.token ? { 'x-auth-token': this.token } : {}),
        ...(body !== undefined ? { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' } : {}),
        ...headers,
      },
      payload: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    let parsed: unknown;
    if (res.body) {
      try {
        parsed = JSON.parse(res.body);
      } catch {
        parsed = res.body;
      }
    }
    return { status: res.statusCode, body: parsed as T, headers: res.headers as Response['headers'] };
  }

  get = <T = any>(url: string, headers?: Record<string, string>) => this.request<T>('GET', url, undefined, headers);
  post = <T = any>(url: string, body?: unknown, headers?: Record<string, string>) => this.request<T>('POST', url, body, headers);
  put = <T = any>(url: string, body?: unknown, headers?: Record<string, string>) => this.request<T>('PUT', url, body, headers);
  patch = <T = any>(url: string, body?: unknown, headers?: Record<string, string>) => this.request<T>('PATCH', url, body, headers);
  delete = <T = any>(url: string, headers?: Record<string, string>) => this.request<T>('DELETE', url, undefined, headers);
}

/** A password login scoped to `project` in the Default domain (`POST /v3/auth/tokens`), as it answered. */
export async function passwordLogin(tc: TestCloud, user: string, password: string, project = user): Promise<Response> {
  return new Client(tc.cloud.apps.get('identity')!).post('/v3/auth/tokens', {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      scope: { project: { name: project, domain: { name: 'Default' } } },
    },
  });
}

/** Password-authenticate `user` in its own project and return the token. */
export async function tokenFor(tc: TestCloud, user: string, password: string, project = user): Promise<string> {
  const res = await passwordLogin(tc, user, password, project);
  if (res.status !== 201) throw new Error(`token for ${user}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.headers['x-subject-token'] as string;
}

/** Clients for one API (`network`, `compute`, `image` …) as admin and as demo (a plain member). */
export async function serviceClients(tc: TestCloud, service: string): Promise<{ admin: Client; demo: Client; anon: Client }> {
  const app = tc.cloud.apps.get(service)!;
  return {
    admin: new Client(app, await tokenFor(tc, 'admin', ADMIN_PASSWORD)),
    demo: new Client(app, await tokenFor(tc, 'demo', DEMO_PASSWORD)),
    anon: new Client(app),
  };
}

/**
 * The setup most API test files share: one test cloud for the whole file and clients for one of
 * its APIs as admin, demo and anonymous. Call it with a top-level await, before the file's
 * tests (`const { admin, demo } = await cloudForFile('network');`): the cloud starts as the file
 * loads, so the clients are plain constants, and it stops after the file's last test.
 */
export async function cloudForFile(service: string, opts: StartOptions = {}): Promise<{ tc: TestCloud; admin: Client; demo: Client; anon: Client }> {
  const tc = await startCloud(opts);
  try {
    const clients = await serviceClients(tc, service);
    afterAll(async () => tc.stop());
    return { tc, ...clients };
  } catch (e) {
    await tc.stop();
    throw e;
  }
}
