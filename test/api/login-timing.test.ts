import { expect, it } from 'vitest';
import { DEMO_PASSWORD, cloudForFile } from '../support/cloud.js';

/**
 * A password login takes as long for a user name that does not exist (or a disabled user) as for
 * one that does: both check one scrypt hash, so the time does not tell which names exist.
 */

const { anon } = await cloudForFile('identity');

const login = async (name: string, password: string): Promise<{ status: number; ms: number }> => {
  const t0 = performance.now();
  const r = await anon.post('/v3/auth/tokens', {
    auth: { identity: { methods: ['password'], password: { user: { name, domain: { name: 'Default' }, password } } } },
  });
  return { status: r.status, ms: performance.now() - t0 };
};
const v2 = async (username: string, password: string): Promise<{ status: number; ms: number }> => {
  const t0 = performance.now();
  const r = await anon.post('/v2.0/tokens', { auth: { passwordCredentials: { username, password } } });
  return { status: r.status, ms: performance.now() - t0 };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

it('answers an unknown user name as slowly as a wrong password for a known one (v3 and v2.0)', async () => {
  const known: number[] = [];
  const unknown: number[] = [];
  const right: number[] = [];
  const knownV2: number[] = [];
  const unknownV2: number[] = [];
  // Interleaved, so load on the machine weighs on every kind alike.
  for (let i = 0; i < 9; i++) {
    const a = await login('demo', 'wrong-password');
    const b = await login(`no-such-user-${i}`, 'wrong-password');
    const c = await login('demo', DEMO_PASSWORD);
    const d = await v2('demo', 'wrong-password');
    const e = await v2(`no-such-user-${i}`, 'wrong-password');
    expect([a.status, b.status, c.status, d.status, e.status]).toEqual([401, 401, 201, 401, 401]);
    known.push(a.ms);
    unknown.push(b.ms);
    right.push(c.ms);
    knownV2.push(d.ms);
    unknownV2.push(e.ms);
  }
  console.log(
    `login medians: known user, wrong password ${median(known).toFixed(1)} ms; unknown user ${median(unknown).toFixed(1)} ms; right password ${median(right).toFixed(1)} ms; v2.0 known ${median(knownV2).toFixed(1)} ms, unknown ${median(unknownV2).toFixed(1)} ms`,
  );
  // Before: 28 ms against 400–800 ms (a ratio of 0.05). One scrypt each now: the same within noise.
  expect(median(unknown) / median(known)).toBeGreaterThan(0.6);
  expect(median(unknownV2) / median(knownV2)).toBeGreaterThan(0.6);
});
