import { describe, expect, it } from 'vitest';
import { hexBytes } from '../../src/core/image/locations.js';
import { catalogFiles } from '../../src/core/image/metadefs/catalog.js';
import { propertyType } from '../../src/core/image/metadefs/model.js';
import { DEFAULT_IMPORT_FILTER, imageOptionsFromEnv } from '../../src/core/image/options.js';
import { importUriAllowed } from '../../src/core/image/uri.js';
import { SchemaValidator } from '../../src/util/jsonschema.js';

describe("Glance's web-download filter (validate_import_uri)", () => {
  const names = new Map([['images.example.', true]]);
  const resolves = async (name: string) => names.get(name) ?? false;

  it('allows http(s) on ports 80 and 443 by default, to hosts that resolve', async () => {
    const f = DEFAULT_IMPORT_FILTER;
    expect(await importUriAllowed('http://images.example/a.img', f, resolves)).toBe(true);
    expect(await importUriAllowed('https://images.example:443/a.img', f, resolves)).toBe(true);
    // Python's urlparse keeps the default port: http://h:80 is port 80, allowed.
    expect(await importUriAllowed('http://images.example:80/a.img', f, resolves)).toBe(true);
    expect(await importUriAllowed('http://images.example:8080/a.img', f, resolves)).toBe(false);
    expect(await importUriAllowed('ftp://images.example/a.img', f, resolves)).toBe(false);
    expect(await importUriAllowed('http://nowhere.example/a.img', f, resolves)).toBe(false);
    expect(await importUriAllowed(undefined, f, resolves)).toBe(false);
    expect(await importUriAllowed('not a url', f, resolves)).toBe(false);
  });

  it('refuses numeric spellings of addresses and honours the allow and deny lists', async () => {
    const f = DEFAULT_IMPORT_FILTER;
    expect(await importUriAllowed('http://2130706433/a', f, resolves)).toBe(false);
    expect(await importUriAllowed('http://127.1/a', f, resolves)).toBe(false);
    // Where Python and the fetch would read different hosts, the filter refuses.
    expect(await importUriAllowed('http://127.0.0.1\\@images.example/a', f, resolves)).toBe(false);
    expect(await importUriAllowed('http://127.0.0.1/a', f, resolves)).toBe(true);
    const denied = { ...f, disallowedHosts: ['127.0.0.1'] };
    expect(await importUriAllowed('http://127.0.0.1/a', denied, resolves)).toBe(false);
    // An allow list wins over the deny list of the same kind.
    const allowed = { ...f, allowedHosts: ['127.0.0.1'], disallowedHosts: ['127.0.0.1'], allowedPorts: [8080] };
    expect(await importUriAllowed('http://127.0.0.1:8080/a', allowed, resolves)).toBe(true);
    // Outside the allow list a name is refused without being looked up.
    let looked = false;
    expect(await importUriAllowed('http://images.example:8080/a', allowed, async () => (looked = true))).toBe(false);
    expect(looked).toBe(false);
  });
});

describe('image options from the environment', () => {
  it("defaults to one file store and Glance's import methods, and refuses what Glance would not start with", () => {
    expect(imageOptionsFromEnv({})).toMatchObject({
      stores: [{ id: 'file', type: 'file' }],
      defaultStore: 'file',
      importMethods: ['glance-direct', 'web-download', 'copy-image'],
    });
    const o = imageOptionsFromEnv({
      POCKETSTACK_IMAGE_STORES: 'cheap:file,fast:file,web:http',
      POCKETSTACK_IMAGE_DEFAULT_STORE: 'fast',
      POCKETSTACK_IMAGE_IMPORT_ALLOWED_PORTS: '80,8000',
    });
    expect(o.stores.map((s) => `${s.id}:${s.type}`)).toEqual(['cheap:file', 'fast:file', 'web:http']);
    expect(o.importFilter.allowedPorts).toEqual([80, 8000]);
    expect(() => imageOptionsFromEnv({ POCKETSTACK_IMAGE_STORES: 'web:http' })).toThrow(/at least one store must be a file store/);
    expect(() => imageOptionsFromEnv({ POCKETSTACK_IMAGE_STORES: 'os_glance_x:file' })).toThrow(/reserved prefix/);
    expect(() => imageOptionsFromEnv({ POCKETSTACK_IMAGE_DEFAULT_STORE: 'web', POCKETSTACK_IMAGE_STORES: 'a:file,web:http' })).toThrow(/not a file store/);
    expect(() => imageOptionsFromEnv({ POCKETSTACK_IMAGE_IMPORT_METHODS: 'glance-direct,scp' })).toThrow(/unknown method 'scp'/);
  });
});

describe('metadefs', () => {
  it("bundles Glance's 33 catalog files, each a namespace", () => {
    const files = catalogFiles();
    expect(files).toHaveLength(33);
    expect(new Set(files.map((f) => f.namespace)).size).toBe(33);
  });

  it("keeps only what WSME's PropertyType knows, items only type and enum", () => {
    expect(propertyType({ title: 'T', type: 'array', items: { type: 'string', enum: ['a'], extra: 1 }, bogus: true, readonly: false })).toEqual({
      type: 'array',
      title: 'T',
      readonly: false,
      items: { type: 'string', enum: ['a'] },
    });
  });

  it('validates through local $refs, as python-jsonschema resolves them', () => {
    const schema = { properties: { p: { $ref: '#/definitions/positive' } }, definitions: { positive: { type: 'integer', minimum: 0 } } };
    const v = new SchemaValidator();
    expect(v.validate(schema, { p: 1 })).toBeNull();
    expect(v.validate(schema, { p: -1 })?.message).toBe('-1 is less than the minimum of 0');
  });
});

describe('location validation data', () => {
  it("reads hex as Python's bytearray.fromhex does", () => {
    expect(hexBytes('ab'.repeat(16))).toBe(16);
    expect(hexBytes('ab cd')).toBe(2);
    expect(hexBytes('abc')).toBeNull();
    expect(hexBytes('zz')).toBeNull();
  });
});
