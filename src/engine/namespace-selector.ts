/**
 * Namespace selection shared by policies that apply only in some namespaces (PHI namespaces,
 * GitOps-managed ones, digest-required ones): a list of name globs, or one label written
 * `key=value` or `key` ("has the label"), read from the cluster's namespace cache.
 */
import { z } from 'zod';
import { matchesAny } from './glob.js';
import type { ClusterLookup } from './policy.js';

// Label key (an optional DNS-subdomain prefix, then a name) and an optional `=value`, per
// "Syntax and character set" in
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
const LABEL_NAME = '[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const LABEL_SELECTOR = new RegExp(
  `^((?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?${LABEL_NAME})(?:=((?:${LABEL_NAME})?))?$`,
);

/** Schema of a namespace label parameter: `key=value`, `key`, or `''` for none. */
export function namespaceLabelParam(defaultValue: string) {
  return z
    .string()
    .refine((s) => s === '' || LABEL_SELECTOR.test(s), 'must be "key=value", "key" or ""')
    .default(defaultValue);
}

/** True when `labels` carry the label `selector` names (`key=value`, or `key` for presence). */
export function labelsMatch(labels: Record<string, string> | undefined, selector: string): boolean {
  const match = LABEL_SELECTOR.exec(selector);
  if (!labels || !match) return false;
  const key = match[1] as string;
  if (!Object.prototype.hasOwnProperty.call(labels, key)) return false;
  return match[2] === undefined || labels[key] === match[2];
}

/**
 * True when `namespace` matches one of `names` (globs) or, through `cluster`, carries `label`.
 * Cluster-scoped requests (namespace `''`) are never selected.
 */
export function namespaceSelected(
  cluster: ClusterLookup,
  namespace: string,
  names: readonly string[],
  label: string,
): boolean {
  if (namespace === '') return false;
  if (matchesAny(names, namespace)) return true;
  return label !== '' && labelsMatch(cluster.namespaceLabels(namespace), label);
}
