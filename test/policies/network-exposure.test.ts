import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/engine/policy.js';
import { engineWith } from '../fixtures/admission.js';
import type { PolicyCase } from '../cases/types.js';
import { cases } from '../cases/network-exposure.js';
import { expectCase, labelTable, validateCase } from '../fixtures/cases.js';

const NOW = new Date('2026-06-01T12:00:00Z');

function validate(c: PolicyCase, labels?: Record<string, Record<string, string>>) {
  return validateCase(c, { now: NOW, cluster: labels ? labelTable(labels) : undefined });
}

describe('network-exposure cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectCase(c, await validate(c));
  });
});

describe('network-exposure: PHI namespaces by label', () => {
  const lb: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'records' },
    spec: { type: 'LoadBalancer', ports: [{ port: 443 }] },
  };

  it.each([
    [
      'namespace labelled with the default phi-guard.io/phi=true',
      undefined,
      { 'phi-guard.io/phi': 'true' },
      'denied',
    ],
    [
      'namespace labelled phi-guard.io/phi=false',
      undefined,
      { 'phi-guard.io/phi': 'false' },
      'allowed',
    ],
    ['namespace without labels', undefined, {}, 'allowed'],
    ['namespace with the key of a key-only selector', 'hipaa', { hipaa: 'whatever' }, 'denied'],
    ['namespace label selector switched off', '', { 'phi-guard.io/phi': 'true' }, 'allowed'],
  ] as const)('%s', async (name, selector, labels, expectation) => {
    const params = selector === undefined ? {} : { phiNamespaceLabel: selector };
    const c: PolicyCase = {
      name,
      policy: 'network-exposure',
      config: { policies: { 'network-exposure': { params } } },
      object: lb,
      expect: expectation,
    };
    expectCase(c, await validate(c, { records: labels }));
  });

  it('namespace unknown to the cache is judged by name only', async () => {
    const c: PolicyCase = {
      name: 'unknown',
      policy: 'network-exposure',
      object: lb,
      expect: 'allowed',
    };
    expectCase(c, await validate(c, {}));
  });
});

describe('network-exposure: configuration', () => {
  it.each([
    ['an unknown Service type', { deniedServiceTypes: ['ExternalName'] }, 'deniedServiceTypes'],
    ['a label selector with spaces', { phiNamespaceLabel: 'phi = yes' }, 'phiNamespaceLabel'],
  ])('rejects %s', async (_name, params, key) => {
    const config = { policies: { 'network-exposure': { params } } };
    await expect(engineWith(config, { only: ['network-exposure'] })).rejects.toThrow(key);
  });
});
