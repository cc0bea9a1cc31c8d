import { describe, expect, it } from 'vitest';
import { type Decision } from '../../src/engine/engine.js';
import { engineWith, makeInput } from '../fixtures/admission.js';
import type { PolicyCase } from '../cases/types.js';
import { cases } from '../cases/gitops-secrets.js';
import { validateCase, expectCase } from '../fixtures/cases.js';

const POLICY = 'gitops-secrets';
const NOW = new Date('2026-06-01T12:00:00Z');

const validate = (c: PolicyCase): Promise<Decision> => validateCase(c, { now: NOW });

describe('gitops-secrets cases', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expectCase(c, await validate(c));
  });

  it('every case names its requester (offline it runs as check --as that user)', () => {
    expect(cases.filter((c) => c.request?.userInfo === undefined)).toEqual([]);
  });
});

describe('gitops-secrets: configuration', () => {
  it.each([
    [
      'a service account of any namespace',
      { gitopsIdentities: { users: ['system:serviceaccount:*:argocd-application-controller'] } },
      'any namespace',
    ],
    ['every user', { gitopsIdentities: { users: ['*'] } }, 'gitopsIdentities.users'],
    [
      'every authenticated user',
      { gitopsIdentities: { groups: ['system:authenticated'] } },
      'system:authenticated',
    ],
    ['an unknown field', { gitopsIdentity: [] }, 'gitopsIdentity'],
  ])('rejects %s', async (_name, params, part) => {
    const config = { policies: { [POLICY]: { params } } };
    await expect(engineWith(config, { only: [POLICY] })).rejects.toThrow(part);
  });

  it('accepts a service-account glob whose namespace is exact', async () => {
    const params = { gitopsIdentities: { users: ['system:serviceaccount:gitops:*'] } };
    const engine = await engineWith({ policies: { [POLICY]: { params } } }, { only: [POLICY] });
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'a' },
      data: { k: 'dg==' },
    };
    const d = await engine.evaluate(
      makeInput(secret, {
        userInfo: { username: 'system:serviceaccount:gitops:tenant-a', groups: [] },
      }),
      'validate',
    );
    expect(d.allowed).toBe(false);
  });
});
