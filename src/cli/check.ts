/**
 * `phi-guard check PATH...`: the webhook's policies over manifest files before they reach a
 * cluster, with the webhook's messages, for CI.
 *
 * Every object is created, as far as admission goes, by `phi-guard-check`: mutated, patched, then
 * validated as the API server would chain the webhooks (offline.ts). Exit codes: EXIT_CODES in
 * output/io.ts (0 clean, 1 an enforce-mode violation, 2 input that could not be judged).
 */
import { ConfigError } from '../config/load.js';
import { Engine } from '../engine/engine.js';
import { findManifestFiles, readManifestFile, type FileDocuments } from './documents.js';
import { judgeOffline, loadEngine, namespacesFrom, offlineInput, offlineUser } from './offline.js';
import { EXIT_CODES, PROCESS_IO, type CliIo, type ExitCode } from './output/io.js';
import {
  objectReport,
  summarize,
  type CheckReport,
  type CheckSummary,
  type FileReport,
} from './output/report.js';
import { renderJson } from './output/json.js';
import { renderJunit, renderJunitConfigError } from './output/junit.js';
import { renderText } from './output/text.js';

export const OUTPUT_FORMATS = ['text', 'json', 'junit'] as const;
/** Report formats of `check`. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const RENDERERS: Record<OutputFormat, (report: CheckReport, summary: CheckSummary) => string> = {
  text: renderText,
  json: renderJson,
  junit: renderJunit,
};

/** Options of `phi-guard check`. */
export interface CheckOptions {
  /** Files and folders (walked recursively for .yaml, .yml, .json). */
  paths: string[];
  /** Config file; the built-in defaults when unset. */
  config?: string;
  /** Report format; `text` by default. */
  output?: OutputFormat;
  /** False to judge objects as written, without the mutating webhook's defaults. */
  mutate?: boolean;
  /** Report files that are not valid YAML (e.g. unrendered templates) without failing the run. */
  skipUnparsable?: boolean;
  /** Namespace for namespaced objects that name none; `default` as with kubectl. */
  namespace?: string;
  /** User the objects are applied as (kubectl's `--as`); `phi-guard-check` when unset. */
  as?: string;
  /** Groups of that user (kubectl's `--as-group`). */
  asGroup?: string[];
}

/**
 * Runs `check` and returns its exit code. With no paths it validates `--config` alone. Only a
 * bug in phi-guard throws; bad input and bad config are reported and give exit code 2.
 */
export async function runCheck(options: CheckOptions, io: CliIo = PROCESS_IO): Promise<ExitCode> {
  if (options.paths.length === 0 && options.config === undefined) {
    io.err(
      'phi-guard check: name at least one file or folder, or --config FILE to validate a config',
    );
    return EXIT_CODES.unreadable;
  }
  if (options.as === undefined && (options.asGroup ?? []).length > 0) {
    io.err('phi-guard check: --as-group needs --as USER (the groups belong to that user)');
    return EXIT_CODES.unreadable;
  }
  const engine = await engineOrReport(options.config, options.output ?? 'text', io);
  if (!engine) return EXIT_CODES.unreadable;
  if (options.paths.length === 0) {
    io.out(describeValidConfig(options.config!, engine));
    return EXIT_CODES.ok;
  }

  const report = await checkPaths(engine, options);
  const summary = summarize(report);
  io.out(RENDERERS[options.output ?? 'text'](report, summary));
  return summary.exitCode;
}

