import { Writable } from 'node:stream';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { routeTable } from '../../src/api/http.js';
import { type TestCloud, startCloud } from '../support/cloud.js';
import { type Fixtures, makeFixtures } from '../support/fuzz/fixtures.js';
import { type FuzzRequest, type RouteContext, requestArb } from '../support/fuzz/generate.js';
import { type BodyModel, bodyModels, modelsFor } from '../support/fuzz/models.js';
import { type Failure, checkAnswer } from '../support/fuzz/oracle.js';

/**
 * Property-based fuzzing of every route of every service, in process (Fastify's inject: the same
 * code path as a socket, minus what only a socket can send; fuzz-socket.test.ts does that part).
 * Routes come from each app's route table, bodies from each route's own declarations
 * (support/fuzz/models.ts). Every answer must be no 5xx, in the service's own error envelope,
 * within a second; nothing may crash the process.
 *
 * Seeded and bounded: FUZZ_SEED (default fixed) and FUZZ_RUNS (requests per route, default 8; a
 * body route gets twice as many) make a run repeatable; `FUZZ_RUNS=200 npx vitest run
 * test/api/fuzz.test.ts` is the long local mode. FUZZ_REPORT=<file> writes every failure as JSON.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const RUNS = Number(process.env.FUZZ_RUNS ?? 8);
const SLOW_MS = 1000;

let tc: TestCloud;
let fx: Fixtures;
let models: Map<string, BodyModel[]>;
/** What the servers logged as unexpected (the cause of a 500), newest last. */
const logged: string[] = [];
const crashes: unknown[] = [];
const onCrash = (e: unknown) => crashes.push(e);

beforeAll(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        try {
          const e = JSON.parse(line);
          logged.push(`${e.err?.type ?? ''}: ${String(e.err?.message ?? e.msg).slice(0, 120)}`);
        } catch {
          logged.push(line.slice(0, 120));
        }
      }
      done();
    },
  });
  tc = await startCloud({ config: { lbEngine: 'builtin' }, logger: pino({ level: 'error' }, sink) });
  fx = await makeFixtures(tc);
  models = bodyModels(tc.cloud);
}, 120_000);

afterAll(async () => {
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
  await tc?.stop();
});

interface Found {
  failure: Failure;
  service: string;
  route: string;
  status: number;
  ms: number;
  cause?: string;
  request: { method: string; url: string; headers: Record<string, string>; payload?: string };
  answer: string;
}

/** One line for a class of failures: the cause the server logged, else the answer's error code or first words. */
function summary(f: Found): string {
  if (f.cause)
    return f.cause
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>')
      .replace(/\d+/g, 'N')
      .slice(0, 100);
  const code = /"code":"(FST_[A-Z_]+)"/.exec(f.answer)?.[1];
  if (code) return code;
  if (f.failure === 'slow') return `${f.route} ${f.ms} ms`;
  return f.answer.replace(/\s+/g, ' ').slice(0, 80);
}

/** A stable 32-bit hash (per-route seeds: a route's requests do not depend on the others). */
function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function paramValues(service: string, name: string, before: string, chosen: Record<string, string>): string[] {
  if (name === 'collection') {
    const all = tc.cloud.services.network.collections;
    if (before === 'metering') return all.filter((c) => c.startsWith('metering/')).map((c) => c.slice('metering/'.length));
    if (before === 'lb') return ['pools', 'vips', 'members', 'health_monitors'];
    return all.filter((c) => !c.includes('/'));
  }
  if (before.startsWith(':')) {
    const coll = chosen[before.slice(1)] ?? '';
    return fx.ids.get(coll.split('/').pop()!) ?? [];
  }
  if (name === '*') return ['x', 'x/y'];
  void service;
  return fx.ids.get(before) ?? fx.ids.get(name) ?? [];
}

/** Ids of the kind a field names: `security_group_id` → security groups, `vip_subnet_id` → subnets, `pool_id` → pools. */
function idsFor(name: string): string[] {
  const m = /^(?:vip_|remote_|default_|redirect_|device_|flavor_profile_|availability_zone_profile_)?([a-z_]+?)_ids?$/.exec(name);
  if (!m) return [];
  const base = m[1];
  for (const key of [`${base}s`, `${base.replace(/_/g, '-')}s`, base.replace(/y$/, 'ies'), `${base.replace(/_/g, '')}s`]) {
    const ids = fx.ids.get(key);
    if (ids) return ids;
  }
  return ['project', 'tenant', 'user', 'domain', 'parent'].includes(base) ? (fx.ids.get('project') ?? []) : [];
}

let injectMs = 0;
const trail: string[] = [];
async function send(service: string, r: FuzzRequest) {
  const app = tc.cloud.apps.get(service)!;
  const t0 = performance.now();
  const res = await app.inject({ method: r.method as 'GET', url: r.url, headers: r.headers, payload: r.payload });
  const ms = performance.now() - t0;
  injectMs += ms;
  return { res, ms };
}

const profile = new Map<string, { n: number; ms: number }>();
// Identity last: what its fuzzing changes (users, roles, grants) must not end the others' tokens.
const SERVICES = ['network', 'compute', 'image', 'load-balancer', 'key-manager', 'identity'];

