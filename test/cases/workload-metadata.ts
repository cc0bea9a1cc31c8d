/**
 * Cases for policies/workload-metadata.ts: labels on workloads and their pod templates,
 * resource reservations, controller-created objects, and the engine's modes and exceptions.
 */
import type { KubeObject } from '../../src/engine/policy.js';
import type { PolicyCase } from './types.js';

const POLICY = 'workload-metadata';
const NS = 'clinic';
const LABELS = { owner: 'team-records', 'data-classification': 'phi' };
const RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

/** A container `name` with full resources, other `resources`, or none (`null`). */
function ctr(name: string, resources: object | null = RESOURCES): Record<string, unknown> {
  const c: Record<string, unknown> = { name, image: 'registry.k8s.io/pause:3.10' };
  if (resources !== null) c.resources = resources;
  return c;
}

function pod(
  name: string,
  spec: Record<string, unknown> = { containers: [ctr('app')] },
  metadata: Record<string, unknown> = { labels: LABELS },
): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, ...metadata }, spec };
}

function deployment(
  name: string,
  labels: Record<string, string> | null = LABELS,
  templateLabels: Record<string, string> = { app: name, ...LABELS },
  spec: Record<string, unknown> = { containers: [ctr('app')] },
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, ...(labels ? { labels } : {}) },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: templateLabels }, spec },
    },
  };
}

function cronJob(name: string, templateLabels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS, labels: LABELS },
    spec: {
      schedule: '0 2 * * *',
      jobTemplate: {
        spec: {
          template: {
            metadata: { labels: templateLabels },
            spec: { restartPolicy: 'Never', containers: [ctr('export')] },
          },
        },
      },
    },
  };
}

/** A bare Pod that a ReplicaSet's controller would create: no labels of ours, no resources. */
function replicaSetChild(ownerKind: string, ownerApiVersion: string): KubeObject {
  const owner = {
    apiVersion: ownerApiVersion,
    kind: ownerKind,
    name: 'web-5d8f',
    uid: 'u-1',
    controller: true,
  };
  return pod(
    'web-5d8f-x2x9k',
    { containers: [ctr('app', null)] },
    { labels: { app: 'web' }, ownerReferences: [owner] },
  );
}

const CONTROLLER_USER = {
  username: 'system:serviceaccount:kube-system:replicaset-controller',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
};

function withParams(
  params: Record<string, unknown>,
  mode?: 'warn' | 'audit',
): PolicyCase['config'] {
  return { policies: { [POLICY]: { ...(mode ? { mode } : {}), params } } };
}

const unlabelledPod = pod('unlabelled', { containers: [ctr('app')] }, {});

