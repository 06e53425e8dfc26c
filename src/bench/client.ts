import { Agent, request } from 'undici';

/** A row as most scenarios read it: only its id (the others name the fields they read). */
type Row = { id: string };
/** A create's or show's body: the resource under its singular key (`{ network: { id, … } }`), as every OpenStack API answers. */
export type One<K extends string, R = Row> = Record<K, R>;
/** A list's body: the rows under the plural key (`{ networks: [ … ] }`). */
export type Many<K extends string, R = Row> = Record<K, R[]>;

/** Keep-alive HTTP client for the benchmark: one pool per origin, many pipelined clients. */
export class BenchClient {
  private readonly agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 30_000 });

  constructor(
    readonly networkUrl: string,
    readonly token: string,
    readonly headers: Record<string, string> = {},
  ) {}

  async call<T = unknown>(method: string, url: string, body?: unknown, extra: Record<string, string> = {}): Promise<{ status: number; body: T; ms: number }> {
    const started = performance.now();
    const res = await request(url.startsWith('http') ? url : `${this.networkUrl}${url}`, {
      method: method as 'GET',
      dispatcher: this.agent,
      headers: { 'x-auth-token': this.token, 'content-type': 'application/json', ...this.headers, ...extra },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    const ms = performance.now() - started;
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T, ms };
  }

  async expect<T = unknown>(status: number, method: string, url: string, body?: unknown, extra?: Record<string, string>): Promise<{ body: T; ms: number }> {
    const r = await this.call<T>(method, url, body, extra);
    if (r.status !== status) throw new Error(`${method} ${url}: expected ${status}, got ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Run `total` operations with `concurrency` workers; returns per-operation latencies and wall time. */
export async function runConcurrent(total: number, concurrency: number, op: (i: number) => Promise<number>): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        latencies.push(await op(i));
      }
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000 };
}
