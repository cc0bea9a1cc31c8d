import { describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import { z } from 'zod';
import { Engine, MAX_FINDINGS_PER_POLICY, objectRef } from '../src/engine/engine.js';
import { definePolicy } from '../src/engine/policy.js';
import { registryOf, checkPolicy } from '../src/engine/registry.js';
import { resolveConfig, parseConfig, ConfigError } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { makeInput } from './fixtures/admission.js';
import { chainPolicy, configMap, labelPolicy, throwingPolicy } from './fixtures/test-policies.js';

const registry = registryOf([labelPolicy, chainPolicy, throwingPolicy]);
const NOW = new Date('2026-12-03T12:00:00Z');

function engine(config: ConfigInput = {}): Engine {
  return new Engine(registry, resolveConfig(config, registry), { now: () => NOW });
}

const bad = configMap('cm', 'team-a', { bad: 'true' });

describe('engine: modes', () => {
  it.each([
    ['enforce', false, 'denied', 0],
    ['warn', true, 'warned', 1],
    ['audit', true, 'allowed', 0],
    ['off', true, 'allowed', 0],
  ] as const)('mode %s on a violating ConfigMap', async (mode, allowed, decision, warnings) => {
    const d = await engine({ policies: { 'label-check': { mode } } }).evaluate(
      makeInput(bad),
      'validate',
    );
    expect(d.allowed).toBe(allowed);
    expect(d.decision).toBe(decision);
    expect(d.warnings).toHaveLength(warnings);
    expect(d.auditAnnotations.decision).toBe(decision);
  });

  it('denial message names policy, object, field path and fix', async () => {
    const d = await engine().evaluate(makeInput(bad), 'validate');
    expect(d.message).toBe(
      '[label-check] ConfigMap team-a/cm: metadata.labels.bad: label bad is "true"; ' +
        'remove the bad label',
    );
    expect(d.auditAnnotations['denied-by']).toBe('label-check');
  });

  it('warn mode says that it did not deny', async () => {
    const d = await engine({ policies: { 'label-check': { mode: 'warn' } } }).evaluate(
      makeInput(bad),
      'validate',
    );
    expect(d.warnings[0]).toMatch(
      /^\[label-check\] ConfigMap team-a\/cm: .*\(warn mode: not denied yet\)$/,
    );
  });

  it('audit mode records the result without warning', async () => {
    const d = await engine({ policies: { 'label-check': { mode: 'audit' } } }).evaluate(
      makeInput(bad),
      'validate',
    );
    expect(d.results.map((r) => r.outcome)).toEqual(['audited']);
    expect(d.auditAnnotations['audited-by']).toBe('label-check');
  });
});

describe('engine: scope', () => {
  it.each([
    ['namespace excluded globally', { excludedNamespaces: ['team-*'] }, true],
    [
      'namespace excluded for the policy',
      { policies: { 'label-check': { namespaces: { exclude: ['team-a'] } } } },
      true,
    ],
    [
      'namespace not included',
      { policies: { 'label-check': { namespaces: { include: ['prod-*'] } } } },
      true,
    ],
    [
      'namespace included by glob',
      { policies: { 'label-check': { namespaces: { include: ['team-?'] } } } },
      false,
    ],
    ['kind narrowed away by config', { policies: { 'label-check': { kinds: ['Pod'] } } }, true],
  ] as const)('%s', async (_name, config, allowed) => {
    const d = await engine(config as unknown as ConfigInput).evaluate(makeInput(bad), 'validate');
    expect(d.allowed).toBe(allowed);
  });

  it('excluded namespace is skipped whole and says why', async () => {
    const d = await engine().evaluate(
      makeInput(configMap('cm', 'kube-system', { bad: 'true' })),
      'validate',
    );
    expect(d).toMatchObject({ allowed: true, skipped: 'excluded-namespace', evaluated: [] });
  });

  it('subresources are not judged unless the policy asks for them', async () => {
    const d = await engine().evaluate(makeInput(bad, { subResource: 'status' }), 'validate');
    expect(d.allowed).toBe(true);
    expect(d.evaluated).toEqual([]);
  });

  it('DELETE is not judged by a policy that watches CREATE and UPDATE', async () => {
    const d = await engine().evaluate(
      makeInput(undefined, { operation: 'DELETE', oldObject: bad }),
      'validate',
    );
    expect(d.allowed).toBe(true);
  });
});

describe('engine: exceptions', () => {
  const exception = (expires: string, name = 'cm*') => ({
    exceptions: [
      {
        name: 'legacy',
        policies: ['label-check'],
        namespace: 'team-*',
        kind: 'ConfigMap',
        objectName: name,
        reason: 'ticket SEC-1',
        expires,
      },
    ],
  });

  it('an unexpired matching exception allows and names itself', async () => {
    const d = await engine(exception('2027-01-01')).evaluate(makeInput(bad), 'validate');
    expect(d.allowed).toBe(true);
    expect(d.results[0]).toMatchObject({
      outcome: 'excepted',
      exception: { name: 'legacy', reason: 'ticket SEC-1' },
    });
    expect(d.auditAnnotations.exceptions).toBe('legacy');
  });

  it('an expired exception is ignored and reported as expired', async () => {
    const d = await engine(exception('2026-12-02')).evaluate(makeInput(bad), 'validate');
    expect(d.allowed).toBe(false);
    expect(d.expiredExceptions).toEqual(['legacy']);
    expect(d.auditAnnotations['expired-exceptions']).toBe('legacy');
  });

  it('an exception expiring today is still valid until the end of the day (UTC)', async () => {
    const d = await engine(exception('2026-12-03')).evaluate(makeInput(bad), 'validate');
    expect(d.allowed).toBe(true);
  });

  it('an exception for another object name does not apply', async () => {
    const d = await engine(exception('2027-01-01', 'other')).evaluate(makeInput(bad), 'validate');
    expect(d.allowed).toBe(false);
  });

  it('an excepted policy does not mutate the object', async () => {
    const d = await engine(exception('2027-01-01')).evaluate(makeInput(bad), 'mutate');
    expect(d.patchedBy).not.toContain('label-check');
  });
});

describe('engine: UPDATE', () => {
  it('a violation the old object already had only warns', async () => {
    const d = await engine().evaluate(
      makeInput(bad, { operation: 'UPDATE', oldObject: bad }),
      'validate',
    );
    expect(d.allowed).toBe(true);
    expect(d.warnings[0]).toContain('already present before this update');
  });

  it('a violation new in this update is denied', async () => {
    const old = configMap('cm', 'team-a');
    const d = await engine().evaluate(
      makeInput(bad, { operation: 'UPDATE', oldObject: old }),
      'validate',
    );
    expect(d.allowed).toBe(false);
  });
});

describe('engine: mutation', () => {
  it('chains patches: a later policy sees what an earlier set; the patch applies', async () => {
    const object = configMap('cm', 'team-a');
    delete (object.metadata as Record<string, unknown>).labels;
    const d = await engine().evaluate(makeInput(object), 'mutate');
    expect(d.decision).toBe('mutated');
    expect(d.patchedBy).toEqual(['label-check', 'chain-check']);
    const out = fastJsonPatch.applyPatch(structuredClone(object), d.patch, true, false).newDocument;
    expect(out.metadata).toEqual({
      name: 'cm',
      namespace: 'team-a',
      labels: { touched: 'yes' },
      annotations: { seen: 'label' },
    });
    const again = await engine().evaluate(makeInput(out), 'mutate');
    expect(again.patch).toEqual([]);
  });

  it('never patches on DELETE', async () => {
    const d = await engine().evaluate(
      makeInput(undefined, { operation: 'DELETE', oldObject: bad }),
      'mutate',
    );
    expect(d.patch).toEqual([]);
  });

  it('audit mode does not mutate', async () => {
    const d = await engine({ policies: { 'label-check': { mode: 'audit' } } }).evaluate(
      makeInput(configMap('x', 'ns')),
      'mutate',
    );
    expect(d.patch).toEqual([]);
  });
});

describe('engine: a policy that throws', () => {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ns' } };

  it('fails closed in enforce mode without quoting the error text', async () => {
    const d = await engine().evaluate(makeInput(secret), 'validate');
    expect(d.allowed).toBe(false);
    expect(d.message).toContain('[throws] Secret ns/s: the policy could not evaluate this object');
    expect(d.message).not.toContain('hunter2');
  });

  it('drops its patch and keeps the request going', async () => {
    const d = await engine().evaluate(makeInput(secret), 'mutate');
    expect(d.patch).toEqual([]);
    expect(d.allowed).toBe(true);
  });
});

describe('registry and config', () => {
  it.each([
    ['a duplicate id', () => registryOf([labelPolicy, labelPolicy]), /declared twice/],
    [
      'a bad id',
      () => checkPolicy({ ...labelPolicy, id: 'Bad_Id' }, 'bad.ts'),
      /bad\.ts: id "Bad_Id"/,
    ],
    ['no hipaa control', () => checkPolicy({ ...labelPolicy, hipaa: [] }, 'x.ts'), /hipaa/],
    [
      'a bad default mode',
      () => checkPolicy({ ...labelPolicy, defaultMode: 'block' }, 'x.ts'),
      /defaultMode/,
    ],
    ['no export', () => checkPolicy(undefined, 'x.ts'), /no default export/],
  ])('the registry refuses %s', (_name, fn, message) => {
    expect(fn).toThrow(message);
  });

  it.each([
    [
      'an unknown mode',
      'policies:\n  label-check:\n    mode: block\n',
      'policies.label-check.mode',
    ],
    ['an unknown policy', 'policies:\n  nope: {}\n', 'policies.nope: unknown policy'],
    [
      'a bad param',
      'policies:\n  label-check:\n    params: { label: 3 }\n',
      'policies.label-check.params.label',
    ],
    ['an unknown top-level key', 'polices: {}\n', 'polices'],
    [
      'an exception without reason',
      'exceptions:\n  - { name: x, policies: [label-check], expires: 2027-01-01 }\n',
      'exceptions.0.reason',
    ],
    [
      'a bad expiry',
      'exceptions:\n  - { name: x, policies: [label-check], reason: r, expires: soon }\n',
      'exceptions.0.expires',
    ],
    ['broken YAML', 'policies: [\n', '(YAML)'],
    ['nothing in it', '', '(top level): the file is empty'],
    ['only a comment', '# policies come later\n', '(top level): the file is empty'],
    ['a null document', 'null\n', '(top level): the file is empty'],
    [
      'an impossible day',
      'exceptions:\n  - { name: x, policies: [label-check], reason: r, expires: "2027-02-30" }\n',
      'exceptions.0.expires: "2027-02-30" is not a date',
    ],
  ])('config with %s is refused naming the field', (_name, text, field) => {
    try {
      parseConfig(text, registry, 'cfg.yaml');
      expect.unreachable('config should be refused');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.join('\n')).toContain(field);
      expect((err as ConfigError).message).toContain('cfg.yaml');
    }
  });

  it('reports a shape error and a bad parameter together', () => {
    const text = 'polices: {}\npolicies:\n  label-check:\n    params: { label: 3 }\n';
    const issues = (() => {
      try {
        parseConfig(text, registry, 'cfg.yaml');
      } catch (err) {
        return (err as ConfigError).issues;
      }
      return [];
    })();
    expect(issues).toEqual([
      '(top level): Unrecognized key: "polices"',
      'policies.label-check.params.label: Invalid input: expected string, received number (got 3)',
    ]);
  });
});

