/**
 * Cases for policies/trusted-images.ts: registries compared by parsed host, tags, digests,
 * every container list and pod controller, and the engine's modes and exceptions.
 */
import type { KubeObject } from '../../src/engine/policy.js';
import type { PolicyCase } from './types.js';

const POLICY = 'trusted-images';
const NS = 'clinic';
const DIGEST = 'sha256:' + '4f'.repeat(32);

/** A container named `name` running `image`. */
function ctr(name: string, image?: string): Record<string, unknown> {
  return image === undefined ? { name } : { name, image };
}

function pod(name: string, spec: Record<string, unknown>, namespace = NS): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec };
}

function deployment(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec },
    },
  };
}

function cronJob(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS },
    spec: {
      schedule: '0 * * * *',
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', ...spec } } } },
    },
  };
}

/** Config with trusted-images params (and mode) set. */
function withParams(
  params: Record<string, unknown>,
  mode?: 'warn' | 'audit',
): PolicyCase['config'] {
  return { policies: { [POLICY]: { ...(mode ? { mode } : {}), params } } };
}

const trustedPod = pod('trusted', { containers: [ctr('app', 'registry.k8s.io/pause:3.10')] });
const hubPod = pod('hub', { containers: [ctr('app', 'nginx:1.27')] });

/** The pod before `kubectl debug` added an ephemeral container. */
function debugged(
  existingImage: string,
  debugImage: string,
): Pick<PolicyCase, 'object' | 'request'> {
  const before = pod('debugged', { containers: [ctr('app', existingImage)] });
  const after = pod('debugged', {
    containers: [ctr('app', existingImage)],
    ephemeralContainers: [ctr('debugger', debugImage)],
  });
  return {
    object: after,
    request: { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before },
  };
}

