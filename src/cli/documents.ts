/**
 * Kubernetes objects from files, for the offline commands (`check`, `mutate`): which files a set
 * of paths names, multi-document YAML and JSON, `List` kinds, and where each object starts, so
 * that every message can point at `file:line`.
 *
 * YAML is read as kubectl reads it. kubectl converts YAML with sigs.k8s.io/yaml, which uses the
 * YAML 1.1 rules of go-yaml v2: `yes`/`no`/`on`/`off` are booleans and `0644` is octal
 * (https://github.com/kubernetes-sigs/yaml). Reading the 1.2 way instead would let
 * `privileged: yes` pass `check` as a string and reach the cluster as `true`. go-yaml v2 keeps
 * timestamp-like and `1:20`-like plain scalars as strings, so those 1.1 tags are left out.
 */
import { closeSync, openSync, readSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import {
  LineCounter,
  isCollection,
  isMap,
  isSeq,
  parseAllDocuments,
  visit,
  type Document,
  type ParseOptions,
  type DocumentOptions,
  type SchemaOptions,
  type ToJSOptions,
} from 'yaml';
import { isRecord } from '../engine/paths.js';
import type { KubeObject } from '../engine/policy.js';

/** Extensions of the files `check` reads in a folder (a file named explicitly is read anyway). */
export const MANIFEST_EXTENSIONS: readonly string[] = ['.yaml', '.yml', '.json'];

/** An object found in a file, with where it starts. */
export interface SourceObject {
  file: string;
  /** 1-based index of the YAML document in the file. */
  document: number;
  /** 1-based line where the object (or the List item) starts. */
  line: number;
  object: KubeObject;
}

export const NOTE_KINDS = ['empty', 'not-object', 'not-kubernetes'] as const;
/** Why a document was skipped: empty, not a mapping, or a mapping without kind/apiVersion. */
export type NoteKind = (typeof NOTE_KINDS)[number];

/** A document (or List item) that holds no Kubernetes object, skipped on purpose. */
export interface SourceNote {
  file: string;
  line: number;
  kind: NoteKind;
  message: string;
}

/** Why a path or file could not be read: missing, unreadable, or not valid YAML. */
export interface SourceProblem {
  file: string;
  /** 1-based position of a YAML error, when there is one. */
  line?: number;
  column?: number;
  /** `unparsable` for YAML errors (a file that was read), `unreadable` otherwise. */
  kind: 'unreadable' | 'unparsable';
  message: string;
}

/** Everything read from one file. A file with a problem yields no objects at all. */
export interface FileDocuments {
  file: string;
  objects: SourceObject[];
  notes: SourceNote[];
  problem?: SourceProblem;
}

// go-yaml v2 resolves neither timestamps nor base-60 numbers into values kubectl sends: see the
// module comment. Merge keys (`<<`), booleans and octal stay, as in go-yaml v2.
const KUBECTL_YAML: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  uniqueKeys: true,
  customTags: (tags) =>
    tags.filter(
      (t) =>
        !(
          typeof t === 'object' &&
          (t.tag === 'tag:yaml.org,2002:timestamp' || t.format === 'TIME')
        ),
    ),
};
// yaml's default alias budget guards against "billion laughs" documents (exponential aliases).
const TO_JS: ToJSOptions = { maxAliasCount: 100 };
const MAX_FOLDER_DEPTH = 32;

/** The path that names standard input (`helm template ... | phi-guard check -`). */
export const STDIN_PATH = '-';
/** How `check` and `mutate` name standard input in their output. */
export const STDIN_NAME = '<stdin>';

/**
 * Largest manifest file read, in bytes: 64 MiB, twenty times the API server's 3 MiB limit on one
 * object, so a whole-cluster export fits. A larger input (or an endless one: a device, a pipe
 * that never ends) is refused instead of growing the process until the CI runner kills it.
 */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
const TEMPLATE_HINT =
  'the file looks like an unrendered template ({{ ... }}): render it first (helm template...)';

/**
 * The files that `paths` name, in a stable order: files as given, folders walked recursively for
 * MANIFEST_EXTENSIONS. Folders whose name starts with a dot (`.git`, `.github`) are not entered,
 * since they hold tooling YAML, not manifests. Missing paths come back as problems.
 */
export function findManifestFiles(paths: readonly string[]): {
  files: string[];
  problems: SourceProblem[];
} {
  const files: string[] = [];
  const problems: SourceProblem[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    if (path === STDIN_PATH) {
      files.push(path);
      continue;
    }
    try {
      if (statSync(path).isDirectory()) walkFolder(path, files, seen, 0);
      else files.push(path);
    } catch (err) {
      problems.push({ file: path, kind: 'unreadable', message: describeFsError(err) });
    }
  }
  return { files, problems };
}