describe('engine: bounded output', () => {
  const many = definePolicy({
    id: 'many',
    title: 'Many findings (test)',
    hipaa: ['164.312(b)'],
    match: { kinds: ['ConfigMap'] },
    params: z.object({}).strict(),
    defaultMode: 'enforce',
    validate: () =>
      Array.from({ length: 5000 }, (_, i) => ({
        reason: 'bad',
        path: `data.k${i}`,
        message: `key k${i} is bad`,
        fix: 'remove it',
      })),
  });
  const manyRegistry = registryOf([many]);

  it('lists a bounded number of findings per policy and counts the rest', async () => {
    const d = await new Engine(manyRegistry, resolveConfig({}, manyRegistry)).evaluate(
      makeInput(configMap('cm', 'ns')),
      'validate',
    );
    expect(d.results).toHaveLength(MAX_FINDINGS_PER_POLICY + 1);
    expect(d.message.split('\n')).toHaveLength(MAX_FINDINGS_PER_POLICY + 1);
    expect(d.message).toContain(
      `[many] ConfigMap ns/cm: ${5000 - MAX_FINDINGS_PER_POLICY} more findings of this policy`,
    );
  });

  it('cuts an over-long object name in messages', async () => {
    const d = await new Engine(manyRegistry, resolveConfig({}, manyRegistry)).evaluate(
      makeInput(configMap('x'.repeat(100_000), 'ns')),
      'validate',
    );
    expect(d.message.length).toBeLessThan(20_000);
    expect(d.message).toContain(`ns/${'x'.repeat(252)}…:`);
  });
});

