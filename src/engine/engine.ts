/**
 * The engine: runs the configured policies over one admission request and decides.
 *
 * It knows no policy by name. For the mutating webhook it chains every policy's patches over a
 * working copy (each policy sees what the earlier ones set); for the validating webhook it maps
 * each finding to an outcome by the policy's mode, its exceptions and, on UPDATE, whether the old
 * object already had the same violation.
 */
import fastJsonPatch from 'fast-json-patch';
import type { Config, PolicyException } from '../config/schema.js';
import { matchesAny, globMatch } from './glob.js';
import { resourceOf } from './resources.js';
import type {
  ClusterLookup,
  Finding,
  KubeObject,
  Mode,
  Notice,
  Operation,
  PatchOperation,
  Policy,
  PolicyContext,
  UserInfo,
} from './policy.js';

const { applyPatch, deepClone } = fastJsonPatch;

/** The parts of an AdmissionRequest the engine needs, already checked for shape. */
export interface AdmissionInput {
  uid: string;
  operation: Operation;
  kind: string;
  group: string;
  version: string;
  resource: string;
  subResource: string;
  namespace: string;
  /** Object name; for a CREATE with `generateName` only, that prefix followed by `*`. */
  name: string;
  object: KubeObject | undefined;
  oldObject: KubeObject | undefined;
  options: unknown;
  userInfo: UserInfo;
  dryRun: boolean;
}

/** Which webhook is asking: the mutating one patches, the validating one judges. */
export type Webhook = 'mutate' | 'validate';

export const OUTCOMES = ['denied', 'warned', 'audited', 'excepted', 'error'] as const;
/** What became of one finding. `error` is a policy that threw (treated as a finding). */
export type Outcome = (typeof OUTCOMES)[number];

/** One finding of one policy with what the engine made of it. */
export interface PolicyResult {
  policy: string;
  mode: Mode;
  outcome: Outcome;
  finding: Finding;
  /** True when the old object had the same violation (UPDATE), so it only warns. */
  preexisting: boolean;
  /** The exception that allowed it, when outcome is `excepted`. */
  exception?: { name: string; reason: string };
  /** What the policy threw, for the log only (never for the user: it may quote the object). */
  error?: unknown;
}

export const DECISIONS = ['allowed', 'denied', 'mutated', 'warned'] as const;
/** The decision recorded for a request. */
export type DecisionKind = (typeof DECISIONS)[number];

/** Everything the admission layer needs to answer, log and count. */
export interface Decision {
  decision: DecisionKind;
  allowed: boolean;
  /** RFC 6902 operations against the object as sent (mutating webhook only). */
  patch: PatchOperation[];
  /** Policies whose patches are in `patch`. */
  patchedBy: string[];
  results: PolicyResult[];
  notices: Array<Notice & { policy: string }>;
  /** Denial message (several findings joined by newlines), when denied. */
  message: string;
  warnings: string[];
  auditAnnotations: Record<string, string>;
  /** Exceptions that matched but had expired (ignored). */
  expiredExceptions: string[];
  /** Policies that were evaluated (in scope, mode not off). */
  evaluated: Array<{ policy: string; mode: Mode }>;
  /** Why nothing was evaluated, when nothing was (e.g. `excluded-namespace`). */
  skipped?: string;
}

/** Options of an Engine. */
export interface EngineOptions {
  /** Namespace lookups for policies; a lookup that knows nothing by default. */
  cluster?: ClusterLookup;
  /** Clock, for exception expiry; `() => new Date()` by default. */
  now?: () => Date;
}

const NO_CLUSTER: ClusterLookup = { namespaceLabels: () => undefined };
const DEFAULT_OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE'];

/**
 * `Kind namespace/name` or `Kind name`, as messages name the object. A subresource request whose
 * kind is the subresource's own (`PodExecOptions` for `pods/exec`, `Scale` for
 * `deployments/scale`) is named by the object acted on, `Pod payments/api-0`, or, for a resource
 * outside PARENT_KINDS, as kubectl and RBAC name it, `widgets/scale payments/w`.
 */
