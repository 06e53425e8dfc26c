const secondsText = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
/** The current second's text: a create stamps a row two or three times, and a burst many rows in one second. */
let current = { second: Number.NaN, text: '' };

/** Neutron and Nova: "2026-11-26T13:19:00Z" (seconds precision, UTC); now when no date is given. */
export function isoSeconds(d?: Date): string {
  if (d) return secondsText(d);
  const second = Math.floor(Date.now() / 1000);
  if (second !== current.second) current = { second, text: secondsText(new Date(second * 1000)) };
  return current.text;
}

/** Keystone: "2026-11-26T13:19:00.000000Z" (%Y-%m-%dT%H:%M:%S.%fZ). */
export const isoMicros = (d: Date = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
