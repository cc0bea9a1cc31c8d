/**
 * Cases for policies/gitops-only.ts: who may create, update, delete, scale, debug, exec, attach
 * and port-forward in a GitOps-managed namespace (here named by the `namespaces` param; labels
 * need a cluster lookup and live in test/policies/gitops-only.test.ts), break-glass members, and
 * the engine's modes and exceptions. Every case depends on who asks: offline, through
 * `phi-guard check --as`.
 */
import type { AdmissionInput } from '../../src/engine/engine.js';
import type { KubeObject, UserInfo } from '../../src/engine/policy.js';
import { bareContainer, controller, pod } from '../fixtures/pods.js';
import type { PolicyCase } from './types.js';

const POLICY = 'gitops-only';
const MANAGED = 'payments';

/** Config marking `payments` as GitOps-managed, with an optional mode. */
function managed(mode?: 'warn' | 'audit'): PolicyCase['config'] {
  return {
    policies: { [POLICY]: { ...(mode ? { mode } : {}), params: { namespaces: [MANAGED] } } },
  };
}

const sa = (namespace: string, name: string): UserInfo => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
});

/** The requesters of the cases. */
export const USERS = {
  alice: { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] },
  breakGlass: {
    username: 'oncall@example.com',
    groups: ['phi-guard:break-glass', 'system:authenticated'],
  },
  argo: sa('argocd', 'argocd-application-controller'),
  argoServer: sa('argocd', 'argocd-server'),
  flux: sa('flux-system', 'kustomize-controller'),
  replicaSets: sa('kube-system', 'replicaset-controller'),
  hpa: sa('kube-system', 'horizontal-pod-autoscaler'),
  kubelet: { username: 'system:node:node-1', groups: ['system:nodes', 'system:authenticated'] },
  app: sa(MANAGED, 'api'),
} satisfies Record<string, UserInfo>;

const deployment = controller(
  'Deployment',
  { containers: [bareContainer('api')] },
  { name: 'api', namespace: MANAGED },
);
const scaled: KubeObject = { ...deployment, spec: { ...(deployment.spec as object), replicas: 5 } };
const apiPod = pod(
  { containers: [bareContainer('api')] },
  { name: 'api-7d9f', namespace: MANAGED },
);

const scale: KubeObject = {
  apiVersion: 'autoscaling/v1',
  kind: 'Scale',
  metadata: { name: 'api', namespace: MANAGED },
  spec: { replicas: 5 },
};
const scaleRequest: Partial<AdmissionInput> = {
  operation: 'UPDATE',
  kind: 'Scale',
  group: 'autoscaling',
  resource: 'deployments',
  subResource: 'scale',
  oldObject: { ...scale, spec: { replicas: 2 } },
};

/** A CONNECT request to a pod subresource (`exec`, `attach`, `portforward`). */
function connect(subResource: string, userInfo: UserInfo): Partial<AdmissionInput> {
  const kind = {
    exec: 'PodExecOptions',
    attach: 'PodAttachOptions',
    portforward: 'PodPortForwardOptions',
  }[subResource];
  return {
    operation: 'CONNECT',
    kind,
    group: '',
    resource: 'pods',
    subResource,
    namespace: MANAGED,
    name: 'api-7d9f',
    userInfo,
  };
}
const execOptions: KubeObject = {
  apiVersion: 'v1',
  kind: 'PodExecOptions',
  command: ['sh'],
  stdin: true,
  tty: true,
};

const configMap: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'flags', namespace: MANAGED },
  data: { a: '1' },
};
const event: KubeObject = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'api.17a', namespace: MANAGED },
  involvedObject: { kind: 'Pod', name: 'api-7d9f' },
  reason: 'Started',
};
const lease: KubeObject = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: 'api-leader', namespace: MANAGED },
  spec: { holderIdentity: 'api-7d9f' },
};

function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}
const gitopsLabel = { 'phi-guard.io/gitops-managed': 'true' };

