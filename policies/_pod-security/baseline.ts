/**
 * The Pod Security Standards "baseline" checks, with the semantics of Pod Security Admission
 * v1.37 (kubernetes/pod-security-admission `policy/check_*.go`; the ids are upstream's check ids).
 * Baseline blocks known privilege escalations while leaving a default container alone.
 */
import type { Finding } from '../../src/engine/policy.js';
import { isRecord, type Segment } from '../../src/engine/paths.js';
import type { ContainerView } from '../../src/engine/pod-spec.js';
import {
  containerLabel,
  containerScPath,
  containerSecurityContext,
  finding,
  isSet,
  podScPath,
  podSecurityContext,
  quote,
  quoteAll,
  type Check,
  type PodUnderCheck,
} from './pod.js';

/** Capabilities a container runtime grants by default (check_capabilities_baseline.go). */
export const DEFAULT_CAPABILITIES: ReadonlySet<string> = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

/** Namespaced sysctls that are safe to set (check_sysctls.go, policy version 1.37). */
export const SAFE_SYSCTLS: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports', // 1.27
  'net.ipv4.tcp_keepalive_time', // 1.29
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem', // 1.32
  'net.ipv4.tcp_wmem',
  'net.ipv4.tcp_slow_start_after_idle', // 1.37
  'net.ipv4.tcp_notsent_lowat',
];

/** SELinux types a container may use (check_seLinuxOptions.go; container_engine_t since 1.31). */
export const SELINUX_TYPES: readonly string[] = [
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
];

const VALID_SECCOMP = new Set(['RuntimeDefault', 'Localhost']);
const VALID_APPARMOR_TYPES = new Set(['RuntimeDefault', 'Localhost']);
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

/** True for a seccomp profile type that keeps a syscall filter (RuntimeDefault or Localhost). */
export function validSeccompType(type: unknown): boolean {
  return typeof type === 'string' && VALID_SECCOMP.has(type);
}

/** The values of a list field, or none when it is not a list (shape.ts reports that). */
function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A securityContext, who sets it (`pod` or `container "x"`) and the path of its fields. */
interface Setter {
  who: string;
  sc: Record<string, unknown>;
  at: (...fields: Segment[]) => Segment[];
}

/** The pod's and every container's securityContext, for checks that read both levels. */
function setters(pod: PodUnderCheck): Setter[] {
  const out: Setter[] = [];
  const podSc = podSecurityContext(pod);
  if (podSc) out.push({ who: 'pod', sc: podSc, at: (...f) => podScPath(pod, ...f) });
  for (const c of pod.containers) {
    const sc = containerSecurityContext(c);
    if (sc) out.push({ who: containerLabel(c), sc, at: (...f) => containerScPath(c, ...f) });
  }
  return out;
}

/*
 * privileged: privileged containers disable most isolation.
 * Fields: every container's securityContext.privileged. Allowed: unset, false.
 */
const privileged: Check = {
  id: 'privileged',
  level: 'baseline',
  run: (pod) =>
    pod.containers
      .filter((c) => containerSecurityContext(c)?.privileged === true)
      .map((c) =>
        finding(
          'privileged',
          containerScPath(c, 'privileged'),
          `${containerLabel(c)} must not set securityContext.privileged=true`,
          'remove securityContext.privileged or set it to false',
        ),
      ),
};

/*
 * hostNamespaces: sharing the node's network, PID or IPC namespace must be disallowed.
 * Fields: spec.hostNetwork, spec.hostPID, spec.hostIPC. Allowed: unset, false.
 */
const hostNamespaces: Check = {
  id: 'hostNamespaces',
  level: 'baseline',
  run: (pod) =>
    (['hostNetwork', 'hostPID', 'hostIPC'] as const)
      .filter((key) => pod.view.spec[key] === true)
      .map((key) =>
        finding(
          'hostNamespaces',
          [...pod.view.specPath, key],
          `pod must not set ${key}=true`,
          `remove ${key} or set it to false`,
        ),
      ),
};

/*
 * hostPathVolumes: hostPath volumes expose the node's filesystem.
 * Fields: spec.volumes[*].hostPath. Allowed: unset. (Restricted replaces this check with
 * restrictedVolumes, which forbids hostPath among others.)
 */
