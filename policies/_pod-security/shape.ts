/**
 * Shape check: the fields the Pod Security checks read must have the types the Kubernetes API
 * gives them. The API server rejects a `securityContext: "x"` when it decodes a request, so this
 * fires mostly for `phi-guard check` on files; but a check cannot judge what it cannot read, and
 * mutation leaves such a container alone, so the object is denied here with a message instead of
 * being passed as if the field were unset.
 */
import type { Finding } from '../../src/engine/policy.js';
import { isRecord, type Segment } from '../../src/engine/paths.js';
import { CONTAINER_LISTS } from '../../src/engine/pod-spec.js';
import { containerLabel, finding, isSet, type PodUnderCheck } from './pod.js';

/** Reason of every shape finding. */
export const SHAPE_REASON = 'invalidShape';

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function expectRecord(value: unknown, path: Segment[], what: string): Finding[] {
  if (!isSet(value) || isRecord(value)) return [];
  return [
    finding(
      SHAPE_REASON,
      path,
      `${what} must be an object, found ${typeName(value)}`,
      'fix the manifest: see `kubectl explain pod.spec`',
    ),
  ];
}

function expectList(value: unknown, path: Segment[], what: string): Finding[] {
  if (!isSet(value) || Array.isArray(value)) return [];
  return [
    finding(
      SHAPE_REASON,
      path,
      `${what} must be a list, found ${typeName(value)}`,
      'fix the manifest: see `kubectl explain pod.spec`',
    ),
  ];
}

function containerEntries(pod: PodUnderCheck): Finding[] {
  const out: Finding[] = [];
  for (const list of CONTAINER_LISTS) {
    const path = [...pod.view.specPath, list];
    const items = pod.view.spec[list];
    out.push(...expectList(items, path, list));
    if (!Array.isArray(items)) continue;
    items.forEach((item: unknown, i) =>
      out.push(...expectRecord(item, [...path, i], `${list}[${i}]`)),
    );
  }
  return out;
}

function containerFields(pod: PodUnderCheck): Finding[] {
  return pod.containers.flatMap((c) => {
    const scPath = [...c.path, 'securityContext'];
    const sc = c.container.securityContext;
    const label = `${containerLabel(c)} securityContext`;
    if (!isRecord(sc)) return expectRecord(sc, scPath, label);
    const caps = sc.capabilities;
    if (!isRecord(caps))
      return expectRecord(caps, [...scPath, 'capabilities'], `${label}.capabilities`);
    return [
      ...expectList(caps.add, [...scPath, 'capabilities', 'add'], `${label}.capabilities.add`),
      ...expectList(caps.drop, [...scPath, 'capabilities', 'drop'], `${label}.capabilities.drop`),
    ];
  });
}

/** Findings for fields of the wrong type in the pod spec. */
export function checkShape(pod: PodUnderCheck): Finding[] {
  const podSc = pod.view.spec.securityContext;
  const podScPath = [...pod.view.specPath, 'securityContext'];
  return [
    ...expectRecord(podSc, podScPath, 'pod securityContext'),
    ...(isRecord(podSc)
      ? expectList(podSc.sysctls, [...podScPath, 'sysctls'], 'pod securityContext.sysctls')
      : []),
    ...expectList(pod.view.spec.volumes, [...pod.view.specPath, 'volumes'], 'volumes'),
    ...containerEntries(pod),
    ...containerFields(pod),
  ];
}

/** The finding for an object of a pod kind whose pod spec is missing or not an object. */
export function missingSpec(kind: string, specPath: readonly Segment[]): Finding {
  return finding(
    SHAPE_REASON,
    specPath,
    `the ${kind}'s pod spec is missing or not an object, ` +
      'so its security settings cannot be checked',
    'give the object a pod spec with at least one container',
  );
}
