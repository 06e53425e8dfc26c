import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

/** Glance's metadata definitions catalog: the default catalog loaded, admin-only writes, Glance's answers. */
const { tc, admin, demo } = await cloudForFile('image');

const J = { accept: 'application/json' };
const msg = (m: string) => `${m}<br /><br />\n\n\n`;

describe('the default catalog', () => {
  it("is Glance's etc/metadefs, loaded once: public namespaces for everyone, the rest for admins", async () => {
    const all = (await admin.get('/v2/metadefs/namespaces?limit=100')).body;
    expect(all.namespaces).toHaveLength(33);
    expect(all).toMatchObject({ first: '/v2/metadefs/namespaces?limit=100', schema: '/v2/schemas/metadefs/namespaces' });
    expect(all.next).toBeUndefined();
    const mine = (await demo.get('/v2/metadefs/namespaces?limit=100')).body.namespaces.map((n: any) => n.namespace);
    // The two files without a visibility load as NULL: private, the admin project's (owner "admin").
    expect(mine).toHaveLength(31);
    expect(mine).not.toContain('OS::Glance::CommonImageProperties');
    const hidden = await demo.get('/v2/metadefs/namespaces/OS::OperatingSystem', J);
    expect([hidden.status, hidden.body.message]).toEqual([404, msg('The resource could not be found.')]);
    const libvirt = (await demo.get('/v2/metadefs/namespaces/OS::Compute::Libvirt')).body;
    expect(libvirt).toMatchObject({
      namespace: 'OS::Compute::Libvirt',
      display_name: 'libvirt Driver Options',
      visibility: 'public',
      protected: true,
      owner: 'admin',
      self: '/v2/metadefs/namespaces/OS::Compute::Libvirt',
      schema: '/v2/schemas/metadefs/namespace',
    });
    expect(libvirt.updated_at).toBeUndefined();
    expect(libvirt.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(libvirt.resource_type_associations.map((a: any) => [a.name, a.prefix])).toEqual([
      ['OS::Glance::Image', 'hw_'],
      ['OS::Nova::Flavor', 'hw:'],
    ]);
    expect(libvirt.properties.serial_port_count).toEqual({ title: 'Serial Port Count', description: expect.any(String), type: 'integer', minimum: 0 });
    const prefixed = (await demo.get('/v2/metadefs/namespaces/OS::Compute::Libvirt?resource_type=OS::Nova::Flavor')).body;
    expect(Object.keys(prefixed.properties)).toContain('hw:serial_port_count');
    const quota = (await demo.get('/v2/metadefs/namespaces/OS::Compute::Quota/objects')).body;
    expect(quota.schema).toBe('/v2/schemas/metadefs/objects');
    expect(quota.objects[0]).toMatchObject({ required: [], self: expect.stringMatching(/^\/v2\/metadefs\/namespaces\/OS::Compute::Quota\/objects\//) });
    const rts = (await demo.get('/v2/metadefs/resource_types')).body.resource_types.map((r: any) => r.name);
    expect(rts).toEqual(expect.arrayContaining(['OS::Glance::Image', 'OS::Nova::Flavor', 'OS::Cinder::Volume', 'OS::Nova::Aggregate', 'OS::Nova::Server']));
    const byType = (await demo.get('/v2/metadefs/namespaces?resource_types=OS::Cinder::Volume&limit=100')).body.namespaces;
    expect(byType.length).toBeGreaterThan(0);
    expect(byType.every((n: any) => n.resource_type_associations.some((a: any) => a.name === 'OS::Cinder::Volume'))).toBe(true);
    const page = (await demo.get('/v2/metadefs/namespaces?limit=2')).body;
    expect(page.namespaces).toHaveLength(2);
    expect(page.next).toBe(`/v2/metadefs/namespaces?limit=2&marker=${encodeURIComponent(page.namespaces[1].namespace)}`);
    const next = (await demo.get(page.next)).body.namespaces;
    expect(next[0].namespace).not.toBe(page.namespaces[1].namespace);
  });

  it('serves the metadef schemas, generated from Glance', async () => {
    for (const [path, name] of [
      ['namespace', 'namespace'],
      ['namespaces', 'namespaces'],
      ['resource_type', 'resource_type_association'],
      ['resource_types', 'resource_type_associations'],
      ['object', 'object'],
      ['objects', 'objects'],
      ['property', 'property'],
      ['properties', 'properties'],
      ['tag', 'tag'],
      ['tags', 'tags'],
    ]) {
      expect((await demo.get(`/v2/schemas/metadefs/${path}`)).body.name).toBe(name);
    }
    expect((await demo.get('/v2/schemas/task')).body.name).toBe('task');
    expect((await demo.get('/v2/schemas/tasks')).body.name).toBe('tasks');
  });
});

describe('namespaces', () => {
  it('creates with contents, updates, protects and deletes, refusing as Glance does', async () => {
    const body = {
      namespace: 'PS::Test',
      display_name: 'Test',
      visibility: 'public',
      protected: true,
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'ps_' }],
      properties: { speed: { title: 'Speed', type: 'integer', minimum: 1 } },
      objects: [{ name: 'Thing', properties: { size: { title: 'Size', type: 'string' } } }],
      tags: [{ name: 'alpha' }],
    };
    const denied = await demo.post('/v2/metadefs/namespaces', body, J);
    expect([denied.status, denied.body.message]).toEqual([403, msg('You are not authorized to complete add_metadef_namespace action.')]);
    const made = await admin.post('/v2/metadefs/namespaces', body);
    expect(made.status).toBe(201);
    expect(made.headers.location).toBe('/v2/metadefs/namespaces/PS::Test');
    expect(made.body).toMatchObject({
      namespace: 'PS::Test',
      protected: true,
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'ps_' }],
      objects: [{ name: 'Thing', required: [], properties: { size: { title: 'Size', type: 'string' } } }],
      tags: [{ name: 'alpha' }],
    });
    const dup = await admin.post('/v2/metadefs/namespaces', { namespace: 'PS::Test' }, J);
    expect([dup.status, dup.body.message]).toEqual([409, msg('The metadata definition namespace=PS::Test already exists.')]);
    const invalid = await admin.post('/v2/metadefs/namespaces', { namespace: 'PS::X', colour: 'red' }, J);
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toMatch(
      /^Provided object does not match schema 'namespace': Additional properties are not allowed \('colour' was unexpected\)/,
    );
    const badProp = await admin.post('/v2/metadefs/namespaces', { namespace: 'PS::X', properties: { p: { type: 'string' } } }, J);
    expect(badProp.body.message).toMatch(/^Provided object does not match schema 'namespace': 'title' is a required property/);
    const ro = await admin.post('/v2/metadefs/namespaces', { namespace: 'PS::X', self: '/x' }, J);
    expect([ro.status, ro.body.message]).toEqual([403, msg("Attribute 'self' is read-only.")]);

    const shown = (await demo.get('/v2/metadefs/namespaces/PS::Test')).body;
    expect(shown.objects[0].self).toBe('/v2/metadefs/namespaces/PS::Test/objects/Thing');
    expect(shown.tags).toEqual([{ name: 'alpha' }]);
    expect((await demo.get('/v2/metadefs/namespaces/PS::Test/properties/ps_speed?resource_type=OS::Glance::Image')).body).toMatchObject({
      name: 'speed',
      type: 'integer',
    });

    const prot = await admin.delete('/v2/metadefs/namespaces/PS::Test', J);
    expect([prot.status, prot.body.message]).toEqual([403, msg('Metadata definition namespace PS::Test is protected and cannot be deleted.')]);
    const protTags = await admin.delete('/v2/metadefs/namespaces/PS::Test/tags', J);
    expect([protTags.status, protTags.body.message]).toEqual([403, msg('Metadata definition namespace PS::Test is protected and cannot be deleted.')]);
    const upd = await admin.put('/v2/metadefs/namespaces/PS::Test', { namespace: 'PS::Test', visibility: 'private', protected: false });
    expect(upd.body).toMatchObject({ namespace: 'PS::Test', visibility: 'private', protected: false });
    expect(upd.body.display_name).toBeUndefined();
    // Private to the admin project now.
    expect((await demo.get('/v2/metadefs/namespaces/PS::Test')).status).toBe(404);
    const gone = await demo.delete('/v2/metadefs/namespaces/PS::Test', J);
    expect([gone.status, gone.body.message]).toEqual([404, msg('Namespace PS::Test not found')]);
    expect((await admin.delete('/v2/metadefs/namespaces/PS::Test')).status).toBe(204);
    const absent = await admin.get('/v2/metadefs/namespaces/PS::Test', J);
    expect([absent.status, absent.body.message]).toEqual([404, msg('Metadata definition namespace=PS::Test was not found.')]);
  });
});

