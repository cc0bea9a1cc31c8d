/**
 * phi-guard's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * that several servers in one process, as in tests, do not collide).
 *
 * Labels come from small fixed sets only (webhook, operation, kind, decision, policy, mode,
 * result): never an object name, a namespace or a user, which would make one series per object.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionInput, Decision, Webhook } from '../engine/engine.js';
import { OPERATIONS } from '../engine/policy.js';

/** Label value for a kind no built-in policy names (CRDs...), keeping `kind` bounded. */
export const OTHER_KIND = 'other';
/** Decision label of a request that could not be decoded (answered 400-class). */
export const INVALID_DECISION = 'invalid';

// Admission calls take about a millisecond; the API server's timeout is at most 30 s
// (admissionregistration.k8s.io/v1 timeoutSeconds), so buckets run from 0.25 ms to 10 s.
const DURATION_BUCKETS = [
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10,
];

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Kinds used as they are in the `kind` label; any other kind is counted as `other`. */
  knownKinds: Iterable<string>;
  /** Also collect Node's default process metrics (on by default). */
  defaultMetrics?: boolean;
}

/** The metrics of one server. */
export interface Metrics {
  registry: Registry;
  requests: Counter<'webhook' | 'operation' | 'kind' | 'decision'>;
  duration: Histogram<'webhook'>;
  policyResults: Counter<'policy' | 'mode' | 'result'>;
  notices: Counter<'policy' | 'result'>;
  configReloads: Counter<'result'>;
  configLastSuccess: Gauge;
  certificateExpiry: Gauge;
  kindLabel(kind: string): string;
}

/** Creates and registers every metric on a new registry. */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const known = new Set(options.knownKinds);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  return {
    registry,
    requests: new Counter({
      name: 'phi_guard_admission_requests_total',
      help: 'Admission requests answered, by webhook, operation, kind (or "other") and decision.',
      labelNames: ['webhook', 'operation', 'kind', 'decision'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'phi_guard_admission_duration_seconds',
      help: 'Time from a decoded admission request to its answer, by webhook.',
      labelNames: ['webhook'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    policyResults: new Counter({
      name: 'phi_guard_policy_results_total',
      help:
        'Policy evaluations by policy, mode and result (passed, denied, warned, audited, ' +
        'excepted, error, patched), each outcome counted once per request.',
      labelNames: ['policy', 'mode', 'result'] as const,
      registers,
    }),
    notices: new Counter({
      name: 'phi_guard_policy_notices_total',
      help:
        'Notices raised by policies (break-glass acts), by policy and reason; ' +
        'dry runs excluded.',
      labelNames: ['policy', 'result'] as const,
      registers,
    }),
    configReloads: new Counter({
      name: 'phi_guard_config_reloads_total',
      help: 'Config reloads after a change on disk, by result (success or failure).',
      labelNames: ['result'] as const,
      registers,
    }),
    configLastSuccess: new Gauge({
      name: 'phi_guard_config_last_reload_success_timestamp_seconds',
      help: 'Unix time at which the config in use was loaded (at start or by a reload).',
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'phi_guard_tls_certificate_expiry_timestamp_seconds',
      help: 'Unix time at which the serving certificate in use expires.',
      registers,
    }),
    kindLabel: (kind) => (known.has(kind) ? kind : OTHER_KIND),
  };
}

/** Counts one answered request and the results of its evaluated policies. */
export function recordDecision(
  metrics: Metrics,
  webhook: Webhook,
  input: AdmissionInput,
  decision: Decision,
  seconds: number,
): void {
  const kind = metrics.kindLabel(input.kind);
  metrics.requests.inc({ webhook, operation: input.operation, kind, decision: decision.decision });
  metrics.duration.observe({ webhook }, seconds);
  countPolicyResults(metrics, webhook, decision);
  if (input.dryRun) return;
  for (const n of decision.notices) metrics.notices.inc({ policy: n.policy, result: n.reason });
}

/**
 * Counts a request that could not be decoded. Its operation and kind come from the sender, so
 * anything outside the known sets is counted as "other": a label never takes a value from an
 * invalid request, or any client could create series without bound.
 */
export function recordInvalid(metrics: Metrics, webhook: Webhook, operation = '', kind = ''): void {
  const kindLabel = kind === '' ? '' : metrics.kindLabel(kind);
  const known = operation === '' || (OPERATIONS as readonly string[]).includes(operation);
  const operationLabel = known ? operation : 'other';
  metrics.requests.inc({
    webhook,
    operation: operationLabel,
    kind: kindLabel,
    decision: INVALID_DECISION,
  });
}

// The mutating webhook counts the patches it made; the validating one every evaluated policy,
// `passed` when it found nothing, so that a policy's share of denials can be read off.
function countPolicyResults(metrics: Metrics, webhook: Webhook, decision: Decision): void {
  const modeOf = new Map(decision.evaluated.map((e) => [e.policy, e.mode]));
  // One count per policy and outcome per request: an object with 500 findings of one policy is
  // one evaluation, and must not weigh as 500 in a denial-rate alert.
  const seen = new Set<string>();
  for (const r of decision.results) {
    const key = `${r.policy}\u0000${r.outcome}`;
    if (seen.has(key)) continue;
    seen.add(key);
    metrics.policyResults.inc({ policy: r.policy, mode: r.mode, result: r.outcome });
  }
  if (webhook === 'mutate') {
    for (const policy of decision.patchedBy) {
      metrics.policyResults.inc({ policy, mode: modeOf.get(policy) ?? '', result: 'patched' });
    }
    return;
  }
  const withResults = new Set(decision.results.map((r) => r.policy));
  for (const { policy, mode } of decision.evaluated) {
    if (!withResults.has(policy)) metrics.policyResults.inc({ policy, mode, result: 'passed' });
  }
}
