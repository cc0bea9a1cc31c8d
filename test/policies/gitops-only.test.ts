import { describe, expect, it } from 'vitest';
import { type Decision } from '../../src/engine/engine.js';
import type { ClusterLookup, KubeObject } from '../../src/engine/policy.js';
import { engineWith } from '../fixtures/admission.js';
import type { PolicyCase } from '../cases/types.js';
import { cases, USERS } from '../cases/gitops-only.js';
import { expectCase, validateCase } from '../fixtures/cases.js';

const POLICY = 'gitops-only';
const NOW = new Date('2026-06-01T12:00:00Z');

function validate(c: PolicyCase, cluster?: ClusterLookup): Promise<Decision> {
  return validateCase(c, { now: NOW, cluster });
}

const configMap: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'flags', namespace: 'records' },
  data: {},
};

function labelled(labels: Record<string, Record<string, string>>): ClusterLookup {
  return { namespaceLabels: (ns) => labels[ns] };
}

describe('gitops-only cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectCase(c, await validate(c));
  });
});

describe('gitops-only: managed namespaces by label', () => {
  it.each([
    [
      'labelled with the default phi-guard.io/gitops-managed=true',
      undefined,
      { 'phi-guard.io/gitops-managed': 'true' },
      'denied',
    ],
    [
      'labelled phi-guard.io/gitops-managed=false',
      undefined,
      { 'phi-guard.io/gitops-managed': 'false' },
      'allowed',
    ],
    ['without labels', undefined, {}, 'allowed'],
    [
      'carrying the key of a key-only selector',
      'argocd.argoproj.io/managed',
      { 'argocd.argoproj.io/managed': 'x' },
      'denied',
    ],
    [
      'labelled, but label matching switched off',
      '',
      { 'phi-guard.io/gitops-managed': 'true' },
      'allowed',
    ],
  ] as const)('namespace %s', async (name, selector, labels, expectation) => {
    const params = selector === undefined ? {} : { namespaceLabel: selector };
    const c: PolicyCase = {
      name,
      policy: POLICY,
      config: { policies: { [POLICY]: { params } } },
      object: configMap,
      request: { userInfo: USERS.alice },
      expect: expectation,
    };
    expectCase(c, await validate(c, labelled({ records: labels })));
  });

  it('namespace unknown to the cache is judged by the namespaces param only', async () => {
    const c: PolicyCase = {
      name: 'unknown',
      policy: POLICY,
      object: configMap,
      request: { userInfo: USERS.alice },
      expect: 'allowed',
    };
    expectCase(c, await validate(c, labelled({})));
  });
});

describe('gitops-only: break-glass is on the record', () => {
  const config = { policies: { [POLICY]: { params: { namespaces: ['payments'] } } } };
  const deployment = cases.find(
    (c) => c.name === 'break-glass member updates a Deployment in a managed namespace',
  )!;
  const exec = cases.find(
    (c) => c.name === 'break-glass member runs kubectl exec in a managed namespace',
  )!;

  it('an update by a break-glass member yields a notice and audit annotations', async () => {
    const d = await validate(deployment);
    expect(d.allowed).toBe(true);
    expect(d.notices).toEqual([
      {
        policy: POLICY,
        reason: 'break-glass',
        message:
          'break-glass: "oncall@example.com" (group phi-guard:break-glass) UPDATE deployments ' +
          'on Deployment payments/api',
        annotations: {
          'break-glass-user': 'oncall@example.com',
          'break-glass-group': 'phi-guard:break-glass',
          'break-glass-operation': 'UPDATE deployments',
        },
      },
    ]);
    expect(d.auditAnnotations).toMatchObject({
      'break-glass-user': 'oncall@example.com',
      decision: 'allowed',
    });
  });

  it('kubectl exec by a break-glass member names the subresource', async () => {
    const d = await validate(exec);
    expect(d.notices.map((n) => n.annotations?.['break-glass-operation'])).toEqual([
      'CONNECT pods/exec',
    ]);
  });

  it('a dry run is still noted, and says so', async () => {
    const d = await validate({ ...deployment, request: { ...deployment.request, dryRun: true } });
    expect(d.notices).toHaveLength(1);
    expect(d.notices[0]!.message).toMatch(/\(dry run\)$/);
  });

  it.each([
    ['Argo CD', USERS.argo],
    ['a person outside the group', USERS.alice],
  ])('%s gets no notice', async (_name, userInfo) => {
    const d = await validate({
      ...deployment,
      config,
      request: { ...deployment.request, userInfo },
    });
    expect(d.notices).toEqual([]);
  });

  it('a break-glass member in a namespace that is not managed gets no notice', async () => {
    const d = await validate({
      ...deployment,
      config: { policies: { [POLICY]: { params: { namespaces: ['other'] } } } },
    });
    expect(d.notices).toEqual([]);
  });

  it('an empty breakGlassGroups list leaves no way in and no hint of one', async () => {
    const c = {
      ...deployment,
      config: {
        policies: { [POLICY]: { params: { namespaces: ['payments'], breakGlassGroups: [] } } },
      },
    };
    const d = await validate(c);
    expect(d.allowed).toBe(false);
    expect(d.message).not.toContain('emergency');
  });
});

describe('gitops-only: configuration', () => {
  it.each([
    [
      'a GitOps service account of any namespace',
      { gitopsIdentities: { users: ['system:serviceaccount:*:kustomize-controller'] } },
      'any namespace',
    ],
    [
      'a system identity glob covering every user',
      { systemIdentities: { users: ['system:*'] } },
      'systemIdentities.users',
    ],
    [
      'a break-glass group everybody is in',
      { breakGlassGroups: ['system:authenticated'] },
      'every authenticated user',
    ],
    [
      'a break-glass group glob over namespaces',
      { breakGlassGroups: ['system:serviceaccounts:*'] },
      'any namespace',
    ],
    ['a namespace label with spaces', { namespaceLabel: 'gitops = yes' }, 'namespaceLabel'],
  ])('rejects %s', async (_name, params, part) => {
    const config = { policies: { [POLICY]: { params } } };
    await expect(engineWith(config, { only: [POLICY] })).rejects.toThrow(part);
  });
});
