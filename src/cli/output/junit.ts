/**
 * JUnit XML report of `phi-guard check`, the format CI systems (GitLab, Jenkins, GitHub
 * reporters) show as test results: one testsuite per file, one testcase per object, a failure
 * listing the object's denials, warnings in `system-out`. A file that cannot be read is one
 * testcase with an error (or skipped, with `--skip-unparsable`); a document that holds no
 * object is a skipped testcase.
 *
 * XML is written by junit-report-builder (xmlbuilder underneath), which escapes text and
 * attributes and drops characters XML 1.0 cannot carry.
 */
import { createRequire } from 'node:module';
import type { Builder, TestSuite } from 'junit-report-builder';
import type { CheckReport, CheckSummary, FileReport, ObjectReport } from './report.js';

// The package's types declare an ES default export, but its CommonJS entry assigns the builder to
// `module.exports`: Node's ESM default import yields the builder, TypeScript expects `.default`.
// Requiring it gives the value its types describe.
const junit = createRequire(import.meta.url)('junit-report-builder') as Builder;

/** Renders the report as a JUnit XML document (`<testsuites>` root). */
export function renderJunit(report: CheckReport, _summary: CheckSummary): string {
  const builder = junit.newBuilder().name('phi-guard check');
  for (const file of report.files)
    addFile(builder.testSuite().name(file.file), file, report.skipUnparsable);
  return builder.build();
}

/** A JUnit document with one errored testcase: the config could not be loaded, nothing judged. */
export function renderJunitConfigError(source: string, issues: readonly string[]): string {
  const builder = junit.newBuilder().name('phi-guard check');
  const suite = builder.testSuite().name('config');
  suite.testCase().className(source).name(`load ${source}`).error(issues.join('\n'), 'config');
  return builder.build();
}

function addFile(suite: TestSuite, file: FileReport, skipUnparsable: boolean): void {
  if (file.problem) {
    const test = suite.testCase().className(file.file).name(`read ${file.file}`);
    const at = file.problem.line === undefined ? '' : ` (line ${file.problem.line})`;
    const message = `${file.problem.message}${at}`;
    if (file.problem.kind === 'unparsable' && skipUnparsable)
      test.skipped().standardOutput(cdataSafe(message));
    else test.error(message, file.problem.kind);
  }
  for (const note of file.notes) {
    if (note.kind === 'empty') continue;
    suite
      .testCase()
      .className(file.file)
      .name(`line ${note.line}`)
      .skipped()
      .standardOutput(cdataSafe(note.message));
  }
  for (const object of file.objects) addObject(suite, file.file, object);
}

function addObject(suite: TestSuite, file: string, o: ObjectReport): void {
  const ref = o.namespace ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`;
  const test = suite.testCase().className(file).name(`${ref} (line ${o.line})`);
  if (o.denials.length > 0) {
    const more = o.denials.length > 1 ? ` (and ${o.denials.length - 1} more)` : '';
    const policies = [
      ...new Set(
        o.results
          .filter((r) => r.outcome === 'denied' || r.outcome === 'error')
          .map((r) => r.policy),
      ),
    ];
    test
      .failure(`${o.denials[0]}${more}`, policies.join(','))
      .stacktrace(cdataSafe(o.denials.join('\n')));
  }
  if (o.warnings.length > 0)
    test.standardOutput(cdataSafe(o.warnings.map((w) => `warning: ${w}`).join('\n')));
}

// xmlbuilder 15 splits only the FIRST `]]>` of a CDATA section (XMLStringifier.cdata uses
// String.replace with a string pattern); any later one would end the section early.
function cdataSafe(text: string): string {
  return text.split(']]>').join(']] >');
}
