import { describe, expect, it } from 'vitest';
import { type Decision } from '../../src/engine/engine.js';
import type { KubeObject } from '../../src/engine/policy.js';
import { engineWith, makeInput } from '../fixtures/admission.js';
import { bareContainer, pod } from '../fixtures/pods.js';
import type { PolicyCase } from '../cases/types.js';
import { cases, SECRET_VALUES } from '../cases/no-plaintext-credentials.js';
import { validateCase, expectCase, decisionText } from '../fixtures/cases.js';

const POLICY = 'no-plaintext-credentials';
const NOW = new Date('2026-06-01T12:00:00Z');

const validate = (c: PolicyCase): Promise<Decision> => validateCase(c, { now: NOW });

describe('no-plaintext-credentials cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectCase(c, await validate(c));
  });
});

describe('no-plaintext-credentials never repeats a credential', () => {
  const flagged = cases.filter((c) => c.expect !== 'allowed');

  it.each(flagged.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const d = await validate(c);
    expect(d.results.length).toBeGreaterThan(0);
    // Everything the admission layer may log, answer or annotate with.
    const emitted = JSON.stringify({ d, text: decisionText(c, d) });
    for (const value of SECRET_VALUES) expect(emitted).not.toContain(value);
  });
});

describe('no-plaintext-credentials: shapes it must survive', () => {
  const malformed: Array<[string, KubeObject]> = [
    ['env is a string', pod({ containers: [bareContainer('app', { env: 'DB_PASSWORD=x' })] })],
    [
      'env entry value is a number',
      pod({ containers: [bareContainer('app', { env: [{ name: 'PASSWORD', value: 5 }] })] }),
    ],
    ['args holds objects', pod({ containers: [bareContainer('app', { args: [{ a: 1 }, null] })] })],
    [
      'annotations is a list',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', annotations: ['x'] } },
    ],
    [
      'last-applied-configuration is not JSON',
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 's',
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{not json' },
        },
      },
    ],
    [
      'ConfigMap binaryData is not base64',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, binaryData: { a: '%%%' } },
    ],
  ];

  it.each(malformed)('%s', async (_name, object) => {
    const engine = await engineWith({}, { only: [POLICY] });
    const d = await engine.evaluate(makeInput(object), 'validate');
    expect(d.results.map((r) => r.finding.reason)).not.toContain('policy-error');
  });

  it('a password in both the spec and its last-applied copy is reported once, in the spec', async () => {
    const leaky = cases.find(
      (c) => c.name === 'UPDATE adds a literal password to a clean Deployment',
    )!.object!;
    const metadata = {
      ...(leaky.metadata as object),
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(leaky) },
    };
    const engine = await engineWith({}, { only: [POLICY] });
    const d = await engine.evaluate(makeInput({ ...leaky, metadata }), 'validate');
    expect(d.results.map((r) => r.finding.path)).toEqual([
      'spec.template.spec.containers[0].env[0].value',
    ]);
  });

  it('DELETE carries no object and is not judged', async () => {
    const engine = await engineWith({}, { only: [POLICY] });
    const old = pod({
      containers: [bareContainer('app', { env: [{ name: 'DB_PASSWORD', value: 'x1y2z3w4' }] })],
    });
    const d = await engine.evaluate(
      makeInput(undefined, { operation: 'DELETE', oldObject: old }),
      'validate',
    );
    expect(d.evaluated).toEqual([]);
  });
});

describe('no-plaintext-credentials: configuration', () => {
  it('rejects an allowedNames entry that is not a list of globs', async () => {
    const config = { policies: { [POLICY]: { params: { allowedNames: 'TOKEN' } } } };
    await expect(engineWith(config, { only: [POLICY] })).rejects.toThrow('allowedNames');
  });
});
