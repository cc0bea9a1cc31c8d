/**
 * The admission request handler: decode, evaluate, build the answer, record the decision.
 */
import { performance } from 'node:perf_hooks';
import type { Request, RequestHandler, Response } from 'express';
import { clipText, type Engine, type Webhook } from '../engine/engine.js';
import { LOG_FIELD as F, LOG_MESSAGE } from '../logging/fields.js';
import { logDecision, MAX_LOGGED_UID_LENGTH } from '../logging/decision-record.js';
import type { Logger } from '../logging/logger.js';
import { recordDecision, recordInvalid, type Metrics } from '../metrics/metrics.js';
import { sendJson } from '../server/send-json.js';
import { answerDecision, answerInvalid } from './response.js';
import { decodeEnvelope, decodeRequest } from './review.js';

/** What the admission handlers need. */
export interface AdmissionDeps {
  /** The engine in use; a getter because a config reload swaps it. */
  engine: () => Engine;
  logger: Logger;
  metrics: Metrics;
}

/** The `res.locals` key of the request-scoped logger, read by the error handler. */
export const REQUEST_LOGGER = 'log';

/** Handler of `POST /mutate` or `POST /validate` (the body is already parsed JSON). */
export function admissionHandler(webhook: Webhook, deps: AdmissionDeps): RequestHandler {
  return async function admit(req: Request, res: Response): Promise<void> {
    const started = performance.now();
    const envelope = decodeEnvelope(req.body);
    const uid = clipText(envelope.uid, MAX_LOGGED_UID_LENGTH);
    const log = deps.logger.child({ [F.uid]: uid, [F.webhook]: webhook });
    res.locals[REQUEST_LOGGER] = log;

    const decoded = decodeRequest(envelope);
    if (!decoded.ok) {
      log.warn(
        { [F.operation]: clipText(decoded.operation, 64), [F.reason]: decoded.problem },
        LOG_MESSAGE.badRequest,
      );
      recordInvalid(deps.metrics, webhook, decoded.operation, decoded.kind);
      sendJson(res, 200, answerInvalid(envelope, decoded.problem));
      return;
    }

    const { input } = decoded;
    const decision = await deps.engine().evaluate(input, webhook);
    const answer = answerDecision(envelope, input.operation, webhook, decision);
    const elapsedMs = performance.now() - started;

    logDecision(log, input, decision, elapsedMs);
    recordDecision(deps.metrics, webhook, input, decision, elapsedMs / 1000);
    sendJson(res, 200, answer);
  };
}
