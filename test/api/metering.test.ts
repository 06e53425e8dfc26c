import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

const { admin, demo } = await cloudForFile('network');

describe('metering labels and rules', () => {
  it('creates, shows, filters and deletes labels and rules as an admin, with Neutron shapes', async () => {
    const label = await admin.post('/v2.0/metering/metering-labels', { metering_label: { name: 'web', description: 'web traffic' } });
    expect(label.status).toBe(201);
    const l = label.body.metering_label;
    expect(Object.keys(l)).toEqual(['id', 'name', 'description', 'shared', 'project_id', 'tenant_id']);
    expect(l).toMatchObject({ name: 'web', description: 'web traffic', shared: false });
    const rule = await admin.post('/v2.0/metering/metering-label-rules', {
      metering_label_rule: { metering_label_id: l.id, direction: 'ingress', remote_ip_prefix: '10.0.0.0/24' },
    });
    expect(rule.status).toBe(201);
    expect(rule.body.metering_label_rule).toEqual({
      id: rule.body.metering_label_rule.id,
      metering_label_id: l.id,
      direction: 'ingress',
      remote_ip_prefix: '10.0.0.0/24',
      excluded: false,
      // metering_source_and_destination_fields
      source_ip_prefix: null,
      destination_ip_prefix: null,
    });
    expect((await admin.get(`/v2.0/metering/metering-labels?id=${l.id}`)).body.metering_labels).toHaveLength(1);
    expect((await admin.get('/v2.0/metering/metering-labels?id=33')).body.metering_labels).toEqual([]);
    expect((await admin.get(`/v2.0/metering/metering-label-rules?metering_label_id=${l.id}`)).body.metering_label_rules).toHaveLength(1);
    const overlap = await admin.post('/v2.0/metering/metering-label-rules', {
      metering_label_rule: { metering_label_id: l.id, direction: 'ingress', remote_ip_prefix: '10.0.0.128/25' },
    });
    expect(overlap.status).toBe(409);
    expect(overlap.body.NeutronError).toEqual({
      type: 'MeteringLabelRuleOverlaps',
      message: "Metering label rule with remote_ip_prefix '10.0.0.128/25' overlaps another.",
      detail: '',
    });
    // Deleting the label takes its rules.
    expect((await admin.delete(`/v2.0/metering/metering-labels/${l.id}`)).status).toBe(204);
    const gone = await admin.get(`/v2.0/metering/metering-label-rules/${rule.body.metering_label_rule.id}`);
    expect(gone.body.NeutronError).toEqual({
      type: 'MeteringLabelRuleNotFound',
      message: `Metering label rule '${rule.body.metering_label_rule.id}' does not exist.`,
      detail: '',
    });
  });

  it('is admin-only to change, and refuses rules for missing labels', async () => {
    const denied = await demo.post('/v2.0/metering/metering-labels', { metering_label: { name: 'x' } });
    expect(denied.status).toBe(403);
    expect(denied.body.NeutronError.message).toBe('rule:create_metering_label is disallowed by policy');
    const missing = '00000000-0000-0000-0000-000000000000';
    const rule = await admin.post('/v2.0/metering/metering-label-rules', {
      metering_label_rule: { metering_label_id: missing, direction: 'egress', remote_ip_prefix: '10.0.0.0/8' },
    });
    expect(rule.status).toBe(404);
    expect(rule.body.NeutronError).toEqual({ type: 'MeteringLabelNotFound', message: `Metering label '${missing}' does not exist.`, detail: '' });
    const bad = await admin.post('/v2.0/metering/metering-label-rules', {
      metering_label_rule: { metering_label_id: missing, direction: 'sideways', remote_ip_prefix: '10.0.0.0/8' },
    });
    expect(bad.status).toBe(400);
  });
});
