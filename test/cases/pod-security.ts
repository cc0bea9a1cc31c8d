/**
 * Cases for policies/pod-security.ts: every Pod Security check at its level, with the field path
 * and message it reports; Windows and user-namespace pods; pod controllers; malformed shapes; the
 * engine's modes, exceptions, pre-existing violations on UPDATE and `kubectl debug`.
 */
import type { KubeObject } from '../../src/engine/policy.js';
import type { Segment } from '../../src/engine/paths.js';
import {
  bareContainer,
  bareSpec,
  cronJob,
  deployment,
  edit,
  edits,
  IMAGE,
  pod,
  restrictedContainer,
  restrictedSpec,
  type Json,
} from '../fixtures/pods.js';
import type { PolicyCase } from './types.js';

const POLICY = 'pod-security';
const BASELINE = { policies: { [POLICY]: { params: { level: 'baseline' } } } };

type Change = readonly [readonly Segment[], unknown];

/** A Pod: the restricted spec with `changes` applied. */
function restrictedPod(...changes: Change[]): KubeObject {
  return pod(edits(restrictedSpec(), changes));
}

const app = (...rest: Segment[]): Segment[] => ['containers', 0, ...rest];
const appSc = (...rest: Segment[]): Segment[] => app('securityContext', ...rest);
const initSc = (...rest: Segment[]): Segment[] => ['initContainers', 0, 'securityContext', ...rest];
const podSc = (...rest: Segment[]): Segment[] => ['securityContext', ...rest];

/** A denial case at restricted with one reason and the texts its message must contain. */
function denied(name: string, object: KubeObject, reason: string, ...texts: string[]): PolicyCase {
  return {
    name,
    policy: POLICY,
    object,
    expect: 'denied',
    reasons: [reason],
    messageIncludes: texts,
  };
}

/** The same at baseline level. */
function deniedAtBaseline(
  name: string,
  object: KubeObject,
  reason: string,
  ...texts: string[]
): PolicyCase {
  return { ...denied(name, object, reason, ...texts), config: BASELINE };
}

function allowed(name: string, object: KubeObject, config?: PolicyCase['config']): PolicyCase {
  return { name, policy: POLICY, object, expect: 'allowed', ...(config ? { config } : {}) };
}

const windowsSpec = (): Json => ({
  os: { name: 'windows' },
  securityContext: { runAsNonRoot: true },
  containers: [bareContainer('app')],
});

