import type { FastifyInstance } from 'fastify';

/**
 * The OpenStack APIs as the dashboard calls them: in-process, through each service's own Fastify
 * app (`inject`: no socket, but the same route, auth hook, policy and rendering a real client
 * gets), always with the viewer's own token. So the dashboard can show nothing the viewer could
 * not GET, and there is no second read path to keep in step with the APIs.
 */
export type ServiceName = 'identity' | 'network' | 'compute' | 'image' | 'load-balancer';

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export class InProcessApis {
  constructor(private readonly apps: ReadonlyMap<string, FastifyInstance>) {}

  async call<T = unknown>(
    service: ServiceName,
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<ApiAnswer<T>> {
    const app = this.apps.get(service);
    if (!app) throw new Error(`no ${service} API in this cloud`);
    const res = await app.inject({
      method,
      url,
      headers: {
        accept: 'application/json',
        ...(opts.token ? { 'x-auth-token': opts.token } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        // Nova's microversion whose server view the dashboard reads (task and power state).
        ...(service === 'compute' ? { 'openstack-api-version': 'compute 2.46' } : {}),
        ...opts.headers,
      },
      payload: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    let body: unknown = null;
    if (res.body) {
      try {
        body = JSON.parse(res.body);
      } catch {
        body = res.body;
      }
    }
    return { status: res.statusCode, body: body as T, headers: res.headers as ApiAnswer['headers'] };
  }

  get<T = unknown>(service: ServiceName, url: string, token: string): Promise<ApiAnswer<T>> {
    return this.call<T>(service, 'GET', url, { token });
  }
}