function walkFolder(dir: string, files: string[], seen: Set<string>, depth: number): void {
  // Symbolic links may loop back to a parent; the real path is visited once, and depth is capped.
  const real = realpathSync(dir);
  if (seen.has(real) || depth > MAX_FOLDER_DEPTH) return;
  seen.add(real);
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  );
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() || (entry.isSymbolicLink() && isFolder(path))) {
      if (!entry.name.startsWith('.')) walkFolder(path, files, seen, depth + 1);
    } else if (
      MANIFEST_EXTENSIONS.includes(extname(entry.name).toLowerCase()) &&
      (entry.isFile() || (entry.isSymbolicLink() && isRegularFile(path)))
    ) {
      // Only regular files: a FIFO or socket named `x.yaml` in a folder would block the walk.
      files.push(path);
    }
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// A link that leads nowhere counts as a file, so that reading it reports the missing target.
function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return true;
  }
}

/** `ENOENT: no such file or directory`-style text without the stack or the errno number. */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file or directory';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a directory';
  return e.code ?? (err instanceof Error ? err.message : String(err));
}

/**
 * Reads one file (`-`: standard input) into objects; any YAML error makes the whole file a
 * problem (none half-read).
 */
export function readManifestFile(path: string): FileDocuments {
  const file = path === STDIN_PATH ? STDIN_NAME : path;
  const problem = (kind: SourceProblem['kind'], message: string): FileDocuments => ({
    file,
    objects: [],
    notes: [],
    problem: { file, kind, message },
  });
  let bytes: Buffer | undefined;
  try {
    bytes = readLimited(path === STDIN_PATH ? 0 : path, MAX_MANIFEST_BYTES);
  } catch (err) {
    return problem('unreadable', describeFsError(err));
  }
  if (bytes === undefined) {
    const mib = MAX_MANIFEST_BYTES / 1024 / 1024;
    return problem('unreadable', `larger than ${mib} MiB; split it into several files`);
  }
  const text = decodeText(bytes);
  // kubectl refuses such input too; YAML would report a confusing syntax error instead.
  if (text.includes('\0')) return problem('unparsable', 'not a text file (it holds NUL bytes)');
  const read = parseManifests(text, file);
  // kubectl apply -f - refuses input without objects ("no objects passed to apply"); passing it
  // would let `helm template ... | phi-guard check -` pass in CI when helm itself failed.
  if (path === STDIN_PATH && !read.problem && read.objects.length === 0) {
    return problem('unreadable', 'standard input holds no objects: nothing passed to check');
  }
  return read;
}

// At most `limit` bytes of a file or descriptor, or undefined when there are more. Read in
// chunks, so that a device or pipe without an end (`/dev/zero`) stops at the limit.
function readLimited(source: string | number, limit: number): Buffer | undefined {
  const fd = typeof source === 'number' ? source : openSync(source, 'r');
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, limit + 1 - total));
      const n = readSyncRetrying(fd, chunk);
      if (n === 0) return Buffer.concat(chunks, total);
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > limit) return undefined;
    }
  } finally {
    if (typeof source !== 'number') closeSync(fd);
  }
}

