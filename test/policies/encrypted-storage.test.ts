import { describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import { type Decision } from '../../src/engine/engine.js';
import type { KubeObject } from '../../src/engine/policy.js';
import { engineWith, makeInput } from '../fixtures/admission.js';
import type { PolicyCase } from '../cases/types.js';
import { cases, mutationCases } from '../cases/encrypted-storage.js';
import { validateCase, expectCase } from '../fixtures/cases.js';

const { applyPatch, deepClone } = fastJsonPatch;
const NOW = new Date('2026-06-01T12:00:00Z');

const validate = (c: PolicyCase): Promise<Decision> => validateCase(c, { now: NOW });

describe('encrypted-storage cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectCase(c, await validate(c));
  });
});

describe('encrypted-storage mutation', () => {
  it.each(mutationCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const engine = await engineWith(c.config, { only: ['encrypted-storage'], now: NOW });
    const mutated = await engine.evaluate(makeInput(c.object, c.request), 'mutate');
    expect(mutated.patch).toEqual(c.patch);

    // Applied as the API server would: to the object as sent, every operation validated.
    const patched = applyPatch(deepClone(c.object), deepClone(mutated.patch), true, false)
      .newDocument as KubeObject;
    const again = await engine.evaluate(makeInput(patched, c.request), 'mutate');
    expect(again.patch).toEqual([]);

    const validated = await engine.evaluate(makeInput(patched, c.request), 'validate');
    expectCase(
      {
        name: c.name,
        policy: 'encrypted-storage',
        object: patched,
        request: c.request,
        expect: c.then,
      },
      validated,
    );
  });
});

describe('encrypted-storage: malformed input never throws', () => {
  it.each([
    [
      'volumeClaimTemplates is a string',
      { kind: 'StatefulSet', apiVersion: 'apps/v1', spec: { volumeClaimTemplates: 'data' } },
    ],
    [
      'a volume is a number',
      { kind: 'Pod', apiVersion: 'v1', spec: { volumes: [7, { name: 'e', ephemeral: 'x' }] } },
    ],
    [
      'annotations is a list',
      {
        kind: 'PersistentVolumeClaim',
        apiVersion: 'v1',
        spec: {},
        metadataExtra: { annotations: ['x'] },
      },
    ],
    [
      'StorageClass parameters is a string',
      {
        kind: 'StorageClass',
        apiVersion: 'storage.k8s.io/v1',
        provisioner: 'ebs.csi.aws.com',
        parameters: 'encrypted=true',
      },
    ],
  ])('%s', async (_name, raw) => {
    const { metadataExtra, ...rest } = raw as Record<string, unknown> & { metadataExtra?: object };
    const namespace = rest.kind === 'StorageClass' ? undefined : 'records';
    const object = {
      ...rest,
      metadata: { name: 'phi-encrypted', namespace, ...metadataExtra },
    } as KubeObject;
    const engine = await engineWith({}, { only: ['encrypted-storage'] });
    for (const webhook of ['mutate', 'validate'] as const) {
      const d = await engine.evaluate(makeInput(object), webhook);
      expect(d.results.some((r) => r.finding.reason === 'policy-error')).toBe(false);
    }
  });
});

describe('encrypted-storage: configuration', () => {
  it.each([
    [
      'a default class that approvedClasses does not match',
      { defaultClass: 'gp3', approvedClasses: ['phi-*'] },
      'defaultClass',
    ],
    [
      'a default class that is not a StorageClass name',
      { defaultClass: 'PHI Encrypted' },
      'defaultClass',
    ],
    ['an unknown reclaim policy', { reclaimPolicy: 'Recycle' }, 'reclaimPolicy'],
    [
      'a provisioner requirement that is not a map',
      { provisioners: { 'ebs.csi.aws.com': 'encrypted' } },
      'provisioners',
    ],
  ])('rejects %s', async (_name, params, key) => {
    const config = { policies: { 'encrypted-storage': { params } } };
    await expect(engineWith(config, { only: ['encrypted-storage'] })).rejects.toThrow(key);
  });
});
