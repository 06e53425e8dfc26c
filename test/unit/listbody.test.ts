import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ListAnswer, encodeLongList, isEncodedList, isLongList } from '../../src/api/listbody.js';

/** What the serializer answered before: the UTF-8 of JSON.stringify. */
const serialized = (payload: unknown) => Buffer.from(JSON.stringify(payload));

/** Strings as answers carry them: ASCII, any Unicode (two-byte characters, astral ones), JSON's escapes. */
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', '"', '\\', '\u0000\u001f\u007f', '\u2028\u2029', 'é', '日本語', '😀', '\ud800', 'a\udc00b', '</script>'),
);

/** Objects as rendered resources are: strings, numbers, booleans, nulls, nested lists and dicts. */
const item = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text,
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(text, tie('value'), { maxKeys: 5 }),
  ),
  port: fc.dictionary(text, tie('value'), { maxKeys: 8 }),
})).port;

/** A list answer: the long list, links or other keys around it, some with no JSON (undefined). */
const answer = fc
  .record({
    before: fc.dictionary(text, fc.oneof(item, fc.constant(undefined)), { maxKeys: 2 }),
    key: text,
    // Several slices, and slice sizes that move with the items' sizes.
    items: fc.array(fc.oneof({ weight: 5, arbitrary: item }, { weight: 1, arbitrary: fc.constant(undefined) }), { minLength: 64, maxLength: 400 }),
    big: fc.option(fc.string({ minLength: 20_000, maxLength: 60_000 }), { nil: undefined }),
    after: fc.dictionary(text, fc.oneof(item, fc.constant(undefined)), { maxKeys: 2 }),
  })
  .map(({ before, key, items, big, after }) => {
    // Large items too (a server with a long user_data): slices shrink to stay small.
    if (big !== undefined) items.splice(items.length >> 1, 0, { user_data: big });
    const payload: Record<string, unknown> = { ...before };
    payload[key] = items;
    for (const [k, v] of Object.entries(after)) if (k !== key) payload[k] = v;
    return payload;
  });

describe('long list answers as bytes', () => {
  it('are byte for byte what the serializer made from JSON.stringify', () => {
    fc.assert(
      fc.property(answer, (payload) => {
        expect(isLongList(payload)).toBe(true);
        const { bytes, release } = encodeLongList(payload);
        expect(bytes.equals(serialized(payload))).toBe(true);
        release();
      }),
      // No shrinking: a counterexample of hundreds of items shrinks for minutes; the seed replays it.
      { seed: 20261204, numRuns: 40, endOnFailure: true },
    );
  }, 120_000);

  it('encode ports, the list they are made for, the same way', () => {
    const port = (i: number) => ({
      id: `0d3f5a9e-7c1b-4f0e-9a52-${String(i).padStart(12, '0')}`,
      name: i % 7 === 0 ? `pört-${i}-日本-😀` : `port-${i}`,
      admin_state_up: i % 2 === 0,
      fixed_ips: [{ subnet_id: 'b4f2', ip_address: `10.0.${i >> 8}.${i & 255}` }],
      'binding:profile': {},
      qos_policy_id: null,
      revision_number: i,
      tags: i % 3 === 0 ? ['a', 'b'] : [],
    });
    for (const n of [64, 65, 2000]) {
      const payload = { ports: Array.from({ length: n }, (_, i) => port(i)), ports_links: [{ rel: 'next', href: 'http://x/v2.0/ports?marker=y' }] };
      const { bytes, release } = encodeLongList(payload);
      expect(bytes.equals(serialized(payload))).toBe(true);
      release();
    }
  });

  it('are the same bytes when made a chunk at a time, however the items are cut', () => {
    const chunked = fc.record({
      key: text,
      items: fc.array(fc.oneof({ weight: 5, arbitrary: item }, { weight: 1, arbitrary: fc.constant(undefined) }), { maxLength: 300 }),
      cuts: fc.array(fc.nat(300), { maxLength: 8 }),
      links: fc.oneof(fc.constant(undefined), fc.array(fc.record({ rel: text, href: text }), { maxLength: 2 })),
    });
    fc.assert(
      fc.property(chunked, ({ key, items, cuts, links }) => {
        const whole: Record<string, unknown> = { [key]: items, [`${key}_links`]: links };
        const list = new ListAnswer(key);
        let at = 0;
        for (const cut of [...cuts].sort((a, b) => a - b)) {
          list.add(items.slice(at, Math.max(at, cut)));
          at = Math.max(at, cut);
        }
        list.add(items.slice(at));
        const out = list.end({ [`${key}_links`]: links });
        if (isEncodedList(out)) {
          // Written as bytes once the items reached the long-list size.
          expect(items.length).toBeGreaterThanOrEqual(64);
          expect(out.bytes.equals(serialized(whole))).toBe(true);
          out.release();
        } else {
          // A short list stays an object, for the serializer.
          expect(items.length).toBeLessThan(64);
          expect(serialized(out).equals(serialized(whole))).toBe(true);
        }
      }),
      { seed: 20261205, numRuns: 200, endOnFailure: true },
    );
  }, 120_000);

  it('never write over an answer not yet released', () => {
    const a = { ports: Array.from({ length: 500 }, (_, i) => ({ id: `a${i}`, name: 'first' })) };
    const b = { ports: Array.from({ length: 900 }, (_, i) => ({ id: `b${i}`, name: 'second answer, longer' })) };
    const first = encodeLongList(a);
    const copy = Buffer.from(first.bytes);
    // A second answer while the first is still being written: its own bytes, the first's intact.
    const second = encodeLongList(b);
    expect(second.bytes.equals(serialized(b))).toBe(true);
    expect(first.bytes.equals(copy)).toBe(true);
    first.release();
    second.release();
    // Released buffers serve later answers, which are still exactly theirs.
    const third = encodeLongList(a);
    expect(third.bytes.equals(serialized(a))).toBe(true);
    third.release();
  });

  it('leave other answers to the serializer', () => {
    expect(isLongList({ ports: Array.from({ length: 63 }, () => ({})) })).toBe(false);
    expect(isLongList({ port: { id: 'x' } })).toBe(false);
    expect(isLongList([...Array(100).keys()])).toBe(false);
    expect(isLongList('{"ports": []}')).toBe(false);
    expect(isLongList(null)).toBe(false);
    // Whatever JSON.stringify would treat specially stays with it: toJSON, class instances.
    expect(isLongList({ ports: Array(100).fill(1), toJSON: () => ({}) })).toBe(false);
    expect(
      isLongList(
        new (class Answer {
          ports = Array(100).fill(1);
        })(),
      ),
    ).toBe(false);
    expect(isLongList({ ports: Array(100).fill(1) })).toBe(true);
  });
});
