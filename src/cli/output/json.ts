/**
 * JSON report of `phi-guard check`: the whole report and its summary in one document, for
 * tools (`jq`, CI dashboards). Field names follow the report types in report.ts.
 */
import type { CheckReport, CheckSummary } from './report.js';

/** Format version of the JSON report; raised when a field changes meaning or goes away. */
export const JSON_REPORT_VERSION = 1;

/** Renders the report as one pretty-printed JSON document. */
export function renderJson(report: CheckReport, summary: CheckSummary): string {
  const { files, config, mutated, skipUnparsable } = report;
  return JSON.stringify(
    {
      version: JSON_REPORT_VERSION,
      config: config ?? null,
      mutated,
      skipUnparsable,
      files,
      summary,
    },
    null,
    2,
  );
}