describe('namespace contents', () => {
  it('objects, properties, tags and resource types, as the Tempest admin tests drive them', async () => {
    expect((await admin.post('/v2/metadefs/namespaces', { namespace: 'PS::Contents', visibility: 'public' })).status).toBe(201);
    const ns = '/v2/metadefs/namespaces/PS::Contents';

    // objects
    const obj = await admin.post(`${ns}/objects`, { name: 'obj-1', description: 'd', required: ['a'], properties: { a: { title: 'A', type: 'string' } } });
    expect(obj.status).toBe(201);
    expect(obj.body).toMatchObject({ name: 'obj-1', required: ['a'], self: `${ns}/objects/obj-1`, schema: '/v2/schemas/metadefs/object' });
    const renamed = await admin.put(`${ns}/objects/obj-1`, { name: 'obj-2' });
    expect(renamed.body).toMatchObject({ name: 'obj-2', required: [], properties: {} });
    expect(renamed.body.description).toBeUndefined();
    expect((await demo.get(`${ns}/objects/obj-2`)).body.name).toBe('obj-2');
    const missing = await demo.get(`${ns}/objects/obj-1`, J);
    expect([missing.status, missing.body.message]).toEqual([404, msg('Could not find metadata object obj-1')]);
    const noNs = await demo.get('/v2/metadefs/namespaces/PS::Nope/objects', J);
    expect([noNs.status, noNs.body.message]).toEqual([404, msg('Metadata definition namespace=PS::Nope was not found.')]);
    expect((await admin.delete(`${ns}/objects/obj-2`)).status).toBe(204);
    expect((await demo.get(`${ns}/objects`)).body.objects).toEqual([]);

    // resource type associations
    const assoc = await admin.post(`${ns}/resource_types`, { name: 'OS::Glance::Image' });
    expect(assoc.status).toBe(201);
    expect(assoc.body).toMatchObject({ name: 'OS::Glance::Image' });
    const twice = await admin.post(`${ns}/resource_types`, { name: 'OS::Glance::Image' }, J);
    expect([twice.status, twice.body.message]).toEqual([
      409,
      msg('The metadata definition resource-type association of resource-type=OS::Glance::Image to namespace=PS::Contents already exists.'),
    ]);
    expect((await demo.get(`${ns}/resource_types`)).body.resource_type_associations.map((a: any) => a.name)).toEqual(['OS::Glance::Image']);
    expect((await admin.delete(`${ns}/resource_types/OS::Glance::Image`)).status).toBe(204);
    const noAssoc = await admin.delete(`${ns}/resource_types/OS::Glance::Image`, J);
    expect([noAssoc.status, noAssoc.body.message]).toEqual([404, msg('Failed to find resource type OS::Glance::Image to delete')]);

    // properties
    const enumValues = ['xen', 'qemu', 'kvm'];
    const prop = await admin.post(`${ns}/properties`, { name: 'OS::Glance::Image', title: 'p', type: 'string', enum: enumValues });
    expect(prop.status).toBe(201);
    expect(prop.body).toEqual({ name: 'OS::Glance::Image', type: 'string', title: 'p', enum: enumValues });
    expect((await demo.get(`${ns}/properties/OS::Glance::Image`)).body.name).toBe('OS::Glance::Image');
    const updated = await admin.put(`${ns}/properties/OS::Glance::Image`, { name: 'OS::Glance::Image', title: 'p2', type: 'string', enum: enumValues });
    expect(updated.body.title).toBe('p2');
    const noTitle = await admin.post(`${ns}/properties`, { name: 'x', type: 'string' }, J);
    expect(noTitle.body.message).toMatch(/^Provided object does not match schema 'property': 'title' is a required property/);
    expect((await admin.delete(`${ns}/properties/OS::Glance::Image`)).status).toBe(204);
    expect((await demo.get(`${ns}/properties`)).body).toEqual({ properties: {} });

    // tags
    const tags = await admin.post(`${ns}/tags`, { tags: [{ name: 'sample-tag1' }, { name: 'sample-tag2' }, { name: 'sample-tag3' }] });
    expect([tags.status, tags.body]).toEqual([201, { tags: [{ name: 'sample-tag1' }, { name: 'sample-tag2' }, { name: 'sample-tag3' }] }]);
    expect((await demo.get(`${ns}/tags`)).body.tags).toHaveLength(3);
    const one = await admin.post(`${ns}/tags/tag-x`);
    expect(one.status).toBe(201);
    expect(one.body).toMatchObject({ name: 'tag-x', created_at: expect.any(String) });
    const caseDup = await admin.post(`${ns}/tags/TAG-X`, undefined, J);
    expect([caseDup.status, caseDup.body.message]).toEqual([
      409,
      msg('A metadata tag with name=TAG-X already exists in namespace=PS::Contents. (Please note that metadata tag names are case insensitive).'),
    ]);
    expect((await admin.put(`${ns}/tags/tag-x`, { name: 'tag-y' })).body.name).toBe('tag-y');
    expect((await demo.get(`${ns}/tags/tag-y`)).body.name).toBe('tag-y');
    expect((await admin.delete(`${ns}/tags/tag-y`)).status).toBe(204);
    // Replacing (no X-Openstack-Append) drops the others; appending keeps them.
    await admin.post(`${ns}/tags`, { tags: [{ name: 'only' }] });
    expect((await demo.get(`${ns}/tags`)).body.tags).toEqual([{ name: 'only' }]);
    await admin.post(`${ns}/tags`, { tags: [{ name: 'more' }] }, { 'x-openstack-append': 'true' });
    expect((await demo.get(`${ns}/tags`)).body.tags).toHaveLength(2);
    expect((await admin.delete(`${ns}/tags`)).status).toBe(204);
    expect((await demo.get(`${ns}/tags`)).body).toEqual({ tags: [] });
    const nonAdmin = await demo.post(`${ns}/tags/mine`, undefined, J);
    expect([nonAdmin.status, nonAdmin.body.message]).toEqual([403, msg('You are not authorized to complete add_metadef_tag action.')]);
    expect((await admin.delete(ns)).status).toBe(204);
    expect(tc).toBeDefined();
  });
});
