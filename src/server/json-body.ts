/**
 * Reading a JSON request body: the whole body into one Buffer, then one `JSON.parse`.
 *
 * The API server sends every AdmissionReview as plain UTF-8 JSON with a Content-Length (Go
 * net/http, no Content-Encoding), and that common case is read here without body-parser's
 * per-request work (type-is, iconv decoding stream, a string built chunk by chunk). Anything
 * else (a Content-Encoding, a charset other than UTF-8) goes to express.json(), so that the
 * answers to unusual requests stay body-parser's: 413 over the limit, 400 for invalid JSON,
 * 415 for an unsupported encoding or charset, whichever reader ran.
 */
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { HTTP_STATUS, HttpError } from './http-error.js';

/** Options of {@link jsonBody}. */
export interface JsonBodyOptions {
  /** Largest accepted body in bytes; a larger one is answered 413. */
  limit: number;
  /** Media types read as JSON (type-is patterns), as express.json() takes them. */
  type: string[];
}

const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

/**
 * Middleware setting `req.body` to the parsed JSON of the request. Like express.json() with
 * `strict: false` it admits any JSON value, and an empty body reads as `{}`.
 */
export function jsonBody(options: JsonBodyOptions) {
  const fallback = express.json({ limit: options.limit, type: options.type, strict: false });
  return function readJsonBody(req: Request, res: Response, next: NextFunction): void {
    if (!isPlainUtf8(req)) {
      fallback(req, res, next);
      return;
    }
    readBody(req, options.limit)
      .then((buffer) => {
        req.body = parse(buffer);
      })
      .then(() => next(), next);
  };
}

// No Content-Encoding (or identity) and no charset but UTF-8's: what the API server sends.
function isPlainUtf8(req: IncomingMessage): boolean {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(req.headers['content-type'] ?? '');
  return charset === null || charset[1]!.toLowerCase() === 'utf-8';
}

/**
 * Reads the body into one Buffer. On failure the rest of the body is still read and dropped
 * before the error is reported, as body-parser does, so that the answer reaches a client that is
 * still sending and the keep-alive connection stays usable.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = declaredLength(req);
    if (declared !== undefined && declared > limit) {
      return drainThen(req, () => reject(tooLarge(limit)));
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        stop();
        drainThen(req, () => reject(tooLarge(limit)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      if (declared !== undefined && received !== declared) return reject(incomplete());
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onAborted = () => {
      stop();
      reject(incomplete());
    };
    const stop = () => {
      req.off('data', onData).off('end', onEnd).off('aborted', onAborted).off('error', onAborted);
    };
    req.on('data', onData).on('end', onEnd).on('aborted', onAborted).on('error', onAborted);
  });
}

function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  return header === undefined ? undefined : Number.parseInt(header, 10);
}

// 'close' follows 'end', and comes alone when the client goes away: whichever is first settles.
function drainThen(req: IncomingMessage, done: () => void): void {
  if (req.readableEnded || req.destroyed) return done();
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    done();
  };
  req.once('end', settle).once('close', settle).resume();
}

// An empty body reads as `{}`, as body-parser's JSON reader has it; the decoder then says what is
// missing. A UTF-8 byte order mark is dropped, as body-parser's decoder (iconv-lite) does.
function parse(buffer: Buffer): unknown {
  const start = UTF8_BOM.every((byte, i) => buffer[i] === byte) ? UTF8_BOM.length : 0;
  if (buffer.length === start) return {};
  try {
    return JSON.parse(buffer.toString('utf8', start));
  } catch (err) {
    throw new HttpError(HTTP_STATUS.badRequest, 'request body is not valid JSON', { cause: err });
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(
    HTTP_STATUS.payloadTooLarge,
    `request body exceeds the limit of ${limit} bytes`,
  );
}

function incomplete(): HttpError {
  return new HttpError(HTTP_STATUS.badRequest, 'request body was incomplete');
}
