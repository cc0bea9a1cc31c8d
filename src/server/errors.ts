/**
 * The one error-handling middleware: HttpErrors and body-parser failures become 400/413/415 with
 * a `v1 Status` body saying what was wrong; anything else is a bare 500 with no internals.
 */
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Webhook } from '../engine/engine.js';
import { REQUEST_LOGGER } from '../admission/handler.js';
import { LOG_FIELD as F, LOG_MESSAGE } from '../logging/fields.js';
import type { Logger } from '../logging/logger.js';
import { recordInvalid, type Metrics } from '../metrics/metrics.js';
import { HTTP_STATUS, HttpError, statusBody } from './http-error.js';

/** What the error handler needs. */
export interface ErrorHandlerDeps {
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes: number;
}

const WEBHOOK_PATHS: Record<string, Webhook> = { '/mutate': 'mutate', '/validate': 'validate' };

/** The error middleware; registered last. */
export function errorHandler(deps: ErrorHandlerDeps): ErrorRequestHandler {
  return function handleError(err: unknown, req: Request, res: Response, next): void {
    const log = (res.locals[REQUEST_LOGGER] as Logger | undefined) ?? deps.logger;
    const httpError = toHttpError(err, deps.maxBodyBytes);
    if (res.headersSent) {
      log.error({ [F.err]: err }, LOG_MESSAGE.unexpected);
      next(err);
      return;
    }
    if (httpError === undefined) {
      log.error({ [F.err]: err }, LOG_MESSAGE.unexpected);
      res.status(500).json(statusBody(500, 'InternalError', 'internal error'));
      return;
    }

    const webhook = WEBHOOK_PATHS[req.path];
    if (webhook !== undefined) recordInvalid(deps.metrics, webhook);
    // The message only: body-parser's own messages can quote the body, which is never logged.
    log.warn(
      { [F.status]: httpError.status, [F.reason]: httpError.message },
      LOG_MESSAGE.badRequest,
    );
    res
      .status(httpError.status)
      .json(statusBody(httpError.status, httpError.reason, httpError.message));
  };
}

// body-parser marks its errors with `type` and `status`
// (https://github.com/expressjs/body-parser#errors); each gets our own client-safe message.
function toHttpError(err: unknown, maxBodyBytes: number): HttpError | undefined {
  if (err instanceof HttpError) return err;
  const type = (err as { type?: unknown } | null)?.type;
  switch (type) {
    case 'entity.too.large':
      return new HttpError(
        HTTP_STATUS.payloadTooLarge,
        `request body exceeds the limit of ${maxBodyBytes} bytes`,
        { cause: err },
      );
    case 'entity.parse.failed':
      return new HttpError(HTTP_STATUS.badRequest, 'request body is not valid JSON', {
        cause: err,
      });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(HTTP_STATUS.unsupportedMediaType, 'request body must be UTF-8 JSON', {
        cause: err,
      });
    case 'request.aborted':
    case 'request.size.invalid':
      return new HttpError(HTTP_STATUS.badRequest, 'request body was incomplete', { cause: err });
    default:
      return undefined;
  }
}