export const cases: PolicyCase[] = [
  {
    name: 'pod image from the default allowed registry with a version tag',
    policy: POLICY,
    object: trustedPod,
    expect: 'allowed',
  },
  {
    name: 'pod image is a Docker Hub short name (docker.io not allowed by default)',
    policy: POLICY,
    object: hubPod,
    expect: 'denied',
    reasons: ['untrustedRegistry'],
    messageIncludes: [
      '[trusted-images] Pod clinic/hub: spec.containers[0].image: container "app" image "nginx:1.27"',
      'registry "docker.io" (repository "library/nginx")',
      'add "docker.io/library/nginx" or "docker.io" to trusted-images params.allowedRegistries',
    ],
  },
  {
    name: 'image registry only shares a string prefix with an allowed one',
    policy: POLICY,
    object: pod('lookalike', {
      containers: [ctr('app', 'registry.k8s.io.evil.example/pause:3.10')],
    }),
    expect: 'denied',
    reasons: ['untrustedRegistry'],
    messageIncludes: ['registry "registry.k8s.io.evil.example"'],
  },
  {
    name: 'image under an allowed organisation of a shared registry',
    policy: POLICY,
    config: withParams({ allowedRegistries: ['ghcr.io/acme/*'] }),
    object: pod('acme', { containers: [ctr('api', 'ghcr.io/acme/records/api:2.4.1')] }),
    expect: 'allowed',
  },
  {
    name: 'image under another organisation of a shared registry',
    policy: POLICY,
    config: withParams({ allowedRegistries: ['ghcr.io/acme/*'] }),
    object: pod('other-org', { containers: [ctr('api', 'ghcr.io/someone/api:2.4.1')] }),
    expect: 'denied',
    reasons: ['untrustedRegistry'],
    messageIncludes: ['registry "ghcr.io" (repository "someone/api")'],
  },
  {
    name: 'registry with the allowed port',
    policy: POLICY,
    config: withParams({ allowedRegistries: ['registry.internal:5000'] }),
    object: pod('port-ok', { containers: [ctr('app', 'registry.internal:5000/billing/app:7')] }),
    expect: 'allowed',
  },
  {
    name: 'registry with another port than the allowed one',
    policy: POLICY,
    config: withParams({ allowedRegistries: ['registry.internal:5000'] }),
    object: pod('port-other', { containers: [ctr('app', 'registry.internal:5001/billing/app:7')] }),
    expect: 'denied',
    reasons: ['untrustedRegistry'],
    messageIncludes: ['registry "registry.internal:5001"'],
  },
  {
    name: 'IPv6 registry literal that is allowed',
    policy: POLICY,
    config: withParams({ allowedRegistries: ['[fd00::10]:5000'] }),
    object: pod('ipv6', { containers: [ctr('app', '[fd00::10]:5000/app:1')] }),
    expect: 'allowed',
  },
  {
    name: 'allowed registry glob over account-specific ECR hosts',
    policy: POLICY,
    config: withParams({ allowedRegistries: ['123456789012.dkr.ecr.*.amazonaws.com'] }),
    object: pod('ecr', {
      containers: [ctr('app', '123456789012.dkr.ecr.us-east-1.amazonaws.com/app:3')],
    }),
    expect: 'allowed',
  },
  {
    name: 'image uses the latest tag',
    policy: POLICY,
    object: pod('latest', { containers: [ctr('app', 'registry.k8s.io/pause:latest')] }),
    expect: 'denied',
    reasons: ['latestTag'],
    messageIncludes: [
      'container "app" image "registry.k8s.io/pause:latest" uses the mutable tag "latest"; ' +
        'pin a version tag (e.g. registry.k8s.io/pause:1.2.3)',
    ],
  },
  {
    name: 'image on a registry with a port has neither tag nor digest',
    policy: POLICY,
    config: withParams({ allowedRegistries: ['localhost:5000'] }),
    object: pod('untagged-port', { containers: [ctr('app', 'localhost:5000/team/app')] }),
    expect: 'denied',
    reasons: ['missingTag'],
    messageIncludes: ['pin a version tag (e.g. localhost:5000/team/app:1.2.3)'],
  },
  {
    name: 'image has neither tag nor digest',
    policy: POLICY,
    object: pod('untagged', { containers: [ctr('app', 'registry.k8s.io/pause')] }),
    expect: 'denied',
    reasons: ['missingTag'],
    messageIncludes: ['has no tag or digest (pulls :latest)'],
  },
  {
    name: 'image pinned by digest only',
    policy: POLICY,
    object: pod('digest', { containers: [ctr('app', `registry.k8s.io/pause@${DIGEST}`)] }),
    expect: 'allowed',
  },
  {
    name: 'image tagged latest but pinned by digest',
    policy: POLICY,
    object: pod('latest-digest', {
      containers: [ctr('app', `registry.k8s.io/pause:latest@${DIGEST}`)],
    }),
    expect: 'allowed',
  },
  {
    name: 'latest tag with denyLatest off',
    policy: POLICY,
    config: withParams({ denyLatest: false }),
    object: pod('latest-ok', { containers: [ctr('app', 'registry.k8s.io/pause:latest')] }),
    expect: 'allowed',
  },
  {
    name: 'image reference with an upper-case repository',
    policy: POLICY,
    object: pod('upper', { containers: [ctr('app', 'registry.k8s.io/Pause:3.10')] }),
    expect: 'denied',
    reasons: ['invalidImage'],
    messageIncludes: ['is not a valid reference: repository "Pause" must be lower-case'],
  },
  {
    name: 'image digest with an unsupported algorithm',
    policy: POLICY,
    object: pod('md5', { containers: [ctr('app', `registry.k8s.io/pause@md5:${'a'.repeat(32)}`)] }),
    expect: 'denied',
    reasons: ['invalidImage'],
    messageIncludes: ['digest algorithm "md5" is not supported'],
  },
  {
    name: 'container names no image',
    policy: POLICY,
    object: pod('no-image', { containers: [ctr('app')] }),
    expect: 'denied',
    reasons: ['invalidImage'],
    messageIncludes: ['container "app" names no image'],
  },
  {
    name: 'deployment init container from an untrusted registry',
    policy: POLICY,
    object: deployment('web', {
      initContainers: [ctr('migrate', 'quay.io/acme/migrate:1')],
      containers: [ctr('app', 'registry.k8s.io/pause:3.10')],
    }),
    expect: 'denied',
    reasons: ['untrustedRegistry'],
    messageIncludes: [
      'spec.template.spec.initContainers[0].image: init container "migrate"',
      'registry "quay.io"',
    ],
  },
  {
    name: 'cronjob container without a tag from an untrusted registry',
    policy: POLICY,
    object: cronJob('report', { containers: [ctr('report', 'busybox')] }),
    expect: 'denied',
    reasons: ['untrustedRegistry', 'missingTag'],
    messageIncludes: [
      'spec.jobTemplate.spec.template.spec.containers[0].image: container "report"',
    ],
  },
  {
    name: 'image volume from an untrusted registry',
    policy: POLICY,
    object: pod('models', {
      containers: [ctr('app', 'registry.k8s.io/pause:3.10')],
      volumes: [{ name: 'weights', image: { reference: 'docker.io/acme/weights:1' } }],
    }),
    expect: 'denied',
    reasons: ['untrustedRegistry'],
    messageIncludes: ['spec.volumes[0].image.reference: image volume "weights"'],
  },
  {
    name: 'kubectl debug adds an ephemeral container from an untrusted registry',
    policy: POLICY,
    ...debugged('registry.k8s.io/pause:3.10', 'busybox:1.36'),
    expect: 'denied',
    reasons: ['untrustedRegistry'],
    messageIncludes: ['spec.ephemeralContainers[0].image: ephemeral container "debugger"'],
    offline: false,
  },
  {
    name: 'kubectl debug with a trusted image on a pod whose old container is untrusted',
    policy: POLICY,
    ...debugged('nginx:1.27', 'registry.k8s.io/e2e-test-images/agnhost:2.53'),
    expect: 'warned',
    reasons: ['untrustedRegistry'],
    messageIncludes: ['already present before this update'],
    offline: false,
  },
  {
    name: 'tag-only image in a namespace that requires digests',
    policy: POLICY,
    config: withParams({ requireDigest: { namespaces: ['phi-*'] } }),
    object: pod(
      'records',
      { containers: [ctr('app', 'registry.k8s.io/pause:3.10')] },
      'phi-records',
    ),
    expect: 'denied',
    reasons: ['digestRequired'],
    messageIncludes: ['is not pinned by digest'],
  },
  {
    name: 'tag-only image in a namespace outside requireDigest',
    policy: POLICY,
    config: withParams({ requireDigest: { namespaces: ['phi-*'] } }),
    object: trustedPod,
    expect: 'allowed',
  },
  {
    name: 'untrusted image in warn mode',
    policy: POLICY,
    config: withParams({}, 'warn'),
    object: hubPod,
    expect: 'warned',
    reasons: ['untrustedRegistry'],
    messageIncludes: ['(warn mode: not denied yet)'],
  },
  {
    name: 'untrusted image in audit mode',
    policy: POLICY,
    config: withParams({}, 'audit'),
    object: hubPod,
    expect: 'audited',
    reasons: ['untrustedRegistry'],
  },
  {
    name: 'untrusted image covered by an exception',
    policy: POLICY,
    config: {
      exceptions: [
        {
          name: 'vendor-nginx',
          policies: [POLICY],
          namespace: NS,
          kind: 'Pod',
          objectName: 'hub',
          reason: 'vendor appliance, mirrored by SEC-42',
          expires: '2099-12-31',
        },
      ],
    },
    object: hubPod,
    expect: 'excepted',
    reasons: ['untrustedRegistry'],
  },
];
