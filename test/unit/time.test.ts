import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoSeconds } from '../../src/util/time.js';

describe('isoSeconds', () => {
  afterEach(() => vi.useRealTimers());

  it("gives Neutron's seconds-precision UTC text for a date, and for now, following the clock", () => {
    expect(isoSeconds(new Date('2026-11-26T13:19:00.999Z'))).toBe('2026-11-26T13:19:00Z');
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-04T19:40:05.100Z'));
    expect(isoSeconds()).toBe('2026-12-04T19:40:05Z');
    vi.setSystemTime(new Date('2026-12-04T19:40:05.900Z'));
    expect(isoSeconds()).toBe('2026-12-04T19:40:05Z');
    vi.setSystemTime(new Date('2026-12-04T19:40:06.000Z'));
    expect(isoSeconds()).toBe('2026-12-04T19:40:06Z');
    // A clock set back is followed too.
    vi.setSystemTime(new Date('2025-01-01T00:00:00.000Z'));
    expect(isoSeconds()).toBe('2025-01-01T00:00:00Z');
  });
});