export function objectRef(
  input: Pick<AdmissionInput, 'kind' | 'namespace' | 'name'> &
    Partial<Pick<AdmissionInput, 'resource' | 'subResource'>>,
): string {
  const [kind, namespace, name] = [refKind(input), input.namespace, input.name].map((s) =>
    clipText(s, MAX_NAME_LENGTH),
  );
  return namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}

/** Kinds of the resources whose subresources carry a kind of their own (exec, scale...). */
const PARENT_KINDS: Readonly<Record<string, string>> = {
  pods: 'Pod',
  deployments: 'Deployment',
  replicasets: 'ReplicaSet',
  statefulsets: 'StatefulSet',
  replicationcontrollers: 'ReplicationController',
  serviceaccounts: 'ServiceAccount',
};

function refKind(input: Partial<Pick<AdmissionInput, 'kind' | 'resource' | 'subResource'>>) {
  const { kind = '', resource = '', subResource = '' } = input;
  if (subResource === '' || isKindOf(kind, resource)) return kind;
  return PARENT_KINDS[resource] ?? `${resource}/${subResource}`;
}

// True when `resource` is the kind's own resource (pods/Pod, ingresses/Ingress,
// networkpolicies/NetworkPolicy, endpoints/Endpoints), so the request's kind names the object.
function isKindOf(kind: string, resource: string): boolean {
  return resource === '' || resource === resourceOf(kind);
}

/**
 * Object names are at most 253 characters (a DNS subdomain), but a mutating webhook sees them
 * before the API server validates them: a longer one is cut so that it cannot bloat every message.
 */
export const MAX_NAME_LENGTH = 253;

/**
 * At most this many findings of one policy are listed per request; the rest are counted in one
 * more finding. A pod of 20,000 privileged containers would otherwise produce an answer, a log
 * line and metric increments that grow with the object and stall the server for every request.
 */
export const MAX_FINDINGS_PER_POLICY = 20;

/** `text` cut to `max` characters, the last being `…` when cut. */
export function clipText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function capFindings(findings: Finding[]): Finding[] {
  if (findings.length <= MAX_FINDINGS_PER_POLICY) return findings;
  const more = findings.length - MAX_FINDINGS_PER_POLICY;
  return [
    ...findings.slice(0, MAX_FINDINGS_PER_POLICY),
    {
      reason: 'more-findings',
      path: '',
      message: `${more} more findings of this policy are not listed`,
      fix: 'fix the findings above and apply again to see the rest',
    },
  ];
}

/** The one message format: `[policy] Kind ns/name: path: what is wrong; how to fix it`. */
export function formatFinding(policy: string, ref: string, f: Finding, suffix = ''): string {
  const where = f.path ? `${f.path}: ` : '';
  return `[${policy}] ${ref}: ${where}${f.message}; ${f.fix}${suffix}`;
}

/** Evaluates requests against a set of policies and a config; immutable, shared by requests. */
export class Engine {
  private readonly cluster: ClusterLookup;
  private readonly now: () => Date;

  constructor(
    readonly policies: ReadonlyMap<string, Policy>,
    readonly config: Config,
    options: EngineOptions = {},
  ) {
    this.cluster = options.cluster ?? NO_CLUSTER;
    this.now = options.now ?? (() => new Date());
  }

  /** A new engine with another config and the same policies and options. */
  withConfig(config: Config): Engine {
    return new Engine(this.policies, config, { cluster: this.cluster, now: this.now });
  }

