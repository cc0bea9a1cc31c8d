/**
 * Field paths in two spellings: JSON Pointers (RFC 6901) for patches, and the dotted form
 * kubectl users read in messages (`spec.containers[0].image`).
 */
import type { PatchOperation } from './policy.js';

/** One step of a path: an object key or an array index. */
export type Segment = string | number;

/** Escapes one reference token: `~` first, then `/` (RFC 6901 section 4 order). */
export function escapeToken(token: Segment): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** JSON Pointer for a list of segments, e.g. `/spec/containers/0`. */
export function toPointer(segments: readonly Segment[]): string {
  return segments.map((s) => '/' + escapeToken(s)).join('');
}

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** Dotted field path as in Kubernetes errors: `metadata.annotations["a.b/c"]`, `x[0]`. */
export function toFieldPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (PLAIN_KEY.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** True for a non-null, non-array object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a value by segments; undefined as soon as a step is missing or of the wrong type. */
export function getIn(root: unknown, segments: readonly Segment[]): unknown {
  let cur: unknown = root;
  for (const s of segments) {
    if (typeof s === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[s];
    } else {
      if (!isRecord(cur)) return undefined;
      cur = Object.prototype.hasOwnProperty.call(cur, s) ? cur[s] : undefined;
    }
  }
  return cur;
}

/**
 * Emits the `add` operation that sets `value` at `segments` only when nothing is there yet.
 *
 * Array indexes in `segments` must exist (entries are never invented). Missing object parents
 * are created in the same operation (the value is wrapped), because RFC 6902
 * `add` fails when the parent does not exist. When a parent exists but is not an object (a
 * malformed `securityContext: "x"`), nothing is emitted: overriding it would hide the error
 * that validation reports.
 */
export function addIfUnset(
  root: unknown,
  segments: readonly Segment[],
  value: unknown,
): PatchOperation | undefined {
  let cur: unknown = root;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as Segment;
    if (typeof s === 'number') {
      // Array steps must already exist: inventing list entries is not "filling in a default".
      if (!Array.isArray(cur) || s >= cur.length) return undefined;
      cur = cur[s];
      continue;
    }
    if (!isRecord(cur)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, s) || cur[s] === undefined || cur[s] === null) {
      let wrapped = value;
      for (let j = segments.length - 1; j > i; j--) wrapped = { [segments[j] as string]: wrapped };
      return { op: 'add', path: toPointer(segments.slice(0, i + 1)), value: wrapped };
    }
    cur = cur[s];
  }
  return undefined;
}
