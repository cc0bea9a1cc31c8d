/**
 * Writing a JSON answer in one piece.
 *
 * express's `res.json` stringifies, then `res.send` turns a body of 1000 characters or more into
 * a Buffer, so Node writes the header block and the body as two chunks, and for each answer runs
 * content-type and charset lookups. Here the body stays a string with its length and type set
 * beforehand, so that `res.end` joins header and body into one string, one write to the TLS
 * socket and one TLS record (Node's `OutgoingMessage._send` prepends the header to a string
 * body).
 */
import type { ServerResponse } from 'node:http';

/** The content type of every JSON answer, as express's `res.json` spells it. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Answers `status` with `body` serialized as JSON, in one write. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