export const cases: PolicyCase[] = [
  {
    name: 'pod with owner, classification phi and full resources',
    policy: POLICY,
    object: pod('complete'),
    expect: 'allowed',
  },
  {
    name: 'pod without any label',
    policy: POLICY,
    object: unlabelledPod,
    expect: 'denied',
    reasons: ['missingLabel'],
    messageIncludes: [
      '[workload-metadata] Pod clinic/unlabelled: metadata.labels.owner: Pod has no label "owner"; add the label owner with a non-empty value',
      'metadata.labels.data-classification: Pod has no label "data-classification"; add the label data-classification with one of: phi, pii, confidential, internal, public',
    ],
  },
  {
    name: 'pod classified with a value outside the allowed list',
    policy: POLICY,
    object: pod('secretive', undefined, {
      labels: { owner: 'x', 'data-classification': 'top-secret' },
    }),
    expect: 'denied',
    reasons: ['labelValue'],
    messageIncludes: ['label "data-classification" is "top-secret", which is not an allowed value'],
  },
  {
    name: 'pod with an empty owner label',
    policy: POLICY,
    object: pod('empty-owner', undefined, {
      labels: { owner: '', 'data-classification': 'internal' },
    }),
    expect: 'denied',
    reasons: ['missingLabel'],
    messageIncludes: [
      'metadata.labels.owner: Pod has an empty label "owner"; ' +
        'set the label owner to a non-empty value',
    ],
  },
  {
    name: 'pod with a number for its owner label',
    policy: POLICY,
    object: pod('numbered-owner', undefined, {
      labels: { owner: 123 as unknown as string, 'data-classification': 'internal' },
    }),
    expect: 'denied',
    reasons: ['missingLabel'],
    messageIncludes: [
      'Pod has a non-string label "owner"; set the label owner to a non-empty value',
    ],
  },
  {
    name: 'deployment labelled, its pod template not',
    policy: POLICY,
    object: deployment('web', LABELS, { app: 'web' }),
    expect: 'denied',
    reasons: ['missingLabel'],
    messageIncludes: ['spec.template.metadata.labels.owner: pod template has no label "owner"'],
  },
  {
    name: 'deployment pod template labelled, the deployment itself not',
    policy: POLICY,
    object: deployment('web', null),
    expect: 'denied',
    reasons: ['missingLabel'],
    messageIncludes: [
      'Deployment clinic/web: metadata.labels.owner: Deployment has no label "owner"',
    ],
  },
  {
    name: 'deployment and pod template fully labelled with resources',
    policy: POLICY,
    object: deployment('web'),
    expect: 'allowed',
  },
  {
    name: 'cronjob pod template lacks the classification label',
    policy: POLICY,
    object: cronJob('export', { owner: 'team-records' }),
    expect: 'denied',
    reasons: ['missingLabel'],
    messageIncludes: [
      'spec.jobTemplate.spec.template.metadata.labels.data-classification: pod template has no label',
    ],
  },
  {
    name: 'container without a memory limit',
    policy: POLICY,
    object: pod('no-limit', {
      containers: [ctr('app', { requests: { cpu: '1', memory: '1Gi' } })],
    }),
    expect: 'denied',
    reasons: ['memoryLimit'],
    messageIncludes: [
      'spec.containers[0].resources.limits.memory: container "app" sets no memory limit; set resources.limits.memory (e.g. 256Mi) on it',
    ],
  },
  {
    name: 'deployment container with limits only (requests default to limits)',
    policy: POLICY,
    object: deployment('limits-only', LABELS, undefined, {
      containers: [ctr('app', { limits: { cpu: '500m', memory: '256Mi' } })],
    }),
    expect: 'allowed',
  },
  {
    name: 'init container without resources',
    policy: POLICY,
    object: pod('init', { initContainers: [ctr('migrate', null)], containers: [ctr('app')] }),
    expect: 'denied',
    reasons: ['cpuRequest', 'memoryRequest', 'memoryLimit'],
    messageIncludes: [
      'spec.initContainers[0].resources.requests.cpu: init container "migrate" sets no CPU request',
    ],
  },
  {
    name: 'restartable sidecar init container without a memory limit',
    policy: POLICY,
    object: pod('sidecar', {
      initContainers: [
        { ...ctr('proxy', { requests: { cpu: '10m', memory: '32Mi' } }), restartPolicy: 'Always' },
      ],
      containers: [ctr('app')],
    }),
    expect: 'denied',
    reasons: ['memoryLimit'],
  },
  {
    name: 'ephemeral container without resources (the API forbids them)',
    policy: POLICY,
    object: pod('debugged', {
      containers: [ctr('app')],
      ephemeralContainers: [ctr('debugger', null)],
    }),
    expect: 'allowed',
  },
  {
    name: 'containers without resources under pod-level resources',
    policy: POLICY,
    object: pod('pod-level', {
      resources: { requests: { cpu: '1' }, limits: { memory: '1Gi' } },
      containers: [ctr('app', null), ctr('helper', null)],
    }),
    expect: 'allowed',
  },
  {
    name: 'container without a CPU limit when cpuLimit is required',
    policy: POLICY,
    config: withParams({ resources: { cpuLimit: true } }),
    object: pod('cpu-limit'),
    expect: 'denied',
    reasons: ['cpuLimit'],
  },
  {
    name: 'custom required label present, resources not checked',
    policy: POLICY,
    config: withParams({
      requiredLabels: ['example.com/team'],
      allowedValues: {},
      resources: { cpuRequest: false, memoryRequest: false, memoryLimit: false },
    }),
    object: pod(
      'custom',
      { containers: [ctr('app', null)] },
      { labels: { 'example.com/team': 'a' } },
    ),
    expect: 'allowed',
  },
  {
    name: 'pod created by the replicaset controller from a judged template',
    policy: POLICY,
    object: replicaSetChild('ReplicaSet', 'apps/v1'),
    request: { userInfo: CONTROLLER_USER },
    expect: 'allowed',
    offline: false,
  },
  {
    name: 'pod that claims a replicaset owner but is created by a person',
    policy: POLICY,
    object: replicaSetChild('ReplicaSet', 'apps/v1'),
    expect: 'denied',
    reasons: ['missingLabel', 'cpuRequest', 'memoryRequest', 'memoryLimit'],
  },
  {
    name: 'pod created by the controller manager for a custom resource owner',
    policy: POLICY,
    object: replicaSetChild('Cluster', 'postgresql.cnpg.io/v1'),
    request: { userInfo: CONTROLLER_USER },
    expect: 'denied',
    reasons: ['missingLabel', 'cpuRequest', 'memoryRequest', 'memoryLimit'],
    offline: false,
  },
  {
    name: 'service without labels (not a workload kind)',
    policy: POLICY,
    object: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: NS },
      spec: { ports: [{ port: 80 }] },
    },
    expect: 'allowed',
  },
  {
    name: 'deployment relabelled while its container already lacked resources',
    policy: POLICY,
    object: deployment('legacy', { ...LABELS, tier: 'gold' }, undefined, {
      containers: [ctr('app', null)],
    }),
    request: {
      operation: 'UPDATE',
      oldObject: deployment('legacy', LABELS, undefined, { containers: [ctr('app', null)] }),
    },
    expect: 'warned',
    reasons: ['cpuRequest', 'memoryRequest', 'memoryLimit'],
    messageIncludes: ['already present before this update'],
    offline: false,
  },
  {
    name: 'unlabelled pod in warn mode',
    policy: POLICY,
    config: withParams({}, 'warn'),
    object: unlabelledPod,
    expect: 'warned',
    reasons: ['missingLabel'],
  },
  {
    name: 'unlabelled pod in audit mode',
    policy: POLICY,
    config: withParams({}, 'audit'),
    object: unlabelledPod,
    expect: 'audited',
    reasons: ['missingLabel'],
  },
  {
    name: 'unlabelled pod covered by an exception',
    policy: POLICY,
    config: {
      exceptions: [
        {
          name: 'migration-window',
          policies: [POLICY],
          namespace: NS,
          objectName: 'unlabelled',
          reason: 'labels arrive with release 42 (CHG-7)',
          expires: '2099-01-31',
        },
      ],
    },
    object: unlabelledPod,
    expect: 'excepted',
    reasons: ['missingLabel'],
  },
];
