import { DomainError, badRequest, unauthorized } from '../core/errors.js';
import { isDict } from '../util/json.js';
import type { ApiAnswer, InProcessApis } from './apis.js';

/**
 * Logging in to the dashboard is logging in to Keystone: a password authentication (unscoped),
 * the projects the user may use (`GET /v3/auth/projects`), then a token scoped to the chosen one.
 * The browser keeps only that token; switching project rescopes it (Keystone's token method),
 * as Horizon does. Nothing here is remembered on the server.
 */
export interface Session {
  token: string;
  expiresAt: string;
  user: { id: string; name: string };
  project: { id: string; name: string };
  projects: Array<{ id: string; name: string }>;
  roles: string[];
  isAdmin: boolean;
}

interface TokenBody {
  token?: {
    expires_at?: string;
    user?: { id?: string; name?: string };
    project?: { id?: string; name?: string };
    roles?: Array<{ name?: string }>;
  };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Keystone's own refusal, passed on (its message never says whether the user exists). */
function refused(res: ApiAnswer): DomainError {
  const msg =
    isDict(res.body) && isDict(res.body.error) && typeof res.body.error.message === 'string'
      ? res.body.error.message
      : 'The request you have made requires authentication.';
  if (res.status === 401) return unauthorized(msg);
  if (res.status === 403) return new DomainError('forbidden', 'Forbidden', msg);
  return badRequest('BadRequest', msg);
}

async function issue(apis: InProcessApis, auth: Record<string, unknown>): Promise<{ token: string; body: TokenBody }> {
  const res = await apis.call<TokenBody>('identity', 'POST', '/v3/auth/tokens', { body: { auth } });
  if (res.status !== 201) throw refused(res);
  const token = res.headers['x-subject-token'];
  if (typeof token !== 'string') throw unauthorized();
  return { token, body: res.body };
}

async function projectsOf(apis: InProcessApis, token: string): Promise<Array<{ id: string; name: string }>> {
  const res = await apis.get<{ projects?: Array<{ id: string; name: string; enabled?: boolean }> }>('identity', '/v3/auth/projects', token);
  if (res.status !== 200) throw refused(res);
  return (res.body.projects ?? []).filter((p) => p.enabled !== false).map((p) => ({ id: p.id, name: p.name }));
}

/** Scope `token` (unscoped or scoped) to `projectId` and describe the result. */
async function scoped(apis: InProcessApis, token: string, projectId: string, projects: Array<{ id: string; name: string }>): Promise<Session> {
  const { token: t, body } = await issue(apis, { identity: { methods: ['token'], token: { id: token } }, scope: { project: { id: projectId } } });
  const tk = body.token ?? {};
  const roles = (tk.roles ?? []).map((r) => r.name ?? '').filter(Boolean);
  return {
    token: t,
    expiresAt: tk.expires_at ?? '',
    user: { id: tk.user?.id ?? '', name: tk.user?.name ?? '' },
    project: { id: tk.project?.id ?? projectId, name: tk.project?.name ?? '' },
    projects,
    roles,
    isAdmin: roles.includes('admin'),
  };
}

/** `POST /api/login` {username, password, domain?, project?}. */
export async function login(apis: InProcessApis, body: unknown): Promise<Session> {
  if (!isDict(body)) throw badRequest('BadRequest', 'Expected a JSON object with username and password.');
  const username = str(body.username);
  const password = typeof body.password === 'string' ? body.password : undefined;
  if (!username || password === undefined) throw badRequest('BadRequest', 'username and password are required.');
  const domain = str(body.domain) ?? 'Default';
  const { token } = await issue(apis, {
    identity: { methods: ['password'], password: { user: { name: username, domain: { name: domain }, password } } },
    scope: { unscoped: {} },
  });
  const projects = await projectsOf(apis, token);
  if (!projects.length) throw new DomainError('forbidden', 'Forbidden', `User ${username} has no role on any project.`);
  const want = str(body.project);
  const pick = want ? projects.find((p) => p.id === want || p.name === want) : (projects.find((p) => p.name === username) ?? projects[0]);
  if (!pick) throw new DomainError('forbidden', 'Forbidden', `User ${username} has no role on project ${want}.`);
  return scoped(apis, token, pick.id, projects);
}

/** `POST /api/scope` {project}: the caller's token rescoped to another of its projects. */
export async function rescope(apis: InProcessApis, token: string, body: unknown): Promise<Session> {
  const want = isDict(body) ? str(body.project) : undefined;
  if (!want) throw badRequest('BadRequest', 'project is required.');
  const projects = await projectsOf(apis, token);
  const pick = projects.find((p) => p.id === want || p.name === want);
  if (!pick) throw new DomainError('forbidden', 'Forbidden', `You have no role on project ${want}.`);
  return scoped(apis, token, pick.id, projects);
}

/** The session a token stands for (`GET /api/session`): what the page needs after a reload. */
export async function describe(apis: InProcessApis, token: string): Promise<Omit<Session, 'token'>> {
  // Keystone's token validation, the subject being the caller's own token.
  const res = await apis.call<TokenBody>('identity', 'GET', '/v3/auth/tokens', { token, headers: { 'x-subject-token': token } });
  if (res.status !== 200) throw refused(res);
  const tk = res.body.token ?? {};
  const roles = (tk.roles ?? []).map((r) => r.name ?? '').filter(Boolean);
  return {
    expiresAt: tk.expires_at ?? '',
    user: { id: tk.user?.id ?? '', name: tk.user?.name ?? '' },
    project: { id: tk.project?.id ?? '', name: tk.project?.name ?? '' },
    projects: await projectsOf(apis, token),
    roles,
    isAdmin: roles.includes('admin'),
  };
}