const hostPathVolumes: Check = {
  id: 'hostPathVolumes',
  level: 'baseline',
  run: (pod) =>
    listOf(pod.view.spec.volumes).flatMap((v, i) =>
      isRecord(v) && isSet(v.hostPath)
        ? [
            finding(
              'hostPathVolumes',
              [...pod.view.specPath, 'volumes', i, 'hostPath'],
              `volume ${quote(v.name)} must not use hostPath`,
              'use a persistentVolumeClaim, configMap, secret or emptyDir volume instead',
            ),
          ]
        : [],
    ),
};

/*
 * hostPorts: host ports bind the node's network interfaces.
 * Fields: every container's ports[*].hostPort. Allowed: unset, 0.
 */
const hostPorts: Check = {
  id: 'hostPorts',
  level: 'baseline',
  run: (pod) =>
    pod.containers.flatMap((c) =>
      listOf(c.container.ports).flatMap((p, i) =>
        isRecord(p) && isSet(p.hostPort) && p.hostPort !== 0
          ? [
              finding(
                'hostPorts',
                [...c.path, 'ports', i, 'hostPort'],
                `${containerLabel(c)} must not use hostPort ${quote(p.hostPort)}`,
                'remove hostPort and reach the port through a Service',
              ),
            ]
          : [],
      ),
    ),
};

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
const LIFECYCLE_HOOKS = ['postStart', 'preStop'] as const;
const HANDLERS = ['httpGet', 'tcpSocket'] as const;

function handlerHosts(c: ContainerView, handler: unknown, at: Segment[]): Finding[] {
  if (!isRecord(handler)) return [];
  return HANDLERS.flatMap((kind) => {
    const host = (isRecord(handler[kind]) ? handler[kind] : {}).host;
    if (!isSet(host) || host === '') return [];
    return [
      finding(
        'hostProbesAndHostLifecycle',
        [...at, kind, 'host'],
        `${containerLabel(c)} must not use probe or lifecycle host ${quote(host)}`,
        'remove host: the kubelet then connects to the pod IP',
      ),
    ];
  });
}

/*
 * hostProbesAndHostLifecycle (v1.34+): a probe or lifecycle handler with a `host` lets the kubelet
 * be pointed at any address, including the node's own services.
 * Fields: every container's {liveness,readiness,startup}Probe and lifecycle.{postStart,preStop},
 * {httpGet,tcpSocket}.host. Allowed: unset, "".
 */
const hostProbesAndHostLifecycle: Check = {
  id: 'hostProbesAndHostLifecycle',
  level: 'baseline',
  run: (pod) =>
    pod.containers.flatMap((c) => {
      const lifecycle = isRecord(c.container.lifecycle) ? c.container.lifecycle : {};
      return [
        ...PROBES.flatMap((p) => handlerHosts(c, c.container[p], [...c.path, p])),
        ...LIFECYCLE_HOOKS.flatMap((h) =>
          handlerHosts(c, lifecycle[h], [...c.path, 'lifecycle', h]),
        ),
      ];
    }),
};

/** Names a capability the way the runtime would accept it, for a hint in the fix. */
function canonicalCapability(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const upper = name.toUpperCase().replace(/^CAP_/, '');
  return upper !== name ? upper : undefined;
}

/*
 * capabilities_baseline: adding capabilities beyond the runtime's default set must be disallowed.
 * Fields: every container's securityContext.capabilities.add. Allowed: unset, or names from
 * DEFAULT_CAPABILITIES. Names compare literally, as upstream does: "chown" and "CAP_CHOWN" are
 * not "CHOWN" and are denied.
 */
const capabilitiesBaseline: Check = {
  id: 'capabilities_baseline',
  level: 'baseline',
  run: (pod) =>
    pod.containers.flatMap((c) => {
      const add = listOf(getCaps(c)?.add);
      const bad = add.filter((cap) => typeof cap !== 'string' || !DEFAULT_CAPABILITIES.has(cap));
      if (bad.length === 0) return [];
      const hints = bad
        .map(canonicalCapability)
        .filter((h) => h !== undefined && DEFAULT_CAPABILITIES.has(h));
      const hint =
        hints.length > 0 ? ` (names are upper case without CAP_, e.g. ${quoteAll(hints)})` : '';
      return [
        finding(
          'capabilities_baseline',
          containerScPath(c, 'capabilities', 'add'),
          `${containerLabel(c)} must not include ${quoteAll(bad)} ` +
            'in securityContext.capabilities.add',
          `add only capabilities of the default set${hint}: ` +
            [...DEFAULT_CAPABILITIES].join(', '),
        ),
      ];
    }),
};

