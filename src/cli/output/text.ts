/**
 * Text report of `phi-guard check`: one line per denial, warning, skipped document and
 * unreadable file, each starting with `file:line:` as compilers do (editors and CI annotations
 * jump to it), then a summary with the counts per policy and mode.
 */
import type { CheckReport, CheckSummary, FileReport, PolicyTally } from './report.js';
import type { SourceProblem } from '../documents.js';
import { OUTCOMES } from '../../engine/engine.js';

/** Renders the report and its summary as text. Empty documents are counted, not listed. */
export function renderText(report: CheckReport, summary: CheckSummary): string {
  const lines = report.files.flatMap(fileLines);
  if (lines.length > 0) lines.push('');
  lines.push(...summaryLines(report, summary));
  return lines.join('\n');
}

function fileLines(file: FileReport): string[] {
  const lines: Array<{ line: number; text: string }> = [];
  const at = (line: number, text: string): void =>
    void lines.push({ line, text: `${file.file}:${line}: ${text}` });
  for (const note of file.notes) if (note.kind !== 'empty') at(note.line, `note: ${note.message}`);
  for (const o of file.objects) {
    for (const d of o.denials) at(o.line, `denied: ${d}`);
    for (const w of o.warnings) at(o.line, `warning: ${w}`);
  }
  // Stable sort: an object's denials stay in the engine's order, notes fall in between objects.
  const sorted = lines.sort((a, b) => a.line - b.line).map((l) => l.text);
  return file.problem ? [problemLine(file.file, file.problem), ...sorted] : sorted;
}

function problemLine(file: string, problem: SourceProblem): string {
  const { line, column } = problem;
  const at = line === undefined ? '' : column === undefined ? `:${line}` : `:${line}:${column}`;
  return `${file}${at}: error: ${problem.message}`;
}

function summaryLines(report: CheckReport, s: CheckSummary): string[] {
  const unjudged = [
    s.unreadable > 0 ? `${s.unreadable} unreadable` : '',
    s.unparsable > 0
      ? `${s.unparsable} unparsable${report.skipUnparsable ? ' (skipped)' : ''}`
      : '',
  ].filter((x) => x !== '');
  const files = `${plural(s.files, 'file')}${unjudged.length ? ` (${unjudged.join(', ')})` : ''}`;
  const verdicts = `${s.allowed} allowed (${s.warned} with warnings), ${s.denied} denied`;
  const objects = `${plural(s.objects, 'object')}: ${verdicts}`;
  const mutation = report.mutated
    ? `${s.mutated} would be mutated`
    : 'judged as written (--no-mutate)';
  const seconds = (s.durationMs / 1000).toFixed(2);
  const speed = `${seconds} s, ${Math.round(s.objectsPerSecond)} objects/s`;

  const lines = [
    `Summary: ${files}, ${objects}; ${mutation}; ` +
      `${plural(s.skippedDocuments, 'document')} skipped; ${speed}`,
    `Config: ${report.config ?? 'built-in defaults'}`,
    ...identityNote(report),
  ];
  if (s.byPolicy.length > 0) lines.push('Findings by policy:', ...policyTable(s.byPolicy));
  lines.push(`Result: ${verdictWord(s.exitCode)} (exit ${s.exitCode})`);
  return lines;
}

// gitops-secrets judges who applies a Secret: without --as, check applies everything as a person,
// so a plain Secret that Argo CD or Flux would be refused for passes. Said once, where CI shows it.
function identityNote(report: CheckReport): string[] {
  if (report.as !== undefined || !report.secretsByIdentity) return [];
  const secrets = report.files.flatMap((f) => f.objects).filter((o) => o.kind === 'Secret').length;
  if (secrets === 0) return [];
  return [
    `Note: ${plural(secrets, 'Secret')} judged as applied by a person (no --as); a GitOps ` +
      'controller applying them may be refused by gitops-secrets. Pass --as with its service ' +
      'account (e.g. --as system:serviceaccount:argocd:argocd-application-controller) to judge ' +
      'them as it applies them.',
  ];
}

function policyTable(tallies: readonly PolicyTally[]): string[] {
  const header = ['policy', 'mode', ...OUTCOMES];
  const rows = tallies.map((t) => [t.policy, t.mode, ...OUTCOMES.map((o) => String(t.counts[o]))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const pad = (c: string, i: number): string =>
    i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!);
  const format = (cells: string[]): string => `  ${cells.map(pad).join('  ')}`.trimEnd();
  return [format(header), ...rows.map(format), ...modeTotals(tallies)];
}

function modeTotals(tallies: readonly PolicyTally[]): string[] {
  const byMode = new Map<string, number>();
  for (const t of tallies) {
    const findings = OUTCOMES.reduce((n, o) => n + t.counts[o], 0);
    byMode.set(t.mode, (byMode.get(t.mode) ?? 0) + findings);
  }
  const parts = [...byMode].map(([mode, n]) => `${mode} ${n}`);
  return [`  findings by mode: ${parts.join(', ')}`];
}

function verdictWord(exitCode: number): string {
  if (exitCode === 0) return 'passed';
  if (exitCode === 1) return 'failed: enforce-mode violations';
  return 'failed: some input could not be checked';
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
