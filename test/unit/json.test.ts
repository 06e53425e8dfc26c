import { describe, expect, it } from 'vitest';
import { stringifyExact } from '../../src/util/json.js';

describe('stringifyExact', () => {
  it('writes bigints as exact integer literals and everything else as JSON.stringify does', () => {
    const v = { a: 2n ** 64n - 1n, b: [1, 'x', null, true, { c: 2n }], d: undefined, e: 'q"uote' };
    expect(stringifyExact(v)).toBe('{"a":18446744073709551615,"b":[1,"x",null,true,{"c":2}],"e":"q\\"uote"}');
    const plain = { x: [1.5, { y: 'z' }], n: null };
    expect(stringifyExact(plain)).toBe(JSON.stringify(plain));
  });
});