/** A container's `securityContext.capabilities` when it is an object. */
export function getCaps(c: ContainerView): Record<string, unknown> | undefined {
  const caps = containerSecurityContext(c)?.capabilities;
  return isRecord(caps) ? caps : undefined;
}

function allowedAppArmorAnnotation(value: unknown): boolean {
  return (
    value === '' ||
    value === 'runtime/default' ||
    (typeof value === 'string' && value.startsWith('localhost/'))
  );
}

/*
 * appArmorProfile: the default AppArmor profile must not be disabled.
 * Fields: metadata.annotations["container.apparmor.security.beta.kubernetes.io/*"] (allowed:
 * "", runtime/default, localhost/*) and securityContext.appArmorProfile.type of the pod and of
 * every container (allowed: unset, RuntimeDefault, Localhost).
 */
const appArmorProfile: Check = {
  id: 'appArmorProfile',
  level: 'baseline',
  run: (pod) => {
    const fields = setters(pod).flatMap(({ who, sc, at }) => {
      if (!isSet(sc.appArmorProfile)) return [];
      const type = isRecord(sc.appArmorProfile) ? sc.appArmorProfile.type : undefined;
      if (typeof type === 'string' && VALID_APPARMOR_TYPES.has(type)) return [];
      return [
        finding(
          'appArmorProfile',
          at('appArmorProfile', 'type'),
          `${who} must not set AppArmor profile type to ${quote(type ?? '')}`,
          'set appArmorProfile.type to RuntimeDefault or Localhost, or remove appArmorProfile',
        ),
      ];
    });
    const annotations = isRecord(pod.view.meta.annotations) ? pod.view.meta.annotations : {};
    const bad = Object.keys(annotations)
      .filter(
        (k) =>
          k.startsWith(APPARMOR_ANNOTATION_PREFIX) && !allowedAppArmorAnnotation(annotations[k]),
      )
      .sort()
      .map((k) =>
        finding(
          'appArmorProfile',
          [...pod.view.metaPath, 'annotations', k],
          `annotation ${k} must not set AppArmor profile ${quote(annotations[k])}`,
          'set it to "runtime/default" or "localhost/<profile>", or remove it',
        ),
      );
    return [...fields, ...bad];
  },
};

function seLinuxFindings(
  who: string,
  options: Record<string, unknown>,
  at: (...s: Segment[]) => Segment[],
): Finding[] {
  const out: Finding[] = [];
  const type = options.type;
  if (isSet(type) && type !== '' && !(typeof type === 'string' && SELINUX_TYPES.includes(type))) {
    out.push(
      finding(
        'seLinuxOptions',
        at('seLinuxOptions', 'type'),
        `${who} must not set securityContext.seLinuxOptions.type to ${quote(type)}`,
        `remove seLinuxOptions.type or set it to one of ${SELINUX_TYPES.join(', ')}`,
      ),
    );
  }
  for (const key of ['user', 'role'] as const) {
    if (!isSet(options[key]) || options[key] === '') continue;
    out.push(
      finding(
        'seLinuxOptions',
        at('seLinuxOptions', key),
        `${who} must not set securityContext.seLinuxOptions.${key}`,
        `remove seLinuxOptions.${key}`,
      ),
    );
  }
  return out;
}

/*
 * seLinuxOptions: custom SELinux users and roles, and types other than the container ones, must
 * be disallowed. Fields: securityContext.seLinuxOptions.{type,user,role} of the pod and of every
 * container. Allowed: type unset, "" or one of SELINUX_TYPES; user and role unset or "".
 */
const seLinuxOptions: Check = {
  id: 'seLinuxOptions',
  level: 'baseline',
  run: (pod) =>
    setters(pod).flatMap(({ who, sc, at }) =>
      isRecord(sc.seLinuxOptions) ? seLinuxFindings(who, sc.seLinuxOptions, at) : [],
    ),
};

