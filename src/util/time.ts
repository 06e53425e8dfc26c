/** Neutron and Nova: "2026-11-26T13:19:00Z" (seconds precision, UTC). */
export const isoSeconds = (d: Date = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Keystone: "2026-11-26T13:19:00.000000Z" (%Y-%m-%dT%H:%M:%S.%fZ). */
export const isoMicros = (d: Date = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