describe('objectRef: how messages name the object', () => {
  it.each([
    ['a Pod', { kind: 'Pod', resource: 'pods' }, 'Pod ns/x'],
    ['an Ingress (plural -es)', { kind: 'Ingress', resource: 'ingresses' }, 'Ingress ns/x'],
    [
      'a NetworkPolicy (plural -ies)',
      { kind: 'NetworkPolicy', resource: 'networkpolicies' },
      'NetworkPolicy ns/x',
    ],
    [
      'kubectl debug (pods/ephemeralcontainers, kind Pod)',
      { kind: 'Pod', resource: 'pods', subResource: 'ephemeralcontainers' },
      'Pod ns/x',
    ],
    [
      'kubectl exec (kind PodExecOptions)',
      { kind: 'PodExecOptions', resource: 'pods', subResource: 'exec' },
      'Pod ns/x',
    ],
    [
      'kubectl scale of a Deployment (kind Scale)',
      { kind: 'Scale', resource: 'deployments', subResource: 'scale' },
      'Deployment ns/x',
    ],
    [
      'scale of a custom resource',
      { kind: 'Scale', resource: 'widgets', subResource: 'scale' },
      'widgets/scale ns/x',
    ],
  ])('%s', (_state, fields, ref) => {
    expect(objectRef({ namespace: 'ns', name: 'x', ...fields })).toBe(ref);
  });

  it('a cluster-scoped object has no namespace part', () => {
    expect(objectRef({ kind: 'StorageClass', namespace: '', name: 'gp3' })).toBe(
      'StorageClass gp3',
    );
  });
});
