/**
 * The defaults pod-security fills in: what the restricted level demands and Kubernetes lets a
 * pod inherit, set where unset and never overriding (PRODUCT.md, Admission semantics).
 *
 * - pod `securityContext.runAsNonRoot: true` and `seccompProfile: {type: RuntimeDefault}`, unless
 *   every container sets its own (then the pod-level value would change nothing); where a
 *   container would inherit runAsNonRoot beside an explicit `runAsUser: 0`, it goes instead on
 *   each container that does not run as user 0;
 * - each container's `allowPrivilegeEscalation: false` and `capabilities.drop: [ALL]`, the latter
 *   only when `drop` is unset: a `drop` list without ALL is the author's choice, denied with a
 *   message instead of being rewritten.
 */
import type { PatchOperation } from '../../src/engine/policy.js';
import { addIfUnset, isRecord, toPointer, type Segment } from '../../src/engine/paths.js';
import {
  containersOf,
  isWindowsPod,
  mayPatchContainer,
  type ContainerView,
  type MutableScope,
  type PodSpecView,
} from '../../src/engine/pod-spec.js';
import { isSet } from './pod.js';

/** A field to add, relative to a securityContext, and its value. */
type Field = [Segment[], unknown];

/**
 * Container-level copies of the pod-level defaults, when the pod level cannot be patched (or, for
 * runAsNonRoot, cannot carry it because a container runs as user 0).
 */
interface Inherited {
  runAsNonRoot: boolean;
  seccompProfile: boolean;
}

const RUNTIME_DEFAULT = { type: 'RuntimeDefault' } as const;

function nest(fields: readonly Field[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [segments, value] of fields) {
    let cur = out;
    segments.slice(0, -1).forEach((s) => {
      cur[s] = isRecord(cur[s]) ? cur[s] : {};
      cur = cur[s] as Record<string, unknown>;
    });
    cur[segments[segments.length - 1] as string] = value;
  }
  return out;
}

/**
 * Adds `fields` under the securityContext at `at`. An absent securityContext is added whole in
 * one operation (two `add`s of the same missing parent would overwrite each other); one that is
 * not an object is malformed and left for validation to report.
 */
function addUnder(
  at: readonly Segment[],
  current: unknown,
  fields: readonly Field[],
): PatchOperation[] {
  if (fields.length === 0) return [];
  if (!isSet(current)) return [{ op: 'add', path: toPointer(at), value: nest(fields) }];
  if (!isRecord(current)) return [];
  return fields.flatMap(([rel, value]) => {
    const op = addIfUnset(current, rel, value);
    return op ? [{ ...op, path: toPointer(at) + op.path }] : [];
  });
}

function securityContextField(c: ContainerView, field: string): unknown {
  return isRecord(c.container.securityContext) ? c.container.securityContext[field] : undefined;
}

/**
 * The API server refuses `allowPrivilegeEscalation: false` beside `privileged: true` or an added
 * `CAP_SYS_ADMIN` (ValidateSecurityContext, pkg/apis/core/validation). Setting it there would
 * turn our clear denial of the privileged container into a confusing validation error.
 */
function mayDisableEscalation(sc: Record<string, unknown>): boolean {
  const add = isRecord(sc.capabilities) ? sc.capabilities.add : undefined;
  return sc.privileged !== true && !(Array.isArray(add) && add.includes('CAP_SYS_ADMIN'));
}

function containerFields(
  sc: Record<string, unknown>,
  podSc: Record<string, unknown>,
  windows: boolean,
  inherited: Inherited,
): Field[] {
  const fields: Field[] = [];
  if (!windows && !isSet(sc.allowPrivilegeEscalation) && mayDisableEscalation(sc)) {
    fields.push([['allowPrivilegeEscalation'], false]);
  }
  if (
    !windows &&
    (!isSet(sc.capabilities) || (isRecord(sc.capabilities) && !isSet(sc.capabilities.drop)))
  ) {
    fields.push([['capabilities', 'drop'], ['ALL']]);
  }
  if (inherited.runAsNonRoot && !isSet(sc.runAsNonRoot) && !runsAsRoot(effectiveUser(sc, podSc))) {
    fields.push([['runAsNonRoot'], true]);
  }
  if (!windows && inherited.seccompProfile && !isSet(sc.seccompProfile)) {
    fields.push([['seccompProfile'], { ...RUNTIME_DEFAULT }]);
  }
  return fields;
}

