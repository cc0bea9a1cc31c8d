/**
 * The Pod Security Standards "restricted" checks, with the semantics of Pod Security Admission
 * v1.37 (kubernetes/pod-security-admission `policy/check_*.go`; the ids are upstream's check ids).
 * Restricted is baseline, minus the baseline checks named in `overrides`, plus these.
 *
 * Windows pods (`spec.os.name: windows`) are exempt from allowPrivilegeEscalation,
 * capabilities_restricted and seccompProfile_restricted since policy version 1.25: the API server
 * forbids those Linux-only fields on Windows pods, so they could never comply.
 */
import type { Finding } from '../../src/engine/policy.js';
import { isRecord } from '../../src/engine/paths.js';
import type { ContainerView } from '../../src/engine/pod-spec.js';
import { badSeccompSetters, getCaps, unmaskedProcMounts } from './baseline.js';
import {
  containerLabel,
  containerScPath,
  containerSecurityContext,
  containersLabel,
  finding,
  isSet,
  podScPath,
  podSecurityContext,
  quote,
  quoteAll,
  type Check,
  type PodUnderCheck,
} from './pod.js';

/** Inline volume sources restricted allows (check_restrictedVolumes.go; `image` since 1.33). */
export const ALLOWED_VOLUME_TYPES: readonly string[] = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'image',
  'persistentVolumeClaim',
  'projected',
  'secret',
];

/** The other volume sources of the core API, named in findings. */
const RESTRICTED_VOLUME_TYPES: readonly string[] = [
  'hostPath',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'nfs',
  'iscsi',
  'glusterfs',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'fc',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'portworxVolume',
  'scaleIO',
  'storageos',
];

/**
 * The restricted source a volume uses, `unknown` for a source this list does not know, or
 * undefined when the volume is allowed. A volume with no source at all is allowed: the API server
 * defaults it to `emptyDir` (SetDefaults_Volume in pkg/apis/core/v1/defaults.go), which is what
 * PSA then sees, and `phi-guard check` reads files before any defaulting.
 */
function restrictedSource(volume: Record<string, unknown>): string | undefined {
  if (ALLOWED_VOLUME_TYPES.some((t) => isSet(volume[t]))) return undefined;
  const known = RESTRICTED_VOLUME_TYPES.find((t) => isSet(volume[t]));
  if (known) return known;
  const other = Object.keys(volume).some((k) => k !== 'name' && isSet(volume[k]));
  return other ? 'unknown' : undefined;
}

/*
 * restrictedVolumes: only volume types that cannot reach node or network storage directly.
 * Fields: spec.volumes[*]. Allowed: ALLOWED_VOLUME_TYPES (persistent storage goes through a
 * persistentVolumeClaim). Overrides baseline hostPathVolumes.
 */
const restrictedVolumes: Check = {
  id: 'restrictedVolumes',
  level: 'restricted',
  overrides: ['hostPathVolumes'],
  run: (pod) => {
    const volumes = Array.isArray(pod.view.spec.volumes) ? pod.view.spec.volumes : [];
    return volumes.flatMap((v: unknown, i) => {
      const type = isRecord(v) ? restrictedSource(v) : undefined;
      if (!isRecord(v) || type === undefined) return [];
      const at = [...pod.view.specPath, 'volumes', i, ...(type === 'unknown' ? [] : [type])];
      return [
        finding(
          'restrictedVolumes',
          at,
          `volume ${quote(v.name)} must not use restricted volume type ${quote(type)}`,
          `use only ${ALLOWED_VOLUME_TYPES.join(', ')} volumes ` +
            '(storage goes through a persistentVolumeClaim)',
        ),
      ];
    });
  },
};

/*
 * allowPrivilegeEscalation: setuid binaries and file capabilities must not raise privileges.
 * Fields: every container's securityContext.allowPrivilegeEscalation. Allowed: false (unset
 * means true). Windows pods are exempt.
 */