const allowed: PolicyCase[] = [
  {
    name: 'Argo CD updates a Deployment in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.argo },
    expect: 'allowed',
  },
  {
    name: 'Flux deletes (prunes) a ConfigMap in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: undefined,
    request: { operation: 'DELETE', oldObject: configMap, userInfo: USERS.flux },
    expect: 'allowed',
  },
  {
    name: 'replicaset-controller creates a Pod in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: apiPod,
    request: { userInfo: USERS.replicaSets },
    expect: 'allowed',
  },
  {
    name: 'horizontal-pod-autoscaler scales a Deployment in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: scale,
    request: { ...scaleRequest, userInfo: USERS.hpa },
    expect: 'allowed',
  },
  {
    name: 'kubelet finishes deleting a Pod in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: undefined,
    request: { operation: 'DELETE', oldObject: apiPod, userInfo: USERS.kubelet },
    expect: 'allowed',
  },
  {
    name: 'person updates a Deployment in a namespace that is not managed',
    policy: POLICY,
    config: managed(),
    object: { ...scaled, metadata: { name: 'api', namespace: 'sandbox' } },
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'allowed',
  },
  {
    name: 'person updates a Deployment while no namespace is configured as managed',
    policy: POLICY,
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'allowed',
  },
  {
    name: 'application records an Event in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: event,
    request: { userInfo: USERS.app },
    expect: 'allowed',
  },
  {
    name: 'application renews its leader-election Lease in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: lease,
    request: { operation: 'UPDATE', oldObject: lease, userInfo: USERS.app },
    expect: 'allowed',
  },
  {
    name: 'break-glass member updates a Deployment in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.breakGlass },
    expect: 'allowed',
  },
  {
    name: 'break-glass member runs kubectl exec in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: execOptions,
    request: connect('exec', USERS.breakGlass),
    expect: 'allowed',
  },
  {
    name: 'person creates a cluster-scoped ClusterRole',
    policy: POLICY,
    config: managed(),
    object: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'viewer' },
      rules: [],
    },
    request: { userInfo: USERS.alice },
    expect: 'allowed',
  },
  {
    name: 'person creates a Namespace that carries the GitOps label (no namespace existed before)',
    policy: POLICY,
    config: managed(),
    object: namespace('ledger', gitopsLabel),
    request: { userInfo: USERS.alice },
    expect: 'allowed',
  },
];