  /** Decides one request for one webhook. Never throws for a policy's sake. */
  async evaluate(input: AdmissionInput, webhook: Webhook): Promise<Decision> {
    const decision = emptyDecision();
    if (input.namespace !== '' && matchesAny(this.config.excludedNamespaces, input.namespace)) {
      decision.skipped = 'excluded-namespace';
      return finish(decision, webhook);
    }
    const now = this.now();
    // No copy up front: the working object is only ever replaced, never changed in place
    // (mutateWith patches a copy), and policies are pure, so a request that patches nothing,
    // the common case, costs no clone of its object.
    let working = webhook === 'mutate' ? input.object : undefined;

    for (const [id, policy] of this.policies) {
      const settings = this.config.policies[id];
      if (!settings || settings.mode === 'off' || !inScope(policy, settings, input)) continue;
      const { active, expired } = matchExceptions(this.config.exceptions, id, input, now);
      decision.expiredExceptions.push(...expired.map((e) => e.name));
      decision.evaluated.push({ policy: id, mode: settings.mode });
      const ctx = this.context(input, settings.params, now);

      if (webhook === 'mutate') {
        if (working && policy.mutate && !active && settings.mode !== 'audit') {
          working = this.mutateWith(policy, { ...ctx, object: working }, working, decision);
        }
        continue;
      }
      await this.validateWith(policy, settings.mode, ctx, active, decision);
    }
    decision.expiredExceptions = [...new Set(decision.expiredExceptions)];
    return finish(decision, webhook, objectRef(input));
  }

  private context(input: AdmissionInput, params: unknown, now: Date): PolicyContext {
    return {
      operation: input.operation,
      kind: input.kind,
      group: input.group,
      resource: input.resource,
      subResource: input.subResource,
      namespace: input.namespace,
      name: input.name,
      object: input.object,
      oldObject: input.oldObject,
      options: input.options,
      userInfo: input.userInfo,
      dryRun: input.dryRun,
      params,
      cluster: this.cluster,
      now,
    };
  }

  private mutateWith(
    policy: Policy,
    ctx: PolicyContext,
    working: KubeObject,
    decision: Decision,
  ): KubeObject {
    try {
      const ops = policy.mutate!(ctx);
      if (ops.length === 0) return working;
      // Applied to a copy and validated, so that a policy's bad patch is dropped whole instead of
      // leaving a half-applied object or sending the API server a patch that cannot apply.
      const next = applyPatch(deepClone(working), deepClone(ops), true, true)
        .newDocument as KubeObject;
      decision.patch.push(...ops);
      decision.patchedBy.push(policy.id);
      return next;
    } catch (err) {
      decision.results.push(errorResult(policy.id, 'audit', err));
      return working;
    }
  }

  private async validateWith(
    policy: Policy,
    mode: Mode,
    ctx: PolicyContext,
    exception: PolicyException | undefined,
    decision: Decision,
  ): Promise<void> {
    let findings: Finding[];
    let old = new Set<string>();
    try {
      findings = policy.validate ? await policy.validate(ctx) : [];
      if (
        findings.length > 0 &&
        ctx.operation === 'UPDATE' &&
        ctx.oldObject &&
        !policy.judgesExistingViolations
      ) {
        const before = await policy.validate!({
          ...ctx,
          object: ctx.oldObject,
          oldObject: undefined,
        });
        old = new Set(before.map(findingKey));
      }
      for (const n of policy.observe ? policy.observe(ctx) : [])
        decision.notices.push({ ...n, policy: policy.id });
    } catch (err) {
      decision.results.push(errorResult(policy.id, mode, err));
      return;
    }
    for (const finding of capFindings(findings)) {
      const preexisting = old.has(findingKey(finding));
      const result: PolicyResult = {
        policy: policy.id,
        mode,
        finding,
        preexisting,
        outcome: outcomeOf(mode, preexisting),
      };
      if (exception && result.outcome !== 'audited') {
        result.outcome = 'excepted';
        result.exception = { name: exception.name, reason: exception.reason };
      }
      decision.results.push(result);
    }
  }
}

function emptyDecision(): Decision {
  return {
    decision: 'allowed',
    allowed: true,
    patch: [],
    patchedBy: [],
    results: [],
    notices: [],
    message: '',
    warnings: [],
    auditAnnotations: {},
    expiredExceptions: [],
    evaluated: [],
  };
}

function outcomeOf(mode: Mode, preexisting: boolean): Outcome {
  if (mode === 'audit') return 'audited';
  if (mode === 'warn' || preexisting) return 'warned';
  return 'denied';
}

function errorResult(policy: string, mode: Mode, err: unknown): PolicyResult {
  // The error text stays out of the message: it may quote the object. The admission layer logs it.
  return {
    policy,
    mode,
    outcome: mode === 'enforce' ? 'error' : 'audited',
    preexisting: false,
    error: err,
    finding: {
      reason: 'policy-error',
      path: '',
      message: `the policy could not evaluate this object (${errorName(err)})`,
      fix: 'check that the object is well-formed; phi-guard logged the details',
    },
  };
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : 'error';
}

