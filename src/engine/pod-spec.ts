/**
 * One view of "the pod spec" for Pod and every pod controller, so that a policy written against
 * a Pod applies unchanged to a Deployment's template or a CronJob's job template.
 *
 * Where the spec lives (Kubernetes API reference, workloads):
 *   Pod                                   spec
 *   PodTemplate                           template.spec
 *   Deployment, StatefulSet, DaemonSet,
 *   ReplicaSet, ReplicationController,
 *   Job                                   spec.template.spec
 *   CronJob                               spec.jobTemplate.spec.template.spec
 * The pod's metadata (labels, AppArmor annotations) sits beside the spec: `metadata` of a Pod,
 * `…template.metadata` of the others.
 */
import type { Operation } from './policy.js';
import { getIn, isRecord, type Segment } from './paths.js';

/** Where each kind keeps its pod template, as segments up to (not including) `spec`/`metadata`. */
export const POD_TEMPLATE_ROOTS: Readonly<Record<string, readonly Segment[]>> = {
  Pod: [],
  PodTemplate: ['template'],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** Every kind that carries a pod spec. */
export const POD_KINDS: readonly string[] = Object.keys(POD_TEMPLATE_ROOTS);

export const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;
/** The three container lists of a pod spec. */
export type ContainerList = (typeof CONTAINER_LISTS)[number];

/** A pod spec found in an object, with where it sits. */
export interface PodSpecView {
  /** Segments to the spec (`['spec','template','spec']`). */
  specPath: Segment[];
  spec: Record<string, unknown>;
  /** Segments to the pod metadata, and the metadata (an empty object when absent). */
  metaPath: Segment[];
  meta: Record<string, unknown>;
}

/** One container of a pod spec, with its list, index and path. */
export interface ContainerView {
  list: ContainerList;
  index: number;
  /** The container's name, or `#<index>` when it has none (malformed input). */
  name: string;
  path: Segment[];
  container: Record<string, unknown>;
}

/** The pod spec of an object of `kind`, or undefined when the kind has none or it is malformed. */
export function podSpecOf(kind: string, object: unknown): PodSpecView | undefined {
  const root = POD_TEMPLATE_ROOTS[kind];
  if (root === undefined) return undefined;
  const spec = getIn(object, [...root, 'spec']);
  if (!isRecord(spec)) return undefined;
  const meta = getIn(object, [...root, 'metadata']);
  return {
    specPath: [...root, 'spec'],
    spec,
    metaPath: [...root, 'metadata'],
    meta: isRecord(meta) ? meta : {},
  };
}

/**
 * The containers of a pod spec, init containers first. Entries that are not objects are skipped
 * (the API server rejects them anyway); a list that is not an array yields nothing.
 */
export function containersOf(
  view: PodSpecView,
  lists: readonly ContainerList[] = CONTAINER_LISTS,
): ContainerView[] {
  const out: ContainerView[] = [];
  for (const list of lists) {
    const items = view.spec[list];
    if (!Array.isArray(items)) continue;
    items.forEach((container: unknown, index) => {
      if (!isRecord(container)) return;
      const name = typeof container.name === 'string' ? container.name : `#${index}`;
      out.push({ list, index, name, container, path: [...view.specPath, list, index] });
    });
  }
  return out;
}

/** True when the pod spec is for Windows (`spec.os.name: windows`), as PSA decides it. */
export function isWindowsPod(view: PodSpecView): boolean {
  return getIn(view.spec, ['os', 'name']) === 'windows';
}

/**
 * Which parts of a pod spec a mutation may touch on this request.
 *
 * - CREATE: everything.
 * - UPDATE of a Pod: nothing (a pod's security fields are immutable), except on the
 *   `ephemeralcontainers` subresource, where only ephemeral containers that the old pod did not
 *   have may be patched (`kubectl debug`).
 * - UPDATE of a Job: nothing (`spec.template` is immutable once the Job exists).
 * - UPDATE of other controllers: the template, which they may change.
 */
export interface MutableScope {
  podSpec: boolean;
  /**
   * Set on `pods/ephemeralcontainers` updates: the ephemeral containers the old pod already had.
   * Only ephemeral containers not named here may be patched.
   */
  existingEphemeral?: ReadonlySet<string>;
}

/** The mutable part of a pod spec on this request (see MutableScope). */
export function mutableScope(
  kind: string,
  operation: Operation,
  subResource: string,
  oldObject: unknown,
): MutableScope {
  if (operation === 'CREATE') return { podSpec: true };
  if (operation !== 'UPDATE') return { podSpec: false };
  if (kind === 'Pod' && subResource === 'ephemeralcontainers') {
    const old = podSpecOf('Pod', oldObject);
    const oldNames = new Set(
      old ? containersOf(old, ['ephemeralContainers']).map((c) => c.name) : [],
    );
    return { podSpec: false, existingEphemeral: oldNames };
  }
  if (kind === 'Pod' || kind === 'Job') return { podSpec: false };
  return { podSpec: true };
}

/** True when a mutation may patch this container under the given scope. */
export function mayPatchContainer(scope: MutableScope, c: ContainerView): boolean {
  if (scope.podSpec) return true;
  const existing = scope.existingEphemeral;
  return existing !== undefined && c.list === 'ephemeralContainers' && !existing.has(c.name);
}