it(`every route of every service answers hostile requests in its own format, without a 5xx, within ${SLOW_MS} ms`, async () => {
  const found: Found[] = [];
  let requests = 0;
  const started = performance.now();
  for (const service of SERVICES) {
    const app = tc.cloud.apps.get(service)!;
    const svcModels = models.get(service)!;
    const routes = [...routeTable(app).registered].sort((a, b) => Number(a.startsWith('DELETE ')) - Number(b.startsWith('DELETE ')) || a.localeCompare(b));
    // Neutron serves every resource through `/v2.0/:collection…`: each declared collection is a route of its own here.
    const concrete = routes.flatMap((route) => {
      const m = /^(\S+) (.*?)([^/]+)\/:collection(.*)$/.exec(route);
      if (!m) return [route];
      return paramValues(service, 'collection', m[3], {}).map((c) => `${m[1]} ${m[2]}${m[3]}/${c}${m[4]}`);
    });
    for (const route of concrete) {
      const [method, pattern] = route.split(' ');
      const ctx: RouteContext = {
        service,
        method,
        pattern,
        paramValues: (name, before, chosen) => paramValues(service, name, before, chosen),
        models: svcModels,
        modelsFor: (path) => modelsFor(svcModels, path),
        tokens: [...Array(5).fill(fx.tokens.admin), ...Array(5).fill(fx.tokens.demo), fx.tokens.alt, fx.tokens.alt, undefined],
        ctx: { ids: [...fx.ids.values()].flat().filter((x) => x.length > 8), idsFor: (name) => idsFor(name) },
      };
      const body = method === 'POST' || method === 'PUT' || method === 'PATCH';
      // A route that only says "not here" (pecan's 405, Keystone's 501 for what it does not
      // build) gets one request; the others their full share.
      const probe = await send(service, {
        method,
        url: pattern.replace(/:([A-Za-z_]+)|\*/g, (_m, name: string | undefined) => encodeURIComponent(paramValues(service, name ?? '*', '', {})[0] ?? 'x')),
        headers: { 'x-auth-token': fx.tokens.admin, ...(body ? { 'content-type': 'application/json' } : {}) },
        payload: body ? '{}' : undefined,
      });
      const dead = probe.res.statusCode === 405 || probe.res.statusCode === 501;
      await fc.assert(
        fc.asyncProperty(requestArb(ctx), async (req) => {
          requests++;
          const before = logged.length;
          let { res, ms } = await send(service, req);
          if (process.env.FUZZ_LOG) trail.push(`${res.statusCode} ${req.method} ${req.url.slice(0, 200)} ${String(req.payload ?? '').slice(0, 200)}`);
          if (process.env.FUZZ_PROFILE) {
            const size = req.payload === undefined ? 0 : req.payload.length;
            const sk = `status ${service} ${res.statusCode}`;
            const sp = profile.get(sk) ?? { n: 0, ms: 0 };
            sp.n++;
            profile.set(sk, sp);
            const key = `${service} ${method} size>=${size >= 100_000 ? '100k' : size >= 10_000 ? '10k' : size >= 1000 ? '1k' : '0'} url>=${req.url.length >= 10_000 ? '10k' : req.url.length >= 1000 ? '1k' : '0'}`;
            const p = profile.get(key) ?? { n: 0, ms: 0 };
            p.n++;
            p.ms += ms;
            profile.set(key, p);
          }
          // A slow answer on a loaded machine gets two more chances before it counts.
          for (let again = 0; again < 2 && ms > SLOW_MS; again++) ({ res, ms } = await send(service, req));
          const failure: Failure | undefined =
            checkAnswer(service, req.method, req.headers.accept, { status: res.statusCode, headers: res.headers, body: res.body }) ??
            (ms > SLOW_MS ? 'slow' : undefined);
          if (failure) {
            found.push({
              failure,
              service,
              route,
              status: res.statusCode,
              ms: Math.round(ms),
              cause: logged.slice(before).join(' | ') || undefined,
              request: { ...req, payload: req.payload === undefined ? undefined : String(req.payload).slice(0, 300) },
              answer: res.body.slice(0, 300),
            });
          }
          return true;
        }),
        { seed: (SEED ^ hash(route)) >>> 0, numRuns: dead ? 1 : body ? RUNS * 2 : RUNS },
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  // The closing note of issue #14 quotes these lines.
  const byClass = new Map<string, number>();
  for (const f of found) {
    const key = `${f.failure} ${f.status} ${f.route.split(' ')[0] === 'HEAD' ? 'HEAD' : ''} ${f.service}: ${summary(f)}`;
    byClass.set(key, (byClass.get(key) ?? 0) + 1);
  }
  console.log(
    `fuzz: ${requests} requests in ${seconds.toFixed(1)} s (seed ${SEED}, ${RUNS} runs per route), ${found.length} failures, ${crashes.length} crashes; ${Math.round(injectMs / 1000)} s answering`,
  );
  for (const [k, n] of [...byClass].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(5)}  ${k}`);
  for (const [k, p] of [...profile].filter(([k]) => k.startsWith('status')).sort()) console.log(`  ${k}: ${p.n}`);
  for (const [k, p] of [...profile]
    .filter(([k]) => !k.startsWith('status'))
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 20))
    console.log(`  profile ${k}: ${p.n} requests, ${Math.round(p.ms)} ms, ${(p.ms / p.n).toFixed(1)} ms each`);
  if (process.env.FUZZ_LOG) (await import('node:fs')).writeFileSync(process.env.FUZZ_LOG, trail.join('\n'));
  if (process.env.FUZZ_REPORT) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(process.env.FUZZ_REPORT, JSON.stringify({ requests, seconds, found, crashes: crashes.map(String) }, null, 1));
  }
  expect(crashes.map(String)).toEqual([]);
  expect(found.slice(0, 5)).toEqual([]);
}, 600_000);