const denied: PolicyCase[] = [
  {
    name: 'person updates a Deployment in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'denied',
    reasons: ['change-outside-gitops'],
    messageIncludes: [
      '[gitops-only] Deployment payments/api: update by "alice@example.com" does not come ' +
        'from a GitOps controller, and namespace "payments" is GitOps-managed',
      'change the manifests in Git',
      '"phi-guard:break-glass"',
    ],
  },
  {
    name: 'person creates a ConfigMap in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: configMap,
    request: { userInfo: USERS.alice },
    expect: 'denied',
    messageIncludes: ['creation by "alice@example.com"'],
  },
  {
    name: 'person deletes a Deployment in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: undefined,
    request: { operation: 'DELETE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'denied',
    messageIncludes: ['Deployment payments/api: deletion by "alice@example.com"'],
  },
  {
    name: 'person scales a Deployment in a managed namespace (kubectl scale)',
    policy: POLICY,
    config: managed(),
    object: scale,
    request: { ...scaleRequest, userInfo: USERS.alice },
    expect: 'denied',
    messageIncludes: ['] Deployment payments/api: ', 'scaling by "alice@example.com"'],
  },
  {
    name: 'person adds a debug container to a Pod in a managed namespace (kubectl debug)',
    policy: POLICY,
    config: managed(),
    object: pod(
      {
        containers: [bareContainer('api')],
        ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36' }],
      },
      { name: 'api-7d9f', namespace: MANAGED },
    ),
    request: {
      operation: 'UPDATE',
      subResource: 'ephemeralcontainers',
      oldObject: apiPod,
      userInfo: USERS.alice,
    },
    expect: 'denied',
    messageIncludes: ['adding an ephemeral (debug) container'],
  },
  {
    name: 'person runs kubectl exec in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: execOptions,
    request: connect('exec', USERS.alice),
    expect: 'denied',
    reasons: ['interactive-access'],
    messageIncludes: [
      '] Pod payments/',
      'kubectl exec by "alice@example.com" is not allowed in GitOps-managed namespace "payments"',
      'use logs, metrics and traces instead',
    ],
  },
  {
    name: 'person runs kubectl attach in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: undefined,
    request: connect('attach', USERS.alice),
    expect: 'denied',
    reasons: ['interactive-access'],
  },
  {
    name: 'Argo CD controller port-forwards into a Pod in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: undefined,
    request: connect('portforward', USERS.argo),
    expect: 'denied',
    messageIncludes: [
      'kubectl port-forward by service account argocd/argocd-application-controller',
    ],
  },
  {
    name: 'argocd-server (the Argo CD UI acting for a person) deletes a Pod in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: undefined,
    request: { operation: 'DELETE', oldObject: apiPod, userInfo: USERS.argoServer },
    expect: 'denied',
  },
  {
    name: 'application service account creates a ConfigMap in its managed namespace',
    policy: POLICY,
    config: managed(),
    object: configMap,
    request: { userInfo: USERS.app },
    expect: 'denied',
  },
  {
    name: 'person re-applies an unchanged Deployment in a managed namespace (judged on who acts)',
    policy: POLICY,
    config: managed(),
    object: deployment,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'denied',
  },
  {
    name: 'person server-side dry-runs an update in a managed namespace',
    policy: POLICY,
    config: managed(),
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice, dryRun: true },
    expect: 'denied',
  },
  {
    name: 'person removes the GitOps label from a labelled Namespace',
    policy: POLICY,
    config: managed(),
    object: namespace('ledger'),
    request: {
      operation: 'UPDATE',
      oldObject: namespace('ledger', gitopsLabel),
      userInfo: USERS.alice,
    },
    expect: 'denied',
    messageIncludes: [
      'Namespace ledger: update by "alice@example.com"',
      'namespace "ledger" is GitOps-managed',
    ],
  },
  {
    name: 'person deletes a Namespace named in the namespaces param',
    policy: POLICY,
    config: managed(),
    object: undefined,
    request: { operation: 'DELETE', oldObject: namespace(MANAGED), userInfo: USERS.alice },
    expect: 'denied',
  },
];

const byMode: PolicyCase[] = [
  {
    name: 'person updates a Deployment in a managed namespace (warn mode)',
    policy: POLICY,
    config: managed('warn'),
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'warned',
    messageIncludes: ['(warn mode: not denied yet)'],
  },
  {
    name: 'person updates a Deployment in a managed namespace (audit mode)',
    policy: POLICY,
    config: managed('audit'),
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'audited',
  },
  {
    name: 'person updates a Deployment in a managed namespace (covered by an exception)',
    policy: POLICY,
    config: {
      ...managed(),
      exceptions: [
        {
          name: 'payments-api-migration',
          policies: [POLICY],
          namespace: MANAGED,
          kind: 'Deployment',
          objectName: 'api',
          reason: 'moving payments/api to Argo CD in OPS-310',
          expires: '2099-01-31',
        },
      ],
    },
    object: scaled,
    request: { operation: 'UPDATE', oldObject: deployment, userInfo: USERS.alice },
    expect: 'excepted',
  },
  {
    name: 'person runs kubectl exec into a Pod covered by an exception of kind Pod',
    policy: POLICY,
    config: {
      ...managed(),
      exceptions: [
        {
          name: 'payments-api-debugging',
          policies: [POLICY],
          namespace: MANAGED,
          kind: 'Pod',
          objectName: 'api-*',
          reason: 'incident INC-88: vendor support session',
          expires: '2099-01-31',
        },
      ],
    },
    object: execOptions,
    request: connect('exec', USERS.alice),
    expect: 'excepted',
  },
];

/**
 * The table. CREATE cases also run through `phi-guard check --as USER --as-group GROUP`; the
 * others need a live request (UPDATE, DELETE, CONNECT...).
 */
export const cases: PolicyCase[] = [...allowed, ...denied, ...byMode];