const allowedCases: PolicyCase[] = [
  allowed('restricted pod sets every required field', pod(restrictedSpec())),
  allowed('Deployment template sets every required field', deployment(restrictedSpec())),
  allowed('CronJob job template sets every required field', cronJob(restrictedSpec())),
  allowed('Windows pod without the Linux-only fields', pod(windowsSpec())),
  // Upstream exempts Windows pods from capabilities_restricted, which overrides the baseline
  // check; the API server refuses capabilities on a Windows pod before admission anyway.
  allowed(
    'Windows pod adds NET_RAW',
    pod(edit(windowsSpec(), appSc('capabilities'), { add: ['NET_RAW'] })),
  ),
  allowed(
    'container adds only NET_BIND_SERVICE',
    restrictedPod([appSc('capabilities', 'add'), ['NET_BIND_SERVICE']]),
  ),
  allowed(
    'pod uses a Localhost seccomp profile',
    restrictedPod([
      podSc('seccompProfile'),
      { type: 'Localhost', localhostProfile: 'profiles/app.json' },
    ]),
  ),
  allowed(
    'every container sets runAsNonRoot and seccomp instead of the pod',
    restrictedPod(
      [podSc(), undefined],
      [appSc('runAsNonRoot'), true],
      [initSc('runAsNonRoot'), true],
      [appSc('seccompProfile'), { type: 'RuntimeDefault' }],
      [initSc('seccompProfile'), { type: 'Localhost', localhostProfile: 'p.json' }],
    ),
  ),
  allowed(
    'pod in a user namespace runs as user 0 without runAsNonRoot',
    restrictedPod(
      [['hostUsers'], false],
      [podSc('runAsNonRoot'), undefined],
      [podSc('runAsUser'), 0],
    ),
  ),
  allowed(
    'pod mounts image, csi, ephemeral and projected volumes',
    restrictedPod([
      ['volumes'],
      [
        { name: 'model', image: { reference: IMAGE } },
        { name: 'vault', csi: { driver: 'secrets-store.csi.k8s.io' } },
        { name: 'scratch', ephemeral: { volumeClaimTemplate: { spec: {} } } },
        { name: 'token', projected: { sources: [] } },
      ],
    ]),
  ),
  allowed(
    'volume without a source (the API server defaults it to emptyDir)',
    restrictedPod([['volumes'], [{ name: 'tmp' }]]),
  ),
  allowed(
    'pod sets the sysctls made safe in v1.37',
    restrictedPod([
      podSc('sysctls'),
      [
        { name: 'net.ipv4.tcp_notsent_lowat', value: '16384' },
        { name: 'net.ipv4.tcp_slow_start_after_idle', value: '0' },
      ],
    ]),
  ),
  allowed(
    'AppArmor annotation names a localhost profile and the field RuntimeDefault',
    pod(edit(restrictedSpec(), appSc('appArmorProfile'), { type: 'RuntimeDefault' }), {
      annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'localhost/clinic-app' },
    }),
  ),
  allowed(
    'container runs as SELinux type container_engine_t',
    restrictedPod([appSc('seLinuxOptions'), { type: 'container_engine_t' }]),
  ),
  allowed(
    'probe without host',
    restrictedPod([app('livenessProbe'), { httpGet: { path: '/healthz', port: 8080 } }]),
  ),
  allowed(
    'baseline level: root container adds default capability CHOWN',
    pod(edit(bareSpec(), appSc('capabilities', 'add'), ['CHOWN'])),
    BASELINE,
  ),
  allowed(
    'baseline level: Unmasked /proc in a user namespace',
    pod(
      edits(bareSpec(), [
        [['hostUsers'], false],
        [appSc('procMount'), 'Unmasked'],
      ]),
    ),
    BASELINE,
  ),
  allowed(
    'privileged pod in kube-system (excluded namespace)',
    pod(edit(bareSpec(), appSc('privileged'), true), { namespace: 'kube-system' }),
  ),
];