function findingKey(f: Finding): string {
  return `${f.reason}\u0000${f.path}`;
}

function inScope(
  policy: Policy,
  settings: Config['policies'][string],
  input: AdmissionInput,
): boolean {
  const { match } = policy;
  const subResources = match.subResources ?? [];
  if (input.subResource !== '' && !subResources.includes(input.subResource)) return false;
  if (!(match.operations ?? DEFAULT_OPERATIONS).includes(input.operation)) return false;
  if (!match.kinds.includes('*') && !match.kinds.includes(input.kind)) return false;
  if (settings.kinds && !settings.kinds.includes(input.kind)) return false;
  // Namespace scopes do not apply to cluster-scoped objects (StorageClass, Namespace...).
  if (input.namespace === '') return true;
  const { include, exclude } = settings.namespaces;
  return matchesAny(include, input.namespace) && !matchesAny(exclude, input.namespace);
}

function matchExceptions(
  exceptions: readonly PolicyException[],
  policy: string,
  input: AdmissionInput,
  now: Date,
): { active: PolicyException | undefined; expired: PolicyException[] } {
  const expired: PolicyException[] = [];
  let active: PolicyException | undefined;
  // The kind as messages name it, too: an exception copied from the denial of `kubectl exec`
  // (`Pod payments/api-0`) must match, though the request's own kind is PodExecOptions.
  const named = refKind(input);
  for (const e of exceptions) {
    const matches =
      e.policies.includes(policy) &&
      globMatch(e.namespace, input.namespace) &&
      (globMatch(e.kind, input.kind) || globMatch(e.kind, named)) &&
      globMatch(e.objectName, input.name);
    if (!matches) continue;
    if (e.expires.getTime() < now.getTime()) expired.push(e);
    else active ??= e;
  }
  return { active, expired };
}

function finish(decision: Decision, webhook: Webhook, ref = ''): Decision {
  const denied = decision.results.filter((r) => r.outcome === 'denied' || r.outcome === 'error');
  const warned = decision.results.filter((r) => r.outcome === 'warned');
  decision.allowed = denied.length === 0;
  decision.message = denied.map((r) => formatFinding(r.policy, ref, r.finding)).join('\n');
  decision.warnings = warned.map((r) =>
    formatFinding(
      r.policy,
      ref,
      r.finding,
      r.preexisting
        ? ' (already present before this update: not denied)'
        : ' (warn mode: not denied yet)',
    ),
  );
  if (!decision.allowed) decision.decision = 'denied';
  else if (webhook === 'mutate' && decision.patch.length > 0) decision.decision = 'mutated';
  else if (warned.length > 0) decision.decision = 'warned';
  decision.auditAnnotations = auditAnnotations(decision);
  return decision;
}

function uniq(values: string[]): string {
  return [...new Set(values)].sort().join(',');
}

// Keys carry no `/`: the API server prefixes them with the webhook's name
// (admission.k8s.io/v1 AdmissionResponse.auditAnnotations).
function auditAnnotations(d: Decision): Record<string, string> {
  const a: Record<string, string> = { decision: d.decision };
  const by = (o: Outcome): string[] =>
    d.results.filter((r) => r.outcome === o).map((r) => r.policy);
  if (by('denied').length + by('error').length)
    a['denied-by'] = uniq([...by('denied'), ...by('error')]);
  if (by('warned').length) a['warned-by'] = uniq(by('warned'));
  if (by('audited').length) a['audited-by'] = uniq(by('audited'));
  const excepted = d.results.filter((r) => r.exception).map((r) => r.exception!.name);
  if (excepted.length) a['exceptions'] = uniq(excepted);
  if (d.patchedBy.length) a['patched-by'] = uniq(d.patchedBy);
  if (d.expiredExceptions.length) a['expired-exceptions'] = uniq(d.expiredExceptions);
  for (const n of d.notices) Object.assign(a, n.annotations);
  return a;
}
