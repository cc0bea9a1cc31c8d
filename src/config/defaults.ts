/**
 * The built-in default config, used when no file is given: every policy at its own default mode
 * and parameters, Kubernetes' own namespaces and phi-guard's excluded.
 */
import type { ConfigInput } from './schema.js';

/** Namespaces never judged by default (the webhook configurations exclude them too). */
export const DEFAULT_EXCLUDED_NAMESPACES = [
  'kube-system',
  'kube-public',
  'kube-node-lease',
  'phi-guard',
];

/** The config used when none is given. */
export const DEFAULT_CONFIG: ConfigInput = {
  excludedNamespaces: DEFAULT_EXCLUDED_NAMESPACES,
  policies: {},
  exceptions: [],
};
