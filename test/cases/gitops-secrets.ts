/**
 * Cases for policies/gitops-secrets.ts: plain Secrets by GitOps identities (denied), by the
 * controllers of SealedSecrets, ExternalSecrets and cert-manager (allowed), the exempt types,
 * and the engine's modes and exceptions. Every case depends on who asks: offline, through
 * `phi-guard check --as`.
 */
import type { KubeObject, UserInfo } from '../../src/engine/policy.js';
import type { PolicyCase } from './types.js';

const POLICY = 'gitops-secrets';
const NS = 'billing';

const sa = (namespace: string, name: string): UserInfo => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
});

const ARGO = sa('argocd', 'argocd-application-controller');
const FLUX = sa('flux-system', 'kustomize-controller');
const HELM = sa('flux-system', 'helm-controller');
const SEALED = sa('kube-system', 'sealed-secrets-controller');
const ESO = sa('external-secrets', 'external-secrets');
const ALICE: UserInfo = {
  username: 'alice@example.com',
  groups: ['developers', 'system:authenticated'],
};

function secret(
  fields: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: NS, ...metadata },
    type: 'Opaque',
    ...fields,
  };
}

const withData = secret({ data: { username: 'YXBw', password: 'aHVudGVyMg==' } });
const empty = secret({});
const sealedOwner = {
  ownerReferences: [
    {
      apiVersion: 'bitnami.com/v1alpha1',
      kind: 'SealedSecret',
      name: 'db',
      uid: '6a4f0d4e-0000-4000-8000-000000000001',
      controller: true,
    },
  ],
};

const allowed: PolicyCase[] = [
  {
    name: 'person creates a Secret with data (not a GitOps identity)',
    policy: POLICY,
    object: withData,
    request: { userInfo: ALICE },
    expect: 'allowed',
  },
  {
    name: 'sealed-secrets controller creates the Secret of a SealedSecret',
    policy: POLICY,
    object: secret({ data: { password: 'aHVudGVyMg==' } }, sealedOwner),
    request: { userInfo: SEALED },
    expect: 'allowed',
  },
  {
    name: 'external-secrets controller updates the Secret of an ExternalSecret',
    policy: POLICY,
    object: withData,
    request: { userInfo: ESO, operation: 'UPDATE', oldObject: withData },
    expect: 'allowed',
  },
  {
    name: 'Argo CD applies a Secret without data',
    policy: POLICY,
    object: secret({ data: {} }),
    request: { userInfo: ARGO },
    expect: 'allowed',
  },
  {
    name: 'Argo CD applies a service-account token Secret the token controller filled in',
    policy: POLICY,
    object: secret(
      {
        type: 'kubernetes.io/service-account-token',
        data: { token: 'ZXlK', 'ca.crt': 'LS0t', namespace: 'YmlsbGluZw==' },
      },
      { annotations: { 'kubernetes.io/service-account.name': 'ci' } },
    ),
    request: { userInfo: ARGO },
    expect: 'allowed',
  },
  {
    name: 'Flux helm-controller stores a Helm release record',
    policy: POLICY,
    object: secret(
      { type: 'helm.sh/release.v1', data: { release: 'SDRzSQ==' } },
      { name: 'sh.helm.release.v1.db.v1' },
    ),
    request: { userInfo: HELM },
    expect: 'allowed',
  },
  {
    name: 'Argo CD applies a Secret of a type listed in allowedSecretTypes',
    policy: POLICY,
    config: {
      policies: { [POLICY]: { params: { allowedSecretTypes: ['example.com/public-config'] } } },
    },
    object: secret({ type: 'example.com/public-config', data: { banner: 'aGk=' } }),
    request: { userInfo: ARGO },
    expect: 'allowed',
  },
];

