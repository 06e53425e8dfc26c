import { randomUUID } from 'node:crypto';

export const uuid = (): string => randomUUID();

/** Keystone-style ids: 32 lowercase hex characters (a UUID without dashes). */
export const hexId = (): string => randomUUID().replace(/-/g, '');

export const requestId = (): string => `req-${randomUUID()}`;

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** neutron-lib accepts UUIDs with or without dashes, in either case. */
export const isUuidLike = (v: unknown): v is string => typeof v === 'string' && UUID_RE.test(v);