const baselineCases: PolicyCase[] = [
  denied(
    'container sets privileged true',
    restrictedPod([appSc('privileged'), true]),
    'privileged',
    'spec.containers[0].securityContext.privileged: container "app" must not set securityContext.privileged=true',
    'remove securityContext.privileged or set it to false',
  ),
  denied(
    'pod sets hostNetwork true',
    restrictedPod([['hostNetwork'], true]),
    'hostNamespaces',
    'spec.hostNetwork: pod must not set hostNetwork=true',
  ),
  denied(
    'pod sets hostPID true',
    restrictedPod([['hostPID'], true]),
    'hostNamespaces',
    'spec.hostPID: pod must not set hostPID=true',
  ),
  denied(
    'pod sets hostIPC true',
    restrictedPod([['hostIPC'], true]),
    'hostNamespaces',
    'spec.hostIPC: pod must not set hostIPC=true',
  ),
  deniedAtBaseline(
    'baseline level: pod mounts a hostPath volume',
    pod(edit(bareSpec(), ['volumes'], [{ name: 'logs', hostPath: { path: '/var/log' } }])),
    'hostPathVolumes',
    'spec.volumes[0].hostPath: volume "logs" must not use hostPath',
  ),
  denied(
    'init container sets hostPort 8080',
    restrictedPod([['initContainers', 0, 'ports'], [{ containerPort: 8080, hostPort: 8080 }]]),
    'hostPorts',
    'spec.initContainers[0].ports[0].hostPort: container "init" must not use hostPort 8080',
  ),
  denied(
    'liveness probe sets httpGet host',
    restrictedPod([app('livenessProbe'), { httpGet: { host: '169.254.169.254', port: 80 } }]),
    'hostProbesAndHostLifecycle',
    'spec.containers[0].livenessProbe.httpGet.host: container "app" must not use probe or lifecycle host "169.254.169.254"',
  ),
  denied(
    'postStart hook sets tcpSocket host',
    restrictedPod([app('lifecycle'), { postStart: { tcpSocket: { host: '::1', port: 22 } } }]),
    'hostProbesAndHostLifecycle',
    'spec.containers[0].lifecycle.postStart.tcpSocket.host',
  ),
  deniedAtBaseline(
    'baseline level: container adds NET_RAW',
    pod(edit(bareSpec(), appSc('capabilities', 'add'), ['NET_RAW'])),
    'capabilities_baseline',
    'spec.containers[0].securityContext.capabilities.add: container "app" must not include "NET_RAW" in securityContext.capabilities.add',
  ),
  deniedAtBaseline(
    'baseline level: container adds lower-case chown',
    pod(edit(bareSpec(), appSc('capabilities', 'add'), ['chown'])),
    'capabilities_baseline',
    'must not include "chown"',
    'e.g. "CHOWN"',
  ),
  deniedAtBaseline(
    'baseline level: container adds CAP_CHOWN',
    pod(edit(bareSpec(), appSc('capabilities', 'add'), ['CAP_CHOWN'])),
    'capabilities_baseline',
    'must not include "CAP_CHOWN"',
  ),
  denied(
    'AppArmor annotation sets unconfined',
    pod(restrictedSpec(), {
      annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'unconfined' },
    }),
    'appArmorProfile',
    'metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]: annotation container.apparmor.security.beta.kubernetes.io/app must not set AppArmor profile "unconfined"',
  ),
  denied(
    'pod sets appArmorProfile Unconfined',
    restrictedPod([podSc('appArmorProfile'), { type: 'Unconfined' }]),
    'appArmorProfile',
    'spec.securityContext.appArmorProfile.type: pod must not set AppArmor profile type to "Unconfined"',
  ),
  denied(
    'init container sets appArmorProfile Unconfined',
    restrictedPod([initSc('appArmorProfile'), { type: 'Unconfined' }]),
    'appArmorProfile',
    'spec.initContainers[0].securityContext.appArmorProfile.type: container "init"',
  ),
  denied(
    'pod sets SELinux type spc_t',
    restrictedPod([podSc('seLinuxOptions'), { type: 'spc_t' }]),
    'seLinuxOptions',
    'spec.securityContext.seLinuxOptions.type: pod must not set securityContext.seLinuxOptions.type to "spc_t"',
  ),
  denied(
    'container sets SELinux user and role',
    restrictedPod([appSc('seLinuxOptions'), { user: 'system_u', role: 'system_r' }]),
    'seLinuxOptions',
    'spec.containers[0].securityContext.seLinuxOptions.user: container "app" must not set securityContext.seLinuxOptions.user',
    'spec.containers[0].securityContext.seLinuxOptions.role',
  ),
  deniedAtBaseline(
    'baseline level: container sets procMount Unmasked on host users',
    pod(
      edits(bareSpec(), [
        [['hostUsers'], true],
        [appSc('procMount'), 'Unmasked'],
      ]),
    ),
    'procMount',
    'spec.containers[0].securityContext.procMount: container "app" must not set securityContext.procMount to "Unmasked"',
  ),
  deniedAtBaseline(
    'baseline level: container sets seccomp Unconfined',
    pod(edit(bareSpec(), appSc('seccompProfile'), { type: 'Unconfined' })),
    'seccompProfile_baseline',
    'spec.containers[0].securityContext.seccompProfile.type: container "app" must not set securityContext.seccompProfile.type to "Unconfined"',
  ),
  denied(
    'pod sets unsafe sysctl kernel.msgmax',
    restrictedPod([podSc('sysctls'), [{ name: 'kernel.msgmax', value: '65536' }]]),
    'sysctls',
    'spec.securityContext.sysctls[0].name: pod must not set sysctl "kernel.msgmax"',
  ),
  denied(
    'Windows pod sets hostProcess',
    pod(edits(windowsSpec(), [[podSc('windowsOptions'), { hostProcess: true }]])),
    'windowsHostProcess',
    'spec.securityContext.windowsOptions.hostProcess: pod must not set securityContext.windowsOptions.hostProcess=true',
  ),
];

