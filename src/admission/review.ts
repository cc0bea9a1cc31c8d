/**
 * Decoding an AdmissionReview (admission.k8s.io/v1 and v1beta1) into the engine's AdmissionInput.
 *
 * Two levels of bad input, because the answer differs:
 * - the envelope (not an AdmissionReview, unknown apiVersion, no `request`, no `uid`): there is
 *   nothing to answer in kind, so it is an HttpError 400;
 * - the request's fields (unknown operation, `object` not an object...): the uid is known, so the
 *   answer is an AdmissionReview refusing the request with code 400 (see response.ts).
 *
 * Field semantics follow the API reference of admission.k8s.io/v1 AdmissionRequest
 * (https://kubernetes.io/docs/reference/config-api/apiserver-admission.v1/).
 */
import type { AdmissionInput } from '../engine/engine.js';
import { isRecord } from '../engine/paths.js';
import { OPERATIONS, type KubeObject, type Operation, type UserInfo } from '../engine/policy.js';
import { HTTP_STATUS, HttpError } from '../server/http-error.js';

export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
/** An AdmissionReview apiVersion phi-guard answers; the answer uses the same one. */
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];

/** A well-formed AdmissionReview envelope: what an answer in kind needs. */
export interface ReviewEnvelope {
  apiVersion: AdmissionApiVersion;
  uid: string;
  request: Record<string, unknown>;
}

/** A decoded request, or why its fields are unusable (answered in kind with code 400). */
export type DecodedRequest =
  | { ok: true; input: AdmissionInput }
  | { ok: false; operation: string; kind: string; problem: string };

/** Checks the envelope; throws HttpError 400 naming what is missing or wrong. */
export function decodeEnvelope(body: unknown): ReviewEnvelope {
  const bad = (message: string): never => {
    throw new HttpError(HTTP_STATUS.badRequest, message);
  };
  if (!isRecord(body)) return bad('body is not an AdmissionReview: expected a JSON object');
  if (body.kind !== 'AdmissionReview') {
    bad(`kind must be "AdmissionReview", got ${describe(body.kind)}`);
  }
  const apiVersion = body.apiVersion;
  if (!ADMISSION_API_VERSIONS.includes(apiVersion as AdmissionApiVersion)) {
    const served = ADMISSION_API_VERSIONS.join(' or ');
    bad(`apiVersion ${describe(apiVersion)} is not served; use ${served}`);
  }
  const request = body.request;
  if (!isRecord(request)) return bad('AdmissionReview has no request object');
  if (request.uid === undefined || request.uid === null || request.uid === '') {
    bad('request.uid is missing: an answer must echo it');
  }
  if (typeof request.uid !== 'string') {
    bad(`request.uid must be a string, got ${typeName(request.uid)}: an answer must echo it`);
  }
  return { apiVersion: apiVersion as AdmissionApiVersion, uid: request.uid as string, request };
}

/** Maps the request's fields into an AdmissionInput, or names the first unusable field. */
export function decodeRequest(envelope: ReviewEnvelope): DecodedRequest {
  const r = envelope.request;
  const kindRef = isRecord(r.kind) ? r.kind : {};
  const kind = stringOr(kindRef.kind, '');
  const operation = stringOr(r.operation, '');
  const problem = fieldProblem(r, kind, operation);
  if (problem !== undefined) return { ok: false, operation, kind, problem };

  const op = operation as Operation;
  const sent = (r.object ?? undefined) as KubeObject | undefined;
  const oldObject = (r.oldObject ?? undefined) as KubeObject | undefined;
  // DELETE sends `object: null` and the object in `oldObject`. CONNECT sends its options
  // (PodExecOptions...) in `object` and leaves `options` null (AdmissionRequest API reference);
  // the engine reads connect options from `options` and has no object then.
  const object = op === 'DELETE' || op === 'CONNECT' ? undefined : sent;
  const options = op === 'CONNECT' ? (sent ?? r.options ?? undefined) : (r.options ?? undefined);
  const resource = isRecord(r.resource) ? r.resource : {};

  return {
    ok: true,
    input: {
      uid: envelope.uid,
      operation: op,
      kind,
      group: stringOr(kindRef.group, ''),
      version: stringOr(kindRef.version, ''),
      resource: stringOr(resource.resource, ''),
      subResource: stringOr(r.subResource, ''),
      namespace: stringOr(r.namespace, ''),
      name: nameOf(r, op, object, oldObject),
      object,
      oldObject,
      options,
      userInfo: userInfoOf(r.userInfo),
      dryRun: r.dryRun === true,
    },
  };
}