// Standard input may be a non-blocking pipe, whose reads fail with EAGAIN until data arrives.
function readSyncRetrying(fd: number, buffer: Buffer): number {
  for (;;) {
    try {
      return readSync(fd, buffer, 0, buffer.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EOF') return 0;
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/**
 * UTF-8, or UTF-16 when the text starts with its byte order mark, which is what Windows
 * PowerShell's `>` writes and what kubectl reads: k8s.io/cli-runtime's FileVisitor decodes every
 * file through `unicode.BOMOverride(unicode.UTF8.NewDecoder())`.
 */
export function decodeText(bytes: Buffer): string {
  // A lone trailing byte is no character: U+FFFD marks it, as Go's UTF-16 decoder does.
  const odd = bytes.length % 2 === 1 ? '\uFFFD' : '';
  const units = bytes.subarray(2, bytes.length - (bytes.length % 2));
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return units.toString('utf16le') + odd;
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return Buffer.from(units).swap16().toString('utf16le') + odd;
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parses manifest text (YAML or JSON, several documents) into objects and notes. */
export function parseManifests(text: string, file: string): FileDocuments {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { ...KUBECTL_YAML, lineCounter });
  const list = Array.isArray(docs) ? docs : [docs];
  const result: FileDocuments = { file, objects: [], notes: [] };

  for (const [i, doc] of list.entries()) {
    const problem =
      documentProblem(doc, text, file, lineCounter) ??
      collectDocument(doc, i + 1, lineCounter, result);
    if (problem) return { file, objects: [], notes: [], problem };
  }
  if (list.length === 0) {
    result.notes.push({ file, line: 1, kind: 'empty', message: 'the file holds no document' });
  }
  return result;
}

function documentProblem(
  doc: Document,
  text: string,
  file: string,
  lines: LineCounter,
): SourceProblem | undefined {
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0] ?? lines.linePos(error.pos[0]);
    const what =
      error.code === 'DUPLICATE_KEY'
        ? `duplicate key ${JSON.stringify(keyAt(text, error.pos[0]))} ` +
          '(kubectl refuses duplicate fields too)'
        : firstLine(error.message);
    const hint = text.includes('{{') ? `; ${TEMPLATE_HINT}` : '';
    return {
      file,
      kind: 'unparsable',
      line: pos.line,
      column: pos.col,
      message: `YAML: ${what}${hint}`,
    };
  }
  // An unrendered template (`{{ .Values.x }}`) parses as a mapping used as a key. Converting it
  // would stringify the key into nonsense, so it is reported as the template it probably is.
  let templateAt: number | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isCollection(pair.key)) {
        templateAt = pair.key.range?.[0] ?? 0;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  if (templateAt === undefined) return undefined;
  const pos = lines.linePos(templateAt);
  const message = `YAML: a mapping is used as a key; ${TEMPLATE_HINT}`;
  return { file, kind: 'unparsable', line: pos.line, column: pos.col, message };
}

// The key as written at `offset`, for naming it in a message (a key, never a value).
function keyAt(text: string, offset: number): string {
  const key = /^[^:\n]*/.exec(text.slice(offset, offset + 200))?.[0] ?? '';
  return key
    .trim()
    .replace(/^["']|["']$/g, '')
    .slice(0, 80);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

// Adds the document's object(s) or a note to `out`; a document that cannot be converted (too
// many aliases) is returned as the file's problem.
function collectDocument(
  doc: Document,
  index: number,
  lines: LineCounter,
  out: FileDocuments,
): SourceProblem | undefined {
  const node = doc.contents;
  const line = lines.linePos(node?.range?.[0] ?? doc.range?.[0] ?? 0).line;
  let value: unknown;
  try {
    value = doc.toJS(TO_JS);
  } catch (err) {
    const reason = firstLine(String((err as Error).message));
    const message = `YAML: document ${index} cannot be read (${reason})`;
    return { file: out.file, kind: 'unparsable', line, message };
  }

  if (isRecord(value) && isListKind(value))
    return collectList(value, node, index, line, lines, out);
  const skip = skipReason(value);
  if (skip)
    out.notes.push({
      file: out.file,
      line,
      kind: skip[0],
      message: `document ${index}: ${skip[1]}`,
    });
  else out.objects.push({ file: out.file, document: index, line, object: value as KubeObject });
  return undefined;
}

/** Why a document or List item holds no Kubernetes object, or undefined when it holds one. */
function skipReason(value: unknown): [NoteKind, string] | undefined {
  if (value === null || value === undefined) return ['empty', 'empty, skipped'];
  if (!isRecord(value)) {
    return [
      'not-object',
      `is ${Array.isArray(value) ? 'a list' : 'a scalar'}, not an object; skipped`,
    ];
  }
  if (!isKubernetesObject(value)) {
    return [
      'not-kubernetes',
      'has no kind or apiVersion, so it is not a Kubernetes object; skipped',
    ];
  }
  const group = String(value.apiVersion).split('/')[0]!;
  if (CLIENT_CONFIG_GROUPS.includes(group)) {
    const what = `${value.kind} (${group})`;
    return ['not-kubernetes', `is a ${what} file for a tool, not an API object; skipped`];
  }
  return undefined;
}

/**
 * API groups of files that tools read and the API server never stores: kustomize's
 * kustomization.yaml, kind's cluster config, KRM function configs. kubectl apply -f would refuse
 * them ("no matches for kind"), so judging them as objects would only add noise.
 */
const CLIENT_CONFIG_GROUPS: readonly string[] = [
  'kustomize.config.k8s.io',
  'kind.x-k8s.io',
  'config.kubernetes.io',
];

/** `kind: List` (kubectl's generic list) and typed lists such as `PodList`, with their items. */
function isListKind(value: Record<string, unknown>): boolean {
  return (
    typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)
  );
}

function isKubernetesObject(value: Record<string, unknown>): value is KubeObject {
  return (
    typeof value.kind === 'string' && value.kind !== '' && typeof value.apiVersion === 'string'
  );
}

function collectList(
  list: Record<string, unknown>,
  node: Document['contents'],
  index: number,
  listLine: number,
  lines: LineCounter,
  out: FileDocuments,
): undefined {
  const itemsNode = isMap(node) ? node.get('items', true) : undefined;
  // A typed list (`PodList`) may omit its items' kind, as the API server's own lists do.
  const itemKind = list.kind === 'List' ? undefined : String(list.kind).slice(0, -'List'.length);

  (list.items as unknown[]).forEach((item, i) => {
    const itemNode: unknown = isSeq(itemsNode) ? itemsNode.items[i] : undefined;
    const range = (itemNode as { range?: [number, number, number] } | undefined)?.range;
    const line = range ? lines.linePos(range[0]).line : listLine;
    const object =
      itemKind && isRecord(item) && item.kind === undefined
        ? { apiVersion: list.apiVersion, kind: itemKind, ...item }
        : item;
    const skip = skipReason(object);
    const where = `document ${index}, item ${i}`;
    if (skip)
      out.notes.push({ file: out.file, line, kind: skip[0], message: `${where}: ${skip[1]}` });
    else out.objects.push({ file: out.file, document: index, line, object: object as KubeObject });
  });
  return undefined;
}