const restrictedCases: PolicyCase[] = [
  denied(
    'pod mounts a hostPath volume',
    restrictedPod([['volumes'], [{ name: 'docker', hostPath: { path: '/var/run/docker.sock' } }]]),
    'restrictedVolumes',
    'spec.volumes[0].hostPath: volume "docker" must not use restricted volume type "hostPath"',
  ),
  denied(
    'pod mounts an nfs volume',
    restrictedPod([
      ['volumes'],
      [{ name: 'share', nfs: { server: 'nfs.example.com', path: '/x' } }],
    ]),
    'restrictedVolumes',
    'spec.volumes[0].nfs: volume "share" must not use restricted volume type "nfs"',
  ),
  denied(
    'container sets allowPrivilegeEscalation true',
    restrictedPod([appSc('allowPrivilegeEscalation'), true]),
    'allowPrivilegeEscalation',
    'spec.containers[0].securityContext.allowPrivilegeEscalation: container "app" must set securityContext.allowPrivilegeEscalation=false (it is true)',
  ),
  denied(
    'init container leaves allowPrivilegeEscalation unset',
    restrictedPod([initSc('allowPrivilegeEscalation'), undefined]),
    'allowPrivilegeEscalation',
    'spec.initContainers[0].securityContext.allowPrivilegeEscalation: container "init" must set securityContext.allowPrivilegeEscalation=false (it is unset',
  ),
  denied(
    'pod leaves runAsNonRoot unset',
    restrictedPod([podSc('runAsNonRoot'), undefined]),
    'runAsNonRoot',
    'spec.securityContext.runAsNonRoot: pod or containers "init", "app" must set securityContext.runAsNonRoot=true',
  ),
  denied(
    'pod sets runAsNonRoot false',
    restrictedPod([podSc('runAsNonRoot'), false]),
    'runAsNonRoot',
    'spec.securityContext.runAsNonRoot: pod must not set securityContext.runAsNonRoot=false',
  ),
  denied(
    'container sets runAsNonRoot false',
    restrictedPod([appSc('runAsNonRoot'), false]),
    'runAsNonRoot',
    'spec.containers[0].securityContext.runAsNonRoot: container "app" must not set securityContext.runAsNonRoot=false',
  ),
  denied(
    'pod sets runAsUser 0',
    restrictedPod([podSc('runAsUser'), 0]),
    'runAsUser',
    'spec.securityContext.runAsUser: pod must not set runAsUser=0',
  ),
  denied(
    'container sets runAsUser 0',
    restrictedPod([appSc('runAsUser'), 0]),
    'runAsUser',
    'spec.containers[0].securityContext.runAsUser: container "app" must not set runAsUser=0',
  ),
  denied(
    'init container sets runAsUser 0',
    restrictedPod([initSc('runAsUser'), 0]),
    'runAsUser',
    'spec.initContainers[0].securityContext.runAsUser: container "init" must not set runAsUser=0',
  ),
  denied(
    'pod and containers leave seccompProfile unset',
    restrictedPod([podSc('seccompProfile'), undefined]),
    'seccompProfile_restricted',
    'spec.securityContext.seccompProfile: pod or containers "init", "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
  ),
  denied(
    'container sets seccomp Unconfined',
    restrictedPod([appSc('seccompProfile'), { type: 'Unconfined' }]),
    'seccompProfile_restricted',
    'spec.containers[0].securityContext.seccompProfile.type: container "app" must not set securityContext.seccompProfile.type to "Unconfined"',
  ),
  denied(
    'container leaves capabilities unset',
    restrictedPod([appSc('capabilities'), undefined]),
    'capabilities_restricted',
    'spec.containers[0].securityContext.capabilities.drop: container "app" must set securityContext.capabilities.drop=["ALL"]',
  ),
  denied(
    'container drops NET_RAW but not ALL',
    restrictedPod([appSc('capabilities', 'drop'), ['NET_RAW']]),
    'capabilities_restricted',
    'must set securityContext.capabilities.drop=["ALL"] (it drops "NET_RAW")',
  ),
  denied(
    'container adds CHOWN',
    restrictedPod([appSc('capabilities', 'add'), ['CHOWN']]),
    'capabilities_restricted',
    'spec.containers[0].securityContext.capabilities.add: container "app" must not include "CHOWN" in securityContext.capabilities.add',
    'restricted allows adding only NET_BIND_SERVICE',
  ),
  denied(
    'container sets procMount Unmasked in a user namespace',
    restrictedPod([['hostUsers'], false], [appSc('procMount'), 'Unmasked']),
    'procMount_restricted',
    'spec.containers[0].securityContext.procMount: container "app" must not set securityContext.procMount to "Unmasked"',
  ),
  denied(
    'Windows pod leaves runAsNonRoot unset',
    pod(edit(windowsSpec(), podSc('runAsNonRoot'), undefined)),
    'runAsNonRoot',
    'pod or container "app" must set securityContext.runAsNonRoot=true',
  ),
  denied(
    'ephemeral container sets privileged true',
    restrictedPod([
      ['ephemeralContainers'],
      [
        restrictedContainer('debugger', {
          securityContext: {
            privileged: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
        }),
      ],
    ]),
    'privileged',
    'spec.ephemeralContainers[0].securityContext.privileged: container "debugger"',
  ),
  denied(
    'Deployment template leaves allowPrivilegeEscalation unset',
    deployment(edit(restrictedSpec(), appSc('allowPrivilegeEscalation'), undefined)),
    'allowPrivilegeEscalation',
    'Deployment clinic/web: spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation',
  ),
  denied(
    'CronJob job template sets hostPID true',
    cronJob(edit(restrictedSpec(), ['hostPID'], true)),
    'hostNamespaces',
    'CronJob clinic/web: spec.jobTemplate.spec.template.spec.hostPID: pod must not set hostPID=true',
  ),
];

const malformedCases: PolicyCase[] = [
  denied(
    'containers is a string instead of a list',
    restrictedPod([['containers'], 'app']),
    'invalidShape',
    'spec.containers: containers must be a list, found a string',
  ),
  {
    ...denied(
      'container securityContext is a string',
      restrictedPod([appSc(), 'restricted']),
      'invalidShape',
      'spec.containers[0].securityContext: container "app" securityContext must be an object, found a string',
    ),
    reasons: ['invalidShape', 'allowPrivilegeEscalation', 'capabilities_restricted'],
  },
  denied(
    'Deployment without a pod template spec',
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'clinic' },
      spec: { replicas: 1 },
    },
    'invalidShape',
    "spec.template.spec: the Deployment's pod spec is missing or not an object",
  ),
];

