import type { Operation } from './work.js';

/** Who is calling: what Keystone's token says, as every service sees it. */
export interface RequestContext {
  readonly userId: string;
  readonly userName: string;
  readonly userDomainId: string;
  /** The project the token is scoped to (null for unscoped, domain- or system-scoped tokens). */
  readonly projectId: string | null;
  readonly projectName: string | null;
  readonly projectDomainId: string | null;
  readonly roles: readonly string[];
  readonly isAdmin: boolean;
  readonly requestId: string;
  /** Token expiry, ISO-8601. */
  readonly expiresAt: string;
  /** The API request this call is part of: what it changes is published when it has answered. */
  readonly operation?: Operation;
}

/** A context for work the system does on its own behalf (bootstrap, data-plane status writes). */
export function systemContext(requestId = 'req-system'): RequestContext {
  return {
    userId: 'pocketstack',
    userName: 'pocketstack',
    userDomainId: 'default',
    projectId: null,
    projectName: null,
    projectDomainId: null,
    roles: ['admin'],
    isAdmin: true,
    requestId,
    expiresAt: '9999-12-31T23:59:59.000000Z',
  };
}