/** Containers that set a procMount other than Default (shared by procMount_restricted). */
export function unmaskedProcMounts(pod: PodUnderCheck, id: string, fix: string): Finding[] {
  return pod.containers.flatMap((c) => {
    const procMount = containerSecurityContext(c)?.procMount;
    if (!isSet(procMount) || procMount === 'Default') return [];
    return [
      finding(
        id,
        containerScPath(c, 'procMount'),
        `${containerLabel(c)} must not set securityContext.procMount to ${quote(procMount)}`,
        fix,
      ),
    ];
  });
}

/*
 * procMount: the default /proc masks reduce the kernel surface a container sees.
 * Fields: every container's securityContext.procMount. Allowed: unset, Default; any value when
 * the pod runs in a user namespace (hostUsers: false, policy version 1.35+).
 */
const procMount: Check = {
  id: 'procMount',
  level: 'baseline',
  run: (pod) =>
    pod.userNamespace
      ? []
      : unmaskedProcMounts(
          pod,
          'procMount',
          'remove procMount or set it to Default ' +
            '(Unmasked needs a user namespace: hostUsers: false)',
        ),
};

/** Pod and containers that set a seccompProfile.type other than RuntimeDefault or Localhost. */
export function badSeccompSetters(pod: PodUnderCheck, id: string): Finding[] {
  return setters(pod).flatMap(({ who, sc, at }) => {
    if (!isSet(sc.seccompProfile)) return [];
    const type = isRecord(sc.seccompProfile) ? sc.seccompProfile.type : undefined;
    if (validSeccompType(type)) return [];
    return [
      finding(
        id,
        at('seccompProfile', 'type'),
        `${who} must not set securityContext.seccompProfile.type to ${quote(type ?? '')}`,
        'set seccompProfile.type to RuntimeDefault or Localhost',
      ),
    ];
  });
}

/*
 * seccompProfile_baseline: the syscall filter must not be turned off.
 * Fields: securityContext.seccompProfile.type of the pod and of every container. Allowed: unset
 * seccompProfile, RuntimeDefault, Localhost.
 */
const seccompProfileBaseline: Check = {
  id: 'seccompProfile_baseline',
  level: 'baseline',
  run: (pod) => badSeccompSetters(pod, 'seccompProfile_baseline'),
};

/*
 * sysctls: only namespaced sysctls that cannot affect other pods may be set.
 * Fields: spec.securityContext.sysctls[*].name. Allowed: SAFE_SYSCTLS.
 */
const sysctls: Check = {
  id: 'sysctls',
  level: 'baseline',
  run: (pod) =>
    listOf(podSecurityContext(pod)?.sysctls).flatMap((s, i) => {
      const name = isRecord(s) ? s.name : undefined;
      if (typeof name === 'string' && SAFE_SYSCTLS.includes(name)) return [];
      return [
        finding(
          'sysctls',
          podScPath(pod, 'sysctls', i, 'name'),
          `pod must not set sysctl ${quote(name ?? '')}`,
          `remove it; the safe sysctls are ${SAFE_SYSCTLS.join(', ')}`,
        ),
      ];
    }),
};

/*
 * windowsHostProcess: a Windows HostProcess container has full access to the node.
 * Fields: securityContext.windowsOptions.hostProcess of the pod and of every container.
 * Allowed: unset, false.
 */
const windowsHostProcess: Check = {
  id: 'windowsHostProcess',
  level: 'baseline',
  run: (pod) =>
    setters(pod).flatMap(({ who, sc, at }) =>
      isRecord(sc.windowsOptions) && sc.windowsOptions.hostProcess === true
        ? [
            finding(
              'windowsHostProcess',
              at('windowsOptions', 'hostProcess'),
              `${who} must not set securityContext.windowsOptions.hostProcess=true`,
              'remove windowsOptions.hostProcess or set it to false',
            ),
          ]
        : [],
    ),
};

/** Every baseline check, in upstream's documentation order. */
export const BASELINE_CHECKS: readonly Check[] = [
  hostNamespaces,
  privileged,
  capabilitiesBaseline,
  hostPathVolumes,
  hostPorts,
  hostProbesAndHostLifecycle,
  appArmorProfile,
  seLinuxOptions,
  procMount,
  seccompProfileBaseline,
  sysctls,
  windowsHostProcess,
];
