/**
 * The contract between the engine and the policies in `policies/`.
 *
 * A policy is pure: it reads an admission context and returns findings (validate) or JSON Patch
 * operations (mutate). It never logs, never throws for a policy reason and knows nothing of HTTP;
 * the engine alone turns findings into deny, warn or audit according to the configured mode.
 */
import type { z } from 'zod';

/** Kubernetes object as decoded from JSON; only `metadata` is assumed, and even that is checked. */
export type KubeObject = Record<string, unknown> & {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: unknown;
};

export const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
/** Admission operation as the API server names it. */
export type Operation = (typeof OPERATIONS)[number];

export const MODES = ['enforce', 'warn', 'audit', 'off'] as const;
/** What the engine does with a policy's findings: deny, allow with a warning, only log, skip. */
export type Mode = (typeof MODES)[number];

/** The requesting identity, taken from the AdmissionReview's `userInfo` and nothing else. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

/** Read-only view of cluster state that policies may consult (namespace labels, for now). */
export interface ClusterLookup {
  /** Labels of a namespace, or undefined when the namespace is unknown or no cache runs. */
  namespaceLabels(namespace: string): Record<string, string> | undefined;
}

/** Everything a policy may read about one admission request. */
export interface PolicyContext<P = unknown> {
  operation: Operation;
  /** Kind of the object, e.g. `Pod` (from `request.kind.kind`). */
  kind: string;
  /** API group of the kind, `''` for the core group. */
  group: string;
  /** Resource name, e.g. `pods`, and subresource, e.g. `ephemeralcontainers` or `''`. */
  resource: string;
  subResource: string;
  namespace: string;
  name: string;
  /** The object as sent (for validation: as the mutating webhook left it). Undefined on DELETE. */
  object: KubeObject | undefined;
  /** The object before the change, on UPDATE and DELETE. */
  oldObject: KubeObject | undefined;
  /** CONNECT options (`PodExecOptions`...) or create/update/delete options. */
  options: unknown;
  userInfo: UserInfo;
  dryRun: boolean;
  /** The policy's parameters, already validated by its schema. */
  params: P;
  cluster: ClusterLookup;
  /** Evaluation time, injected so that tests can pin it (exceptions expire against it). */
  now: Date;
}

/**
 * One thing a policy found wrong.
 *
 * `reason` is short and stable (a metric label and a grep target, e.g. `privileged`);
 * `path` is the field path as kubectl users read it (`spec.containers[0].securityContext`);
 * `message` says what is wrong and `fix` how to put it right, without any secret value.
 */
export interface Finding {
  reason: string;
  path: string;
  message: string;
  fix: string;
}

/** One RFC 6902 operation, as policies emit them (paths are JSON Pointers into the object). */
export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/**
 * Something a policy wants on the record although it is not a violation, e.g. a break-glass
 * user acting in a GitOps-managed namespace. The admission layer logs it at warn level, counts it
 * and copies `annotations` into the decision's `auditAnnotations` (keys without a `/`).
 */
export interface Notice {
  reason: string;
  message: string;
  annotations?: Record<string, string>;
}

/** Which requests a policy looks at. */
export interface PolicyMatch {
  /** Object kinds (`Pod`, `Deployment`...); `*` means every kind. */
  kinds: readonly string[];
  /** Operations it judges; CREATE and UPDATE when unset. */
  operations?: readonly Operation[];
  /**
   * Subresources it judges besides the main resource, e.g. `ephemeralcontainers`, `scale`,
   * `exec`. Requests for any other subresource (notably `status`) never reach the policy.
   */
  subResources?: readonly string[];
}

/** A built-in policy: one module in `policies/`, default-exported. */
export interface Policy<S extends z.ZodType = z.ZodType> {
  /** Stable kebab-case id, used in config, messages, logs and metrics. */
  id: string;
  title: string;
  /** HIPAA Security Rule citations it supports, e.g. `164.312(a)(1)`. */
  hipaa: readonly string[];
  match: PolicyMatch;
  /** Schema of the policy's `params`, with defaults for every field. */
  params: S;
  /** Mode used when the config names none. */
  defaultMode: Mode;
  /**
   * Set when a violation already present in `oldObject` must still deny an UPDATE
   * (the default turns such violations into warnings so that old objects stay manageable).
   */
  judgesExistingViolations?: boolean;
  /** Fills in what is unset; must be idempotent and never override a value the object sets. */
  mutate?(ctx: PolicyContext<z.infer<S>>): PatchOperation[];
  /** May be async: a rule set such as secretlint's only runs asynchronously. */
  validate?(ctx: PolicyContext<z.infer<S>>): Finding[] | Promise<Finding[]>;
  /** Reports notices (see Notice); runs on the validating webhook only, like `validate`. */
  observe?(ctx: PolicyContext<z.infer<S>>): Notice[];
}

/** Identity helper that keeps a policy module's parameter type attached to its callbacks. */
export function definePolicy<S extends z.ZodType>(policy: Policy<S>): Policy<S> {
  return policy;
}
