/**
 * The one typed HTTP error of the server. Anything thrown on the request path that is not an
 * HttpError is unexpected and answered with a bare 500 by the error handler (see errors.ts).
 */

/** HTTP statuses the server answers bad input with. */
export const HTTP_STATUS = {
  badRequest: 400,
  notFound: 404,
  methodNotAllowed: 405,
  payloadTooLarge: 413,
  unsupportedMediaType: 415,
  serviceUnavailable: 503,
} as const;
/** One of HTTP_STATUS. */
export type HttpStatus = (typeof HTTP_STATUS)[keyof typeof HTTP_STATUS];

// Reasons as metav1.Status spells them (k8s.io/apimachinery/pkg/apis/meta/v1 StatusReason), so
// that an error body reads like one from the API server itself.
const REASONS: Record<HttpStatus, string> = {
  400: 'BadRequest',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  503: 'ServiceUnavailable',
};

/** An error with the status and the client-safe message to answer with. */
export class HttpError extends Error {
  constructor(
    readonly status: HttpStatus,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }

  /** The metav1.Status reason of this error's status. */
  get reason(): string {
    return REASONS[this.status];
  }
}

/** A `v1 Status` body (the API server's own error shape) for an error answer. */
export function statusBody(status: number, reason: string, message: string) {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code: status, reason, message };
}
