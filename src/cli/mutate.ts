/**
 * `phi-guard mutate FILE`: the objects of a file as the mutating webhook would leave them, or the
 * JSON Patch (RFC 6902) it would send, so that a GitOps repo can commit the defaults and stay in
 * sync with the cluster.
 */
import { Document } from 'yaml';
import { objectRef } from '../engine/engine.js';
import type { KubeObject, PatchOperation } from '../engine/policy.js';
import { readManifestFile, type FileDocuments } from './documents.js';
import { configErrorText } from './check.js';
import { loadEngine, mutateOffline, namespacesFrom, offlineInput } from './offline.js';
import { ConfigError } from '../config/load.js';
import { EXIT_CODES, PROCESS_IO, type CliIo, type ExitCode } from './output/io.js';

export const MUTATE_FORMATS = ['yaml', 'json'] as const;
/** Output formats of `mutate`. */
export type MutateFormat = (typeof MUTATE_FORMATS)[number];

/** Options of `phi-guard mutate`. */
export interface MutateOptions {
  file: string;
  /** Config file; the built-in defaults when unset. */
  config?: string;
  /** Format of the mutated objects; `yaml` by default. Ignored with `patch`. */
  output?: MutateFormat;
  /** Print the JSON Patch instead of the objects. */
  patch?: boolean;
  /** Namespace for namespaced objects that name none; `default` as with kubectl. */
  namespace?: string;
}

/** One object and what the mutating webhook did to it. */
interface Mutated {
  ref: string;
  line: number;
  object: KubeObject;
  patch: PatchOperation[];
}

/** Runs `mutate` and returns its exit code: 0, or 2 when the file or config cannot be read. */
export async function runMutate(options: MutateOptions, io: CliIo = PROCESS_IO): Promise<ExitCode> {
  const read = readManifestFile(options.file);
  if (read.problem) {
    const at = read.problem.line === undefined ? '' : `:${read.problem.line}`;
    io.err(`${options.file}${at}: error: ${read.problem.message}`);
    return EXIT_CODES.unreadable;
  }
  for (const note of read.notes)
    if (note.kind !== 'empty') io.err(`${note.file}:${note.line}: note: ${note.message}`);

  let mutated: Mutated[];
  try {
    mutated = await mutateAll(read, options);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(configErrorText(err));
    return EXIT_CODES.unreadable;
  }
  io.out(options.patch ? renderPatches(mutated) : renderObjects(mutated, options.output ?? 'yaml'));
  return EXIT_CODES.ok;
}

async function mutateAll(read: FileDocuments, options: MutateOptions): Promise<Mutated[]> {
  const engine = await loadEngine(
    options.config,
    namespacesFrom(read.objects.map((o) => o.object)),
  );
  const out: Mutated[] = [];
  for (const source of read.objects) {
    const input = offlineInput(source.object, { namespace: options.namespace });
    const { decision, object } = await mutateOffline(engine, input);
    out.push({ ref: objectRef(input), line: source.line, object, patch: decision.patch });
  }
  return out;
}

/** One object: its patch alone (for `kubectl patch --type json`); several: each with its name. */
function renderPatches(mutated: readonly Mutated[]): string {
  if (mutated.length === 1) return JSON.stringify(mutated[0]!.patch, null, 2);
  return JSON.stringify(
    mutated.map((m) => ({ object: m.ref, line: m.line, patch: m.patch })),
    null,
    2,
  );
}

/**
 * YAML documents, or JSON: one object alone, several as a `List` as kubectl prints them.
 * YAML is written with 1.1 quoting, so a string such as "yes" or "0644" stays a string when
 * kubectl reads it back (see documents.ts on how kubectl reads YAML).
 */
function renderObjects(mutated: readonly Mutated[], format: MutateFormat): string {
  const objects = mutated.map((m) => m.object);
  if (format === 'json') {
    const value =
      objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects };
    return JSON.stringify(value, null, 2);
  }
  return objects
    .map((o) => new Document(o, { version: '1.1' }).toString({ lineWidth: 0 }))
    .join('---\n');
}
