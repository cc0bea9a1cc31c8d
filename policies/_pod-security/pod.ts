/**
 * The pod as the Pod Security checks read it: one spec, its metadata, every container of every
 * list, and the few pod-wide facts that switch checks on or off (Windows, user namespace).
 *
 * Checks never trust the shape of what they read: a `securityContext` that is a string instead of
 * an object is treated as unset here and reported once by the shape check (./shape.ts).
 */
import type { Finding } from '../../src/engine/policy.js';
import { isRecord, toFieldPath, type Segment } from '../../src/engine/paths.js';
import {
  containersOf,
  isWindowsPod,
  type ContainerView,
  type PodSpecView,
} from '../../src/engine/pod-spec.js';

/** Everything a check reads, computed once per evaluation. */
export interface PodUnderCheck {
  view: PodSpecView;
  /** Init, regular and ephemeral containers (entries that are not objects are left out). */
  containers: ContainerView[];
  /** `spec.os.name: windows`: restricted exempts such pods from its Linux-only checks. */
  windows: boolean;
  /**
   * `spec.hostUsers: false`: the pod runs in a user namespace, where root in the container is
   * not root on the node (KEP-127), so PSA relaxes runAsNonRoot, runAsUser and baseline procMount.
   */
  userNamespace: boolean;
}

/** The checked view of a pod spec. */
export function podUnderCheck(view: PodSpecView): PodUnderCheck {
  return {
    view,
    containers: containersOf(view),
    windows: isWindowsPod(view),
    userNamespace: view.spec.hostUsers === false,
  };
}

/** A check's identifier: the upstream PSA check id, used as the finding's reason. */
export type CheckId = string;

/** The two Pod Security Standards levels phi-guard enforces ("privileged" enforces nothing). */
export type Level = 'baseline' | 'restricted';

/**
 * One Pod Security check, as upstream's `policy/check_*.go` declares it: an id, the level that
 * introduces it, and the baseline checks it replaces at restricted (`OverrideCheckIDs`).
 */
export interface Check {
  id: CheckId;
  level: Level;
  overrides?: readonly CheckId[];
  run(pod: PodUnderCheck): Finding[];
}

/** The pod-level `securityContext` when it is an object. */
export function podSecurityContext(pod: PodUnderCheck): Record<string, unknown> | undefined {
  const sc = pod.view.spec.securityContext;
  return isRecord(sc) ? sc : undefined;
}

/** A container's `securityContext` when it is an object. */
export function containerSecurityContext(c: ContainerView): Record<string, unknown> | undefined {
  const sc = c.container.securityContext;
  return isRecord(sc) ? sc : undefined;
}

/** Segments of a field under the pod-level `securityContext`. */
export function podScPath(pod: PodUnderCheck, ...rest: Segment[]): Segment[] {
  return [...pod.view.specPath, 'securityContext', ...rest];
}

/** Segments of a field under a container's `securityContext`. */
export function containerScPath(c: ContainerView, ...rest: Segment[]): Segment[] {
  return [...c.path, 'securityContext', ...rest];
}

/** True when a JSON value is present: Kubernetes treats `null` like an absent field. */
export function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** A finding with its path spelled as kubectl users read it. */
export function finding(
  reason: CheckId,
  segments: readonly Segment[],
  message: string,
  fix: string,
): Finding {
  return { reason, path: toFieldPath(segments), message, fix };
}

const MAX_VALUE = 64;

function cut(text: string): string {
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text;
}

/**
 * A value as a message shows it: a string quoted, anything else (a port number, or a wrong type
 * in malformed input) as JSON. Values are cut at 64 characters so that a hostile object cannot
 * inflate the denial.
 */
export function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(cut(value));
  return cut(JSON.stringify(value) ?? String(value));
}

/** `"a", "b"` as upstream's joinQuote prints lists. */
export function quoteAll(values: readonly unknown[]): string {
  return values.map(quote).join(', ');
}

/** `container "app"`, naming a container as upstream details do. */
export function containerLabel(c: ContainerView): string {
  return `container ${quote(c.name)}`;
}

/** `container "a"` or `containers "a", "b"`. */
export function containersLabel(cs: readonly ContainerView[]): string {
  const noun = cs.length === 1 ? 'container' : 'containers';
  return `${noun} ${quoteAll(cs.map((c) => c.name))}`;
}