function fieldProblem(
  r: Record<string, unknown>,
  kind: string,
  operation: string,
): string | undefined {
  if (!OPERATIONS.includes(operation as Operation)) {
    return `request.operation ${describe(r.operation)} is not one of ${OPERATIONS.join(', ')}`;
  }
  if (kind === '') return 'request.kind.kind is missing';
  // The API server sends the object on every CREATE and UPDATE; without it there is nothing to
  // judge, and judging "nothing" would deny or allow for the wrong reason.
  const writes = operation === 'CREATE' || operation === 'UPDATE';
  if (writes && (r.object === undefined || r.object === null)) {
    return `request.object is missing: the API server sends it on every ${operation}`;
  }
  for (const field of ['object', 'oldObject'] as const) {
    const value = r[field];
    if (value !== undefined && value !== null && !isRecord(value)) {
      return `request.${field} must be a JSON object or null, got ${typeName(value)}`;
    }
    const mismatch = kindMismatch(value, kind, field);
    if (mismatch !== undefined) return mismatch;
  }
  for (const field of ['object', 'oldObject', 'options'] as const) {
    if (nestedDeeperThan(r[field], MAX_DEPTH))
      return `request.${field} is nested deeper than ${MAX_DEPTH} levels`;
  }
  for (const field of ['namespace', 'name', 'subResource'] as const) {
    if (r[field] !== undefined && typeof r[field] !== 'string')
      return `request.${field} must be a string`;
  }
  if (r.dryRun !== undefined && r.dryRun !== null && typeof r.dryRun !== 'boolean') {
    return 'request.dryRun must be a boolean';
  }
  return userInfoProblem(r.userInfo);
}

// The API server converts the object to the version in request.kind (matchPolicy Equivalent) and
// sends the kind it names, so a review whose object is of another kind is not the API server's.
// Judging it by request.kind would judge a privileged Deployment as a Pod that has no pod spec.
function kindMismatch(value: unknown, kind: string, field: string): string | undefined {
  if (!isRecord(value) || typeof value.kind !== 'string' || value.kind === '') return undefined;
  if (value.kind === kind) return undefined;
  const [got, want] = [describe(value.kind), describe(kind)];
  return `request.${field}.kind ${got} does not match request.kind.kind ${want}`;
}

/**
 * Deepest nesting an object may have. The engine and policies walk objects recursively (JSON
 * Patch's deep clone among them) and Node's stack ends a few thousand levels down, while the API
 * server's decoder admits 10000 (Go encoding/json). No Kubernetes schema comes near 1000 levels,
 * so deeper input is refused in kind instead of failing the call, which the webhook's
 * failurePolicy could turn into an unchecked admission.
 */
export const MAX_DEPTH = 1000;

// Recursive, with no allocation per node, and safe from the stack limit it guards against: the
// walk turns back as soon as it is `max` levels down, so it never nests deeper than that.
function nestedDeeperThan(value: unknown, max: number, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth > max) return true;
  if (Array.isArray(value)) {
    for (const child of value) if (nestedDeeperThan(child, max, depth + 1)) return true;
    return false;
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (nestedDeeperThan(child, max, depth + 1)) return true;
  }
  return false;
}

function userInfoProblem(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) return 'request.userInfo must be an object';
  if (value.username !== undefined && typeof value.username !== 'string') {
    return 'request.userInfo.username must be a string';
  }
  const groups = value.groups;
  if (
    groups !== undefined &&
    groups !== null &&
    !(Array.isArray(groups) && groups.every(isString))
  ) {
    return 'request.userInfo.groups must be a list of strings';
  }
  return undefined;
}

// Identity comes from userInfo alone (PRODUCT.md "Admission semantics"). A request without it
// gets an empty identity, which no break-glass group or controller rule can match.
function userInfoOf(value: unknown): UserInfo {
  if (!isRecord(value)) return { username: '', groups: [] };
  const info: UserInfo = {
    username: stringOr(value.username, ''),
    groups: Array.isArray(value.groups) ? (value.groups as string[]) : [],
  };
  if (typeof value.uid === 'string') info.uid = value.uid;
  return info;
}

// Object name as messages and exceptions see it: the object's own name; on DELETE the old
// object's; for a CREATE with generateName only, that prefix plus `*` (the API server assigns
// the suffix after admission); else the name from the request URL.
function nameOf(
  r: Record<string, unknown>,
  operation: Operation,
  object: KubeObject | undefined,
  oldObject: KubeObject | undefined,
): string {
  const own = metaString(object, 'name');
  if (own) return own;
  const old = operation === 'DELETE' ? metaString(oldObject, 'name') : '';
  if (old) return old;
  const prefix = metaString(object, 'generateName');
  if (prefix) return `${prefix}*`;
  return stringOr(r.name, '');
}

function metaString(object: KubeObject | undefined, field: string): string {
  const meta = object?.metadata;
  return isRecord(meta) ? stringOr(meta[field], '') : '';
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'a list' : `a ${typeof value}`;
}

// Names the received value's type and, for short strings only, the value: it may be anything.
function describe(value: unknown): string {
  if (typeof value === 'string' && value.length <= 64) return JSON.stringify(value);
  return value === undefined ? 'nothing' : typeName(value);
}
