/**
 * The express application of the webhook: probes, the two admission endpoints and the one error
 * handler. It holds no socket, so tests drive it in-process with supertest; start.ts serves it
 * over HTTPS.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { admissionHandler, type AdmissionDeps } from '../admission/handler.js';
import { errorHandler } from './errors.js';
import { HTTP_STATUS, HttpError, statusBody } from './http-error.js';
import { jsonBody } from './json-body.js';
import type { Readiness } from './readiness.js';

/**
 * Default request body limit: 16 MiB.
 *
 * The API server refuses request bodies over 3 MiB (k8s.io/apiserver server config
 * `MaxRequestBodyBytes`), and an UPDATE's AdmissionReview carries the object twice (`object` and
 * `oldObject`) plus a small envelope (userInfo, options): 6 MiB and a few KiB. But the review is
 * the API server's own JSON encoding, which can be larger than what the client sent: `bytes`
 * fields sent as protobuf (Secret `data`, ConfigMap `binaryData`) become base64, 4/3 larger, and
 * Go's encoding/json writes `<`, `>` and `&` as six-byte `\u003c` escapes; managedFields are
 * added too. 2 × 3 MiB × 4/3 is 8 MiB; twice that leaves room for heavy escaping.
 * Known limitation: an object made mostly of `<>&` can still exceed 16 MiB once escaped, because
 * the escaping grows it sixfold; such a request is answered 413 and the webhook's failurePolicy
 * applies. Raise `maxBodyBytes` for clusters that store such objects.
 */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

const JSON_TYPES = ['application/json', 'application/*+json'];

/** What the application needs. */
export interface AdmissionAppDeps extends AdmissionDeps {
  readiness: Readiness;
  /** Largest accepted request body in bytes; DEFAULT_MAX_BODY_BYTES by default. */
  maxBodyBytes?: number;
}

/** Builds the express application (no socket). */
export function createAdmissionApp(deps: AdmissionAppDeps): Express {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(closeWhenStopping(deps.readiness));

  app.get('/healthz', function healthz(_req, res) {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', function readyz(_req, res) {
    const ready = deps.readiness.ready;
    res.status(ready ? 200 : HTTP_STATUS.serviceUnavailable).json({
      status: ready ? 'ok' : 'not ready',
      waitingFor: deps.readiness.reasons(),
    });
  });

  // Any JSON value gets through, so that the decoder says what it expected of a bare `42`.
  const parseJson = jsonBody({ limit: maxBodyBytes, type: JSON_TYPES });
  for (const webhook of ['mutate', 'validate'] as const) {
    app.post(`/${webhook}`, requireJson, parseJson, admissionHandler(webhook, deps));
    app.all(`/${webhook}`, methodNotAllowed);
  }
  app.use(notFound);
  app.use(errorHandler({ logger: deps.logger, metrics: deps.metrics, maxBodyBytes }));
  return app;
}

// While draining, answers ask the client to close the connection, so that keep-alive clients
// move to another replica instead of reusing a socket that is about to go away.
function closeWhenStopping(readiness: Readiness) {
  return function connectionClose(_req: Request, res: Response, next: NextFunction): void {
    if (readiness.stopping) res.setHeader('Connection', 'close');
    next();
  };
}

// `req.is` is null when the request has no body framing at all; `Content-Length: 0` is framed.
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  const type = isPlainJson(req) ? JSON_TYPES[0] : req.is(JSON_TYPES);
  if (type === null || req.headers['content-length'] === '0') {
    throw new HttpError(HTTP_STATUS.badRequest, 'request body is empty: send an AdmissionReview');
  }
  if (type === false) {
    throw new HttpError(HTTP_STATUS.unsupportedMediaType, 'content-type must be application/json');
  }
  next();
}

// What the API server sends: exactly `application/json` and a body framed by its length, which
// settles `req.is` without parsing the media type (type-is), as it would settle it.
function isPlainJson(req: Request): boolean {
  const { headers } = req;
  return (
    headers['content-type'] === JSON_TYPES[0] &&
    headers['content-length'] !== undefined &&
    headers['transfer-encoding'] === undefined
  );
}

function methodNotAllowed(req: Request, res: Response): void {
  res.setHeader('Allow', 'POST');
  res
    .status(HTTP_STATUS.methodNotAllowed)
    .json(statusBody(405, 'MethodNotAllowed', `use POST ${req.path}`));
}

function notFound(_req: Request, res: Response): void {
  res.status(HTTP_STATUS.notFound).json(statusBody(404, 'NotFound', 'no such endpoint'));
}
