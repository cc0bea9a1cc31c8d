import { describe, expect, it } from 'vitest';
import { type Decision } from '../../src/engine/engine.js';
import { engineWith, makeInput } from '../fixtures/admission.js';
import type { PolicyCase } from '../cases/types.js';
import { cases } from '../cases/workload-metadata.js';
import { validateCase, expectCase } from '../fixtures/cases.js';

const NOW = new Date('2026-06-01T12:00:00Z');

const validate = (c: PolicyCase): Promise<Decision> => validateCase(c, { now: NOW });

describe('workload-metadata cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectCase(c, await validate(c));
  });
});

describe('workload-metadata: malformed input never throws', () => {
  it.each([
    [
      'labels is a string',
      { labels: 'owner=x' },
      { containers: [{ name: 'a', resources: 'lots' }] },
    ],
    ['containers is not a list', { labels: {} }, { containers: { name: 'a' } }],
    [
      'resources.requests is a list',
      {},
      { containers: [{ name: 'a', resources: { requests: ['cpu'] } }] },
    ],
    [
      'ownerReferences is an object',
      { ownerReferences: { kind: 'ReplicaSet' } },
      { containers: [] },
    ],
  ])('%s', async (_name, metadata, spec) => {
    const object = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'odd', namespace: 'clinic', ...metadata },
      spec,
    };
    const engine = await engineWith({}, { only: ['workload-metadata'] });
    const d = await engine.evaluate(makeInput(object), 'validate');
    expect(d.results.some((r) => r.outcome === 'error')).toBe(false);
  });
});

describe('workload-metadata: configuration', () => {
  it.each([
    ['a required label that is not a label key', { requiredLabels: ['bad key'] }, 'requiredLabels'],
    ['an allowed-values list that is empty', { allowedValues: { tier: [] } }, 'allowedValues'],
    ['an unknown resource switch', { resources: { gpuRequest: true } }, 'gpuRequest'],
  ])('rejects %s', async (_name, params, key) => {
    const config = { policies: { 'workload-metadata': { params } } };
    await expect(engineWith(config, { only: ['workload-metadata'] })).rejects.toThrow(key);
  });
});
