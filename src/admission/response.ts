/**
 * Building the AdmissionReview answer, in the apiVersion the request came in.
 *
 * AdmissionResponse fields (admission.k8s.io/v1 API reference): `uid` echoes the request's,
 * `status` explains a refusal (a metav1.Status, whose code and message the API server returns to
 * the client), `patch` is the base64 of an RFC 6902 JSON Patch with `patchType: JSONPatch`,
 * `warnings` reach kubectl, `auditAnnotations` reach the audit log (keys without a `/`: the API
 * server prefixes them with the webhook's name).
 */
import type { Decision, Webhook } from '../engine/engine.js';
import type { Operation } from '../engine/policy.js';
import type { AdmissionApiVersion, ReviewEnvelope } from './review.js';

/** metav1.Status as an AdmissionResponse carries it. */
export interface ResponseStatus {
  status: 'Failure';
  code: number;
  reason: string;
  message: string;
}

/** The `response` of an AdmissionReview answer. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: ResponseStatus;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations: Record<string, string>;
}

/** An AdmissionReview answer. */
export interface AdmissionReviewAnswer {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

// Only CREATE and UPDATE may be patched: DELETE has no object to patch and the API server
// ignores patches to CONNECT options; a patch there would be a bug, so it is never sent.
const PATCHABLE: readonly Operation[] = ['CREATE', 'UPDATE'];

/** The answer to a decided request. */
export function answerDecision(
  envelope: ReviewEnvelope,
  operation: Operation,
  webhook: Webhook,
  decision: Decision,
): AdmissionReviewAnswer {
  const response: AdmissionResponse = {
    uid: envelope.uid,
    allowed: decision.allowed,
    auditAnnotations: decision.auditAnnotations,
  };
  if (!decision.allowed) response.status = failure(403, 'Forbidden', decision.message);
  if (decision.warnings.length > 0) response.warnings = decision.warnings;

  // Nothing to change means neither `patch` nor `patchType`: the answer then reads as the
  // non-mutating response it is, to the API server and to anyone reading captured traffic.
  const patch = decision.patch;
  if (
    webhook === 'mutate' &&
    decision.allowed &&
    patch.length > 0 &&
    PATCHABLE.includes(operation)
  ) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  return review(envelope.apiVersion, response);
}

/** The answer to a request whose fields are unusable: refused with code 400 and why. */
export function answerInvalid(envelope: ReviewEnvelope, problem: string): AdmissionReviewAnswer {
  return review(envelope.apiVersion, {
    uid: envelope.uid,
    allowed: false,
    status: failure(400, 'BadRequest', `phi-guard cannot evaluate this request: ${problem}`),
    auditAnnotations: { decision: 'invalid' },
  });
}

function failure(code: number, reason: string, message: string): ResponseStatus {
  return { status: 'Failure', code, reason, message };
}

function review(
  apiVersion: AdmissionApiVersion,
  response: AdmissionResponse,
): AdmissionReviewAnswer {
  return { apiVersion, kind: 'AdmissionReview', response };
}
