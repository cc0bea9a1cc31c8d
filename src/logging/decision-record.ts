/**
 * The decision record: one JSON line per admission decision, for the compliance auditor.
 *
 * It says who asked (from `userInfo` only), what about (kind, namespace, name, never the object's
 * contents), what was decided and why (policy, mode, outcome, field path and message per
 * finding). Messages carry no values by the policies' contract (see src/engine/policy.ts
 * Finding), and patches are logged by path only because a patch value is object content.
 */
import { clipText, MAX_NAME_LENGTH, type AdmissionInput, type Decision } from '../engine/engine.js';
import type { Logger } from './logger.js';
import { LOG_FIELD as F, LOG_MESSAGE, VIOLATION_FIELD as V } from './fields.js';

/** Longest user name logged; OIDC and service-account names stay far below it. */
export const MAX_LOGGED_USER_LENGTH = 512;
/** Most groups logged per line; the rest are counted in one last entry. */
export const MAX_LOGGED_GROUPS = 100;
/** Longest request uid logged; the API server sends 36-character UUIDs. */
export const MAX_LOGGED_UID_LENGTH = 128;

/**
 * Who asked, bounded: the API server sends what its authenticator produced, and a line that grows
 * with the request (a user in thousands of groups, a forged review) would burden every log
 * pipeline behind it. Groups past the bound are counted, so an auditor sees that some are left.
 */
export function loggedIdentity(input: AdmissionInput): { user: string; groups: string[] } {
  const { username, groups } = input.userInfo;
  const shown = groups.slice(0, MAX_LOGGED_GROUPS).map((g) => clipText(g, MAX_LOGGED_USER_LENGTH));
  if (groups.length > MAX_LOGGED_GROUPS) {
    shown.push(`… ${groups.length - MAX_LOGGED_GROUPS} more groups`);
  }
  return { user: clipText(username, MAX_LOGGED_USER_LENGTH), groups: shown };
}

/**
 * The fields of one decision line. pino adds `time`, `level` and `msg`; `uid` and `webhook` are
 * bound on the request's child logger.
 */
export function decisionRecord(
  input: AdmissionInput,
  decision: Decision,
  durationMs: number,
): Record<string, unknown> {
  const exceptions = decision.results.flatMap((r) => (r.exception ? [r.exception.name] : []));
  const who = loggedIdentity(input);
  return {
    [F.operation]: input.operation,
    [F.kind]: clipText(input.kind, MAX_NAME_LENGTH),
    [F.subResource]: clipText(input.subResource, MAX_NAME_LENGTH) || undefined,
    [F.namespace]: clipText(input.namespace, MAX_NAME_LENGTH),
    [F.name]: clipText(input.name, MAX_NAME_LENGTH),
    [F.user]: who.user,
    [F.groups]: who.groups,
    [F.dryRun]: input.dryRun,
    [F.decision]: decision.decision,
    [F.skipped]: decision.skipped,
    [F.violations]: decision.results.map((r) => ({
      [V.policy]: r.policy,
      [V.mode]: r.mode,
      [V.outcome]: r.outcome,
      [V.reason]: r.finding.reason,
      [V.path]: r.finding.path,
      [V.message]: r.finding.message,
      [V.exception]: r.exception?.name,
    })),
    [F.patched]: decision.patch.map((op) => op.path),
    [F.exceptions]: [...new Set(exceptions)],
    [F.expiredExceptions]: decision.expiredExceptions,
    [F.notices]: decision.notices.map((n) => ({ [F.policy]: n.policy, [F.reason]: n.reason })),
    [F.durationMs]: Math.round(durationMs * 1000) / 1000,
  };
}

/**
 * Writes the decision line, then one warn line per distinct notice (break-glass acts). A dry run
 * changes nothing, so its notices stay on the decision line (`notices`) and raise no warning.
 */
export function logDecision(
  log: Logger,
  input: AdmissionInput,
  decision: Decision,
  durationMs: number,
): void {
  log.info(decisionRecord(input, decision, durationMs), LOG_MESSAGE.decision);
  for (const r of decision.results) {
    if (r.error === undefined) continue;
    log.error({ [F.policy]: r.policy, [F.err]: policyError(r.error) }, LOG_MESSAGE.policyError);
  }
  if (input.dryRun) return;

  const seen = new Set<string>();
  const who = loggedIdentity(input);
  for (const notice of decision.notices) {
    const key = `${notice.policy}\u0000${notice.reason}\u0000${notice.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    log.warn(
      {
        [F.policy]: notice.policy,
        [F.reason]: notice.reason,
        [F.user]: who.user,
        [F.groups]: who.groups,
        [F.operation]: input.operation,
        [F.kind]: clipText(input.kind, MAX_NAME_LENGTH),
        [F.subResource]: clipText(input.subResource, MAX_NAME_LENGTH) || undefined,
        [F.namespace]: clipText(input.namespace, MAX_NAME_LENGTH),
        [F.name]: clipText(input.name, MAX_NAME_LENGTH),
        [F.notice]: notice.message,
      },
      LOG_MESSAGE.notice,
    );
  }
}

/**
 * What a policy threw, for the operator: the error type and where it was thrown. The message is
 * replaced because it may quote the object (JSON.parse and regular-expression errors do).
 */
function policyError(err: unknown): Error {
  const safe = new Error('message withheld: it may quote the object');
  if (!(err instanceof Error)) return Object.assign(safe, { name: typeof err });
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  safe.name = err.name;
  safe.stack = [`${err.name}: ${safe.message}`, ...frames].join('\n');
  return safe;
}