const allowPrivilegeEscalation: Check = {
  id: 'allowPrivilegeEscalation',
  level: 'restricted',
  run: (pod) =>
    pod.windows
      ? []
      : pod.containers
          .filter((c) => containerSecurityContext(c)?.allowPrivilegeEscalation !== false)
          .map((c) => {
            const value = containerSecurityContext(c)?.allowPrivilegeEscalation;
            const now = isSet(value) ? `it is ${quote(value)}` : 'it is unset, which means true';
            return finding(
              'allowPrivilegeEscalation',
              containerScPath(c, 'allowPrivilegeEscalation'),
              `${containerLabel(c)} must set ` +
                `securityContext.allowPrivilegeEscalation=false (${now})`,
              'set securityContext.allowPrivilegeEscalation: false',
            );
          }),
};

/**
 * The shared shape of runAsNonRoot and seccompProfile_restricted: the pod level sets a value that
 * every container inherits unless it sets its own; containers that set nothing while the pod sets
 * nothing valid fail together, reported once at the pod-level field.
 */
function inheritedRequirement(
  pod: PodUnderCheck,
  id: string,
  field: string,
  podSetsValid: boolean,
  required: string,
): Finding[] {
  if (podSetsValid) return [];
  const implicit = pod.containers.filter((c) => !isSet(containerSecurityContext(c)?.[field]));
  if (implicit.length === 0) return [];
  return [
    finding(
      id,
      podScPath(pod, field),
      `pod or ${containersLabel(implicit)} must set securityContext.${required}`,
      `set securityContext.${required} on the pod (every container inherits it) ` +
        'or on each container',
    ),
  ];
}

function explicitRunAsNonRoot(
  who: string,
  value: unknown,
  at: Parameters<typeof finding>[1],
): Finding[] {
  if (!isSet(value) || value === true) return [];
  return [
    finding(
      'runAsNonRoot',
      at,
      `${who} must not set securityContext.runAsNonRoot=${quote(value)}`,
      'set securityContext.runAsNonRoot: true (the image must then run as a non-zero user)',
    ),
  ];
}

/*
 * runAsNonRoot: containers must run as a non-root user.
 * Fields: securityContext.runAsNonRoot of the pod and of every container. Allowed: true at the
 * pod level, or true on every container; a container may not set false. Skipped for a pod in a
 * user namespace (hostUsers: false, policy version 1.35+). Applies to Windows pods too.
 */
const runAsNonRoot: Check = {
  id: 'runAsNonRoot',
  level: 'restricted',
  run: (pod) => {
    if (pod.userNamespace) return [];
    const podValue = podSecurityContext(pod)?.runAsNonRoot;
    const explicit = [
      ...explicitRunAsNonRoot('pod', podValue, podScPath(pod, 'runAsNonRoot')),
      ...pod.containers.flatMap((c) =>
        explicitRunAsNonRoot(
          containerLabel(c),
          containerSecurityContext(c)?.runAsNonRoot,
          containerScPath(c, 'runAsNonRoot'),
        ),
      ),
    ];
    // A pod that sets false is reported above, at the same field the implicit finding would use,
    // and setting it to true fixes both.
    const podCovers = isSet(podValue);
    return [
      ...explicit,
      ...inheritedRequirement(pod, 'runAsNonRoot', 'runAsNonRoot', podCovers, 'runAsNonRoot=true'),
    ];
  },
};

/*
 * runAsUser: containers must not run as user id 0.
 * Fields: securityContext.runAsUser of the pod and of every container. Allowed: unset, non-zero.
 * Skipped for a pod in a user namespace (hostUsers: false, policy version 1.35+).
 */
const runAsUser: Check = {
  id: 'runAsUser',
  level: 'restricted',
  run: (pod) => {
    if (pod.userNamespace) return [];
    const fix = 'remove runAsUser or set a non-zero user id';
    const podSets = podSecurityContext(pod)?.runAsUser === 0;
    return [
      ...(podSets
        ? [finding('runAsUser', podScPath(pod, 'runAsUser'), 'pod must not set runAsUser=0', fix)]
        : []),
      ...pod.containers
        .filter((c) => containerSecurityContext(c)?.runAsUser === 0)
        .map((c) =>
          finding(
            'runAsUser',
            containerScPath(c, 'runAsUser'),
            `${containerLabel(c)} must not set runAsUser=0`,
            fix,
          ),
        ),
    ];
  },
};