const privilegedPod = restrictedPod([appSc('privileged'), true]);
const exceptionFor = (expires: string): PolicyCase['config'] => ({
  exceptions: [
    {
      name: 'legacy-web',
      policies: [POLICY],
      namespace: 'clinic',
      kind: 'Pod',
      objectName: 'web',
      reason: 'vendor image; ticket SEC-1',
      expires,
    },
  ],
});

const modeCases: PolicyCase[] = [
  {
    name: 'warn mode: container sets privileged true',
    policy: POLICY,
    config: { policies: { [POLICY]: { mode: 'warn' } } },
    object: privilegedPod,
    expect: 'warned',
    reasons: ['privileged'],
    messageIncludes: [
      'container "app" must not set securityContext.privileged=true',
      '(warn mode: not denied yet)',
    ],
  },
  {
    name: 'audit mode: container sets privileged true',
    policy: POLICY,
    config: { policies: { [POLICY]: { mode: 'audit' } } },
    object: privilegedPod,
    expect: 'audited',
    reasons: ['privileged'],
  },
  {
    name: 'exception covers a privileged pod',
    policy: POLICY,
    config: exceptionFor('2999-12-31'),
    object: privilegedPod,
    expect: 'excepted',
    reasons: ['privileged'],
  },
  {
    name: 'expired exception does not cover a privileged pod',
    policy: POLICY,
    config: exceptionFor('2020-01-31'),
    object: privilegedPod,
    expect: 'denied',
    reasons: ['privileged'],
  },
];

