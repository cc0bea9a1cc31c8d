import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/engine/policy.js';
import { engineWith } from '../fixtures/admission.js';
import type { PolicyCase } from '../cases/types.js';
import { cases } from '../cases/trusted-images.js';
import { expectCase, labelTable, validateCase } from '../fixtures/cases.js';

const NOW = new Date('2026-06-01T12:00:00Z');

function validate(c: PolicyCase, labels?: Record<string, Record<string, string>>) {
  return validateCase(c, { now: NOW, cluster: labels ? labelTable(labels) : undefined });
}

describe('trusted-images cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectCase(c, await validate(c));
  });
});

describe('trusted-images: requireDigest by namespace label', () => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'records', namespace: 'records' },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
  };
  const config = {
    policies: {
      'trusted-images': { params: { requireDigest: { namespaceLabel: 'phi-guard.io/phi=true' } } },
    },
  };

  it.each([
    [
      'namespace labelled phi-guard.io/phi=true',
      { records: { 'phi-guard.io/phi': 'true' } },
      'denied',
    ],
    [
      'namespace labelled phi-guard.io/phi=false',
      { records: { 'phi-guard.io/phi': 'false' } },
      'allowed',
    ],
    ['namespace unknown to the cache', {}, 'allowed'],
  ] as const)('%s', async (_name, labels, expect_) => {
    const c: PolicyCase = {
      name: _name,
      policy: 'trusted-images',
      config,
      object: pod,
      expect: expect_,
    };
    if (expect_ === 'denied') c.reasons = ['digestRequired'];
    expectCase(c, await validate(c, labels));
  });
});

describe('trusted-images: configuration', () => {
  it.each([
    [
      'requireDigest.namespaceLabel with a space',
      { requireDigest: { namespaceLabel: 'a b' } },
      'namespaceLabel',
    ],
    [
      'allowedRegistries entry starting with a slash',
      { allowedRegistries: ['/acme/*'] },
      'allowedRegistries',
    ],
    ['unknown parameter', { allowRegistries: [] }, 'allowRegistries'],
  ])('rejects %s', async (_name, params, key) => {
    const config = { policies: { 'trusted-images': { params } } };
    await expect(engineWith(config, { only: ['trusted-images'] })).rejects.toThrow(key);
  });
});