/*
 * seccompProfile_restricted: a syscall filter must be in place.
 * Fields: securityContext.seccompProfile.type of the pod and of every container. Allowed:
 * RuntimeDefault or Localhost, at the pod level or on every container. Windows pods are exempt.
 * Overrides seccompProfile_baseline.
 */
const seccompProfileRestricted: Check = {
  id: 'seccompProfile_restricted',
  level: 'restricted',
  overrides: ['seccompProfile_baseline'],
  run: (pod) => {
    if (pod.windows) return [];
    const explicit = badSeccompSetters(pod, 'seccompProfile_restricted');
    const podProfile = podSecurityContext(pod)?.seccompProfile;
    // A pod that sets an invalid profile is reported by `explicit`; its fix covers the containers.
    const podCovers = isSet(podProfile);
    const required = 'seccompProfile.type to "RuntimeDefault" or "Localhost"';
    return [
      ...explicit,
      ...inheritedRequirement(
        pod,
        'seccompProfile_restricted',
        'seccompProfile',
        podCovers,
        required,
      ),
    ];
  },
};

function dropsAll(c: ContainerView): boolean {
  const drop = getCaps(c)?.drop;
  return Array.isArray(drop) && drop.includes('ALL');
}

function capabilityFindings(c: ContainerView): Finding[] {
  const out: Finding[] = [];
  const caps = getCaps(c);
  if (!dropsAll(c)) {
    const drop = caps?.drop;
    const now = Array.isArray(drop)
      ? ` (it drops ${drop.length > 0 ? quoteAll(drop) : 'nothing'})`
      : '';
    out.push(
      finding(
        'capabilities_restricted',
        containerScPath(c, 'capabilities', 'drop'),
        `${containerLabel(c)} must set securityContext.capabilities.drop=["ALL"]${now}`,
        'add "ALL" to securityContext.capabilities.drop ' +
          '(and add back only NET_BIND_SERVICE if needed)',
      ),
    );
  }
  const add = Array.isArray(caps?.add) ? caps.add : [];
  const bad = add.filter((cap) => cap !== 'NET_BIND_SERVICE');
  if (bad.length > 0) {
    out.push(
      finding(
        'capabilities_restricted',
        containerScPath(c, 'capabilities', 'add'),
        `${containerLabel(c)} must not include ${quoteAll(bad)} ` +
          'in securityContext.capabilities.add',
        'remove them: restricted allows adding only NET_BIND_SERVICE',
      ),
    );
  }
  return out;
}

/*
 * capabilities_restricted: containers must drop every capability and may add back only
 * NET_BIND_SERVICE. Fields: every container's securityContext.capabilities.{drop,add}. Allowed:
 * drop contains "ALL" (literally, upper case); add unset or only NET_BIND_SERVICE. Windows pods
 * are exempt. Overrides capabilities_baseline.
 */
const capabilitiesRestricted: Check = {
  id: 'capabilities_restricted',
  level: 'restricted',
  overrides: ['capabilities_baseline'],
  run: (pod) => (pod.windows ? [] : pod.containers.flatMap(capabilityFindings)),
};

/*
 * procMount_restricted (v1.35+): restricted keeps the default /proc masks even in a user
 * namespace. Fields: every container's securityContext.procMount. Allowed: unset, Default.
 * Overrides baseline procMount.
 */
const procMountRestricted: Check = {
  id: 'procMount_restricted',
  level: 'restricted',
  overrides: ['procMount'],
  run: (pod) =>
    unmaskedProcMounts(
      pod,
      'procMount_restricted',
      'remove procMount or set it to Default (restricted allows no Unmasked /proc)',
    ),
};

/** Every restricted check, in upstream's documentation order. */
export const RESTRICTED_CHECKS: readonly Check[] = [
  restrictedVolumes,
  allowPrivilegeEscalation,
  runAsNonRoot,
  runAsUser,
  seccompProfileRestricted,
  capabilitiesRestricted,
  procMountRestricted,
];