const privilegedDeployment = deployment(edit(restrictedSpec(), appSc('privileged'), true));
const debugContainer = (sc: Json): Json => ({
  name: 'debugger-x7k2',
  image: IMAGE,
  targetContainerName: 'app',
  securityContext: sc,
});
const hardened = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

/** `kubectl debug`: an UPDATE of pods/ephemeralcontainers that adds one ephemeral container. */
function debugged(
  before: KubeObject,
  sc: Json,
): Pick<PolicyCase, 'object' | 'request' | 'offline'> {
  return {
    object: edit(before, ['spec', 'ephemeralContainers'], [debugContainer(sc)]),
    request: { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before },
    offline: false,
  };
}

const updateCases: PolicyCase[] = [
  {
    name: 'UPDATE relabels a Deployment that already ran privileged',
    policy: POLICY,
    object: edit(privilegedDeployment, ['metadata', 'labels'], { team: 'billing' }),
    request: { operation: 'UPDATE', oldObject: privilegedDeployment },
    offline: false,
    expect: 'warned',
    reasons: ['privileged'],
    messageIncludes: ['(already present before this update: not denied)'],
  },
  {
    name: 'UPDATE makes a Deployment privileged',
    policy: POLICY,
    object: privilegedDeployment,
    request: { operation: 'UPDATE', oldObject: deployment(restrictedSpec()) },
    offline: false,
    expect: 'denied',
    reasons: ['privileged'],
  },
  {
    name: 'kubectl debug adds a privileged ephemeral container',
    policy: POLICY,
    ...debugged(pod(restrictedSpec()), { ...hardened, privileged: true }),
    expect: 'denied',
    reasons: ['privileged'],
    messageIncludes: [
      'spec.ephemeralContainers[0].securityContext.privileged: container "debugger-x7k2"',
    ],
  },
  {
    name: 'kubectl debug adds a hardened ephemeral container',
    policy: POLICY,
    ...debugged(pod(restrictedSpec()), hardened),
    expect: 'allowed',
  },
  {
    name: 'kubectl debug adds a hardened ephemeral container to a pod that never set runAsNonRoot',
    policy: POLICY,
    ...debugged(pod(edit(restrictedSpec(), podSc('runAsNonRoot'), undefined)), hardened),
    expect: 'warned',
    reasons: ['runAsNonRoot'],
    messageIncludes: [
      'containers "init", "app", "debugger-x7k2" must set securityContext.runAsNonRoot=true',
    ],
  },
];

/** Every pod-security case. */
export const cases: PolicyCase[] = [
  ...allowedCases,
  ...baselineCases,
  ...restrictedCases,
  ...malformedCases,
  ...modeCases,
  ...updateCases,
];
