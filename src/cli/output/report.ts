/**
 * The result of a `phi-guard check` run as plain data, which the text, JSON and JUnit renderers
 * share, with the summary and the exit code derived from it in one place.
 *
 * No object content goes in here: only kinds, names, field paths and the policies' messages,
 * which name containers and fields but never values of secrets (see policies/).
 */
import {
  formatFinding,
  objectRef,
  type AdmissionInput,
  type Decision,
  type Outcome,
  type PolicyResult,
} from '../../engine/engine.js';
import type { Mode } from '../../engine/policy.js';
import type { SourceNote, SourceProblem } from '../documents.js';
import { EXIT_CODES, type ExitCode } from './io.js';

/** One finding as reported: which policy, in which mode, what became of it, and the message. */
export interface ReportedResult {
  policy: string;
  mode: Mode;
  outcome: Outcome;
  reason: string;
  path: string;
  /** The webhook's message for the finding: `[policy] Kind ns/name: path: what; fix`. */
  message: string;
}

/** What check found for one object. */
export interface ObjectReport {
  file: string;
  /** 1-based YAML document index in the file, and the line the object starts on. */
  document: number;
  line: number;
  kind: string;
  namespace: string;
  name: string;
  allowed: boolean;
  /** Denial messages, exactly as the validating webhook would send them. */
  denials: string[];
  /** Warnings, exactly as the validating webhook would send them. */
  warnings: string[];
  results: ReportedResult[];
  /** JSON Pointers the mutating webhook would set before validation (values left out). */
  patched: string[];
  patchedBy: string[];
  /** Why no policy ran, e.g. `excluded-namespace`. */
  skipped?: string;
}

/** What check found in one file (or why it could not look). */
export interface FileReport {
  file: string;
  objects: ObjectReport[];
  notes: SourceNote[];
  problem?: SourceProblem;
}

/** A whole run. */
export interface CheckReport {
  files: FileReport[];
  /** Config file used; undefined for the built-in defaults. */
  config: string | undefined;
  /** False when objects were judged as written (`--no-mutate`). */
  mutated: boolean;
  /** True when unparsable files are reported but do not make the run fail (`--skip-unparsable`). */
  skipUnparsable: boolean;
  /** The user objects were judged as applied by (`--as`); undefined for `phi-guard-check`. */
  as?: string;
  /** True when gitops-secrets runs, which judges Secrets by who applies them. */
  secretsByIdentity?: boolean;
  durationMs: number;
}

/** Counts of one policy's findings by outcome, in the mode it ran in. */
export interface PolicyTally {
  policy: string;
  mode: Mode;
  counts: Record<Outcome, number>;
}

/** Totals of a run. */
export interface CheckSummary {
  files: number;
  objects: number;
  allowed: number;
  denied: number;
  /** Objects allowed with at least one warning. */
  warned: number;
  /** Objects the mutating webhook would change. */
  mutated: number;
  /** Files that could not be read at all (missing, permissions). */
  unreadable: number;
  /** Files that were read but are not valid YAML. */
  unparsable: number;
  /** Documents and List items skipped because they hold no object (empty ones included). */
  skippedDocuments: number;
  byPolicy: PolicyTally[];
  durationMs: number;
  objectsPerSecond: number;
  exitCode: ExitCode;
}

/** Turns one verdict into a report entry. */
export function objectReport(
  where: { file: string; document: number; line: number },
  input: AdmissionInput,
  verdict: { mutation: Decision | undefined; validation: Decision },
): ObjectReport {
  const { validation, mutation } = verdict;
  const ref = objectRef(input);
  const denied = validation.results.filter((r) => r.outcome === 'denied' || r.outcome === 'error');
  return {
    // Fields picked one by one: `where` may be a SourceObject, whose object stays out of reports.
    file: where.file,
    document: where.document,
    line: where.line,
    kind: input.kind,
    namespace: input.namespace,
    name: input.name,
    allowed: validation.allowed,
    denials: denied.map((r) => formatFinding(r.policy, ref, r.finding)),
    warnings: [...validation.warnings],
    results: validation.results.map((r) => reportedResult(r, ref)),
    patched: (mutation?.patch ?? []).map((op) => op.path),
    patchedBy: mutation?.patchedBy ?? [],
    ...(validation.skipped ? { skipped: validation.skipped } : {}),
  };
}

function reportedResult(r: PolicyResult, ref: string): ReportedResult {
  return {
    policy: r.policy,
    mode: r.mode,
    outcome: r.outcome,
    reason: r.finding.reason,
    path: r.finding.path,
    message: formatFinding(r.policy, ref, r.finding),
  };
}

/** Totals, per-policy tallies and the exit code of a run. */
export function summarize(report: CheckReport): CheckSummary {
  const objects = report.files.flatMap((f) => f.objects);
  const problems = report.files.map((f) => f.problem).filter((p) => p !== undefined);
  const unparsable = problems.filter((p) => p.kind === 'unparsable').length;
  const seconds = report.durationMs / 1000;
  return {
    files: report.files.length,
    objects: objects.length,
    allowed: objects.filter((o) => o.allowed).length,
    denied: objects.filter((o) => !o.allowed).length,
    warned: objects.filter((o) => o.allowed && o.warnings.length > 0).length,
    mutated: objects.filter((o) => o.patched.length > 0).length,
    unreadable: problems.length - unparsable,
    unparsable,
    skippedDocuments: report.files.reduce((n, f) => n + f.notes.length, 0),
    byPolicy: tallyByPolicy(objects),
    durationMs: report.durationMs,
    objectsPerSecond: seconds > 0 ? objects.length / seconds : 0,
    exitCode: exitCodeOf(report),
  };
}

function tallyByPolicy(objects: readonly ObjectReport[]): PolicyTally[] {
  const byKey = new Map<string, PolicyTally>();
  for (const r of objects.flatMap((o) => o.results)) {
    const key = `${r.policy}\u0000${r.mode}`;
    let tally = byKey.get(key);
    if (!tally) {
      tally = {
        policy: r.policy,
        mode: r.mode,
        counts: { denied: 0, warned: 0, audited: 0, excepted: 0, error: 0 },
      };
      byKey.set(key, tally);
    }
    tally.counts[r.outcome] += 1;
  }
  return [...byKey.values()].sort((a, b) =>
    a.policy === b.policy ? 0 : a.policy < b.policy ? -1 : 1,
  );
}

/**
 * 2 when some input could not be judged (it may hide a violation, so it wins over 1), 1 when an
 * object would be denied, 0 otherwise. Unparsable files count as unjudged input unless the run
 * was told to skip them.
 */
export function exitCodeOf(report: CheckReport): ExitCode {
  const blocking = report.files.some(
    (f) => f.problem && (f.problem.kind === 'unreadable' || !report.skipUnparsable),
  );
  if (blocking) return EXIT_CODES.unreadable;
  if (report.files.some((f) => f.objects.some((o) => !o.allowed))) return EXIT_CODES.violations;
  return EXIT_CODES.ok;
}