// `runAsUser: 0` written in the manifest conflicts with `runAsNonRoot: true`: the kubelet refuses
// to start such a container ("runAsUser breaks non-root policy"). The conflict is the author's,
// so it is left for validation to deny (runAsUser, runAsNonRoot) with a message, instead of
// being turned into a pod that is admitted, in warn mode, and then never starts.
function runsAsRoot(runAsUser: unknown): boolean {
  return runAsUser === 0;
}

// The user a container runs as: its own runAsUser, else the pod's (Kubernetes inheritance).
function effectiveUser(sc: Record<string, unknown>, podSc: Record<string, unknown>): unknown {
  return isSet(sc.runAsUser) ? sc.runAsUser : podSc.runAsUser;
}

/** True when some container would inherit a pod-level runAsNonRoot while running as user 0. */
function rootUserInherits(containers: ContainerView[], podSc: Record<string, unknown>): boolean {
  return containers.some((c) => {
    const sc = isRecord(c.container.securityContext) ? c.container.securityContext : {};
    return !isSet(sc.runAsNonRoot) && runsAsRoot(effectiveUser(sc, podSc));
  });
}

// In a user namespace root is unprivileged on the node and PSA does not ask for runAsNonRoot
// (KEP-127); forcing it would break the root-in-userns images that feature exists for.
function wantsRunAsNonRoot(view: PodSpecView, podSc: Record<string, unknown>): boolean {
  return !isSet(podSc.runAsNonRoot) && view.spec.hostUsers !== false;
}

// The pod level cannot carry runAsNonRoot when a container runs as user 0 under it: then each
// container that does not run as root gets its own copy instead.
function rootBlocksPodLevel(view: PodSpecView, podSc: Record<string, unknown>): boolean {
  return runsAsRoot(podSc.runAsUser) || rootUserInherits(containersOf(view), podSc);
}

function podFields(view: PodSpecView, sc: Record<string, unknown>, windows: boolean): Field[] {
  const containers = containersOf(view);
  const everySets = (field: string): boolean =>
    containers.every((c) => isSet(securityContextField(c, field)));
  const fields: Field[] = [];
  if (wantsRunAsNonRoot(view, sc) && !everySets('runAsNonRoot') && !rootBlocksPodLevel(view, sc)) {
    fields.push([['runAsNonRoot'], true]);
  }
  if (!windows && !isSet(sc.seccompProfile) && !everySets('seccompProfile')) {
    fields.push([['seccompProfile'], { ...RUNTIME_DEFAULT }]);
  }
  return fields;
}

/**
 * The patch that fills in the restricted defaults of one pod spec, within what `scope` allows
 * this request to change. On `pods/ephemeralcontainers` only the new ephemeral containers may be
 * patched, so the pod-level defaults they would inherit are set on them instead.
 */
export function restrictedDefaults(view: PodSpecView, scope: MutableScope): PatchOperation[] {
  const windows = isWindowsPod(view);
  const rawPodSc = view.spec.securityContext;
  const podSc = isRecord(rawPodSc) ? rawPodSc : {};
  const ops = scope.podSpec
    ? addUnder([...view.specPath, 'securityContext'], rawPodSc, podFields(view, podSc, windows))
    : [];
  const inherited: Inherited = {
    runAsNonRoot:
      wantsRunAsNonRoot(view, podSc) && (!scope.podSpec || rootBlocksPodLevel(view, podSc)),
    seccompProfile: !scope.podSpec && !isSet(podSc.seccompProfile),
  };

  for (const c of containersOf(view)) {
    if (!mayPatchContainer(scope, c)) continue;
    const sc = c.container.securityContext;
    if (isSet(sc) && !isRecord(sc)) continue;
    const fields = containerFields(isRecord(sc) ? sc : {}, podSc, windows, inherited);
    ops.push(...addUnder([...c.path, 'securityContext'], sc, fields));
  }
  return ops;
}