// A machine-readable report stays machine-readable when the config is bad: CI keeps a JUnit or
// JSON file that says why nothing was judged, instead of an empty one.
async function engineOrReport(
  config: string | undefined,
  output: OutputFormat,
  io: CliIo,
): Promise<Engine | undefined> {
  try {
    return await loadEngine(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(configErrorText(err));
    if (output === 'junit') io.out(renderJunitConfigError(err.source, err.issues));
    if (output === 'json') {
      io.out(JSON.stringify({ config: err.source, error: 'invalid config', issues: err.issues }));
    }
    return undefined;
  }
}

/** A ConfigError as the user reads it: the file, then one `path: problem` line per issue. */
export function configErrorText(err: ConfigError): string {
  return [`phi-guard: invalid config ${err.source}:`, ...err.issues.map((i) => `  ${i}`)].join(
    '\n',
  );
}

function describeValidConfig(path: string, engine: Engine): string {
  const byMode = new Map<string, string[]>();
  for (const [id, settings] of Object.entries(engine.config.policies)) {
    byMode.set(settings.mode, [...(byMode.get(settings.mode) ?? []), id]);
  }
  const modes = [...byMode].map(([mode, ids]) => `  ${mode}: ${ids.sort().join(', ')}`);
  const { exceptions } = engine.config;
  const now = Date.now();
  // Valid, but worth saying: an expired exception is ignored, so what it allowed is denied again.
  const expired = exceptions
    .filter((e) => e.expires.getTime() < now)
    .map((e) => {
      const day = e.expires.toISOString().slice(0, 10);
      const name = JSON.stringify(e.name);
      const fix = 'renew its expires date or remove it';
      return `  note: exception ${name} expired on ${day} and is ignored; ${fix}`;
    });
  return [
    `config ${path} is valid`,
    ...modes,
    `  exceptions: ${exceptions.length}`,
    ...expired,
  ].join('\n');
}

/** Checks every object under `options.paths` and returns the report (nothing is printed). */
export async function checkPaths(engine: Engine, options: CheckOptions): Promise<CheckReport> {
  const started = performance.now();
  const reads = readPaths(options.paths);
  // Every file is read before any object is judged: a Namespace defined in one file gives its
  // labels to the objects of every other file.
  const cluster = namespacesFrom(reads.flatMap((r) => r.objects.map((o) => o.object)));
  const judge = new Engine(engine.policies, engine.config, { cluster });

  const files: FileReport[] = [];
  for (const read of reads) files.push(await checkFile(judge, read, options));
  return {
    files,
    config: options.config,
    mutated: options.mutate ?? true,
    skipUnparsable: options.skipUnparsable ?? false,
    as: options.as,
    secretsByIdentity: (engine.config.policies['gitops-secrets']?.mode ?? 'off') !== 'off',
    durationMs: performance.now() - started,
  };
}

// One path at a time, so that the report keeps the order in which the user named them.
function readPaths(paths: readonly string[]): FileDocuments[] {
  const reads: FileDocuments[] = [];
  for (const path of new Set(paths)) {
    const found = findManifestFiles([path]);
    reads.push(
      ...found.problems.map((problem) => ({ file: problem.file, objects: [], notes: [], problem })),
    );
    reads.push(...found.files.map(readManifestFile));
  }
  return reads;
}

async function checkFile(
  engine: Engine,
  read: FileDocuments,
  options: CheckOptions,
): Promise<FileReport> {
  const { file } = read;
  const report: FileReport = {
    file,
    objects: [],
    notes: read.notes,
    ...(read.problem ? { problem: read.problem } : {}),
  };
  for (const source of read.objects) {
    const userInfo = offlineUser(options.as, options.asGroup);
    const input = offlineInput(source.object, { namespace: options.namespace, userInfo });
    try {
      const verdict = await judgeOffline(engine, input, options.mutate ?? true);
      report.objects.push(objectReport(source, input, verdict));
    } catch (err) {
      // Only a phi-guard bug gets here (the engine turns policy errors into findings). The run
      // goes on, and the file counts as not judged, so that the bug cannot pass for a clean run.
      const message =
        `phi-guard could not evaluate document ${source.document} (${errorName(err)}); ` +
        'please report it';
      report.problem ??= { file, line: source.line, kind: 'unreadable', message };
    }
  }
  return report;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