const denied: PolicyCase[] = [
  {
    name: 'Argo CD applies a Secret with data',
    policy: POLICY,
    object: withData,
    request: { userInfo: ARGO },
    expect: 'denied',
    reasons: ['plain-secret-from-gitops'],
    messageIncludes: [
      '[gitops-secrets] Secret billing/db: data: plain Secret applied by GitOps identity ' +
        'service account argocd/argocd-application-controller',
      'keys (password, username)',
      'SealedSecret or an ExternalSecret',
    ],
  },
  {
    name: 'Flux kustomize-controller applies a Secret with stringData only',
    policy: POLICY,
    object: secret({ stringData: { token: 'abc' } }),
    request: { userInfo: FLUX },
    expect: 'denied',
    reasons: ['plain-secret-from-gitops'],
    messageIncludes: [
      'Secret billing/db: stringData: ',
      'service account flux-system/kustomize-controller',
    ],
  },
  {
    name: 'Argo CD applies a Secret that claims a SealedSecret owner',
    policy: POLICY,
    object: secret(
      { data: { password: 'aHVudGVyMg==' } },
      { ...sealedOwner, labels: { 'app.kubernetes.io/managed-by': 'sealed-secrets' } },
    ),
    request: { userInfo: ARGO },
    expect: 'denied',
  },
  {
    name: 'Argo CD applies a service-account token Secret with an extra key',
    policy: POLICY,
    object: secret({
      type: 'kubernetes.io/service-account-token',
      data: { token: 'ZXlK', password: 'aHVudGVyMg==' },
    }),
    request: { userInfo: ARGO },
    expect: 'denied',
  },
  {
    name: 'Argo CD applies a Secret typed as a Helm release record',
    policy: POLICY,
    object: secret({ type: 'helm.sh/release.v1', data: { release: 'SDRzSQ==' } }),
    request: { userInfo: ARGO },
    expect: 'denied',
  },
  {
    name: 'Argo CD adds data to a Secret that had none',
    policy: POLICY,
    object: withData,
    request: { userInfo: ARGO, operation: 'UPDATE', oldObject: empty },
    expect: 'denied',
  },
  {
    name: 'member of a configured GitOps group applies a Secret with data',
    policy: POLICY,
    config: {
      policies: {
        [POLICY]: { params: { gitopsIdentities: { users: [], groups: ['gitops:appliers'] } } },
      },
    },
    object: withData,
    request: { userInfo: { username: 'tenant-applier', groups: ['gitops:appliers'] } },
    expect: 'denied',
    messageIncludes: ['GitOps identity "tenant-applier"'],
  },
];

const byMode: PolicyCase[] = [
  {
    name: 'Argo CD re-syncs a Secret that already held data',
    policy: POLICY,
    object: withData,
    request: { userInfo: ARGO, operation: 'UPDATE', oldObject: withData },
    expect: 'warned',
    messageIncludes: ['already present before this update'],
  },
  {
    name: 'Argo CD applies a Secret with data (warn mode)',
    policy: POLICY,
    config: { policies: { [POLICY]: { mode: 'warn' } } },
    object: withData,
    request: { userInfo: ARGO },
    expect: 'warned',
    messageIncludes: ['(warn mode: not denied yet)'],
  },
  {
    name: 'Argo CD applies a Secret with data (audit mode)',
    policy: POLICY,
    config: { policies: { [POLICY]: { mode: 'audit' } } },
    object: withData,
    request: { userInfo: ARGO },
    expect: 'audited',
  },
  {
    name: 'Argo CD applies a Secret with data (covered by an exception)',
    policy: POLICY,
    config: {
      exceptions: [
        {
          name: 'billing-db-migration',
          policies: [POLICY],
          namespace: NS,
          kind: 'Secret',
          objectName: 'db',
          reason: 'moving to ExternalSecret in SEC-77',
          expires: '2099-01-31',
        },
      ],
    },
    object: withData,
    request: { userInfo: ARGO },
    expect: 'excepted',
  },
];

/**
 * The table. CREATE cases also run through `phi-guard check --as USER --as-group GROUP`; the
 * others need a live request (UPDATE, DELETE, CONNECT...).
 */
export const cases: PolicyCase[] = [...allowed, ...denied, ...byMode];
