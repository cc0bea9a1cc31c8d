/**
 * The process logger: pino writing JSON lines, one object per line, with an ISO `time`.
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import { LOG_FIELD } from './fields.js';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino level name accepted by `--log-level`. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level; `info` by default. */
  level?: LogLevel;
  /** Where lines go; stdout (see {@link stdoutDestination}) by default. Tests pass a stream. */
  destination?: DestinationStream;
}

/** True when `value` is one of LOG_LEVELS. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** A logged error: what went wrong and where, never the data it was working on. */
export interface SerializedError {
  type: string;
  message: string;
  code?: string;
  stack?: string;
  cause?: SerializedError;
}

/**
 * Serializes an error for the `err` field. Unlike pino's standard serializer it leaves out the
 * error's other properties, because libraries put the data they failed on there: body-parser's
 * `body` is the raw request, fast-json-patch's `tree` the whole object being patched.
 */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) };
  const out: SerializedError = { type: err.name, message: err.message, stack: err.stack };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') out.code = code;
  if (err.cause !== undefined && depth < 4) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/** Creates the root logger; request handlers derive child loggers from it. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      // No pid/hostname: the pod name is the log collector's to add, and a line stays short.
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ [LOG_FIELD.level]: label }) },
      serializers: { [LOG_FIELD.err]: serializeError },
    },
    options.destination ?? stdoutDestination(),
  );
}

/**
 * Standard output, written asynchronously: a line is queued and written by libuv, and lines
 * logged while a write is in flight go out together in the next one, so that under load the
 * request path makes no write system call of its own. `minLength` stays 0 so that a line is
 * written at once when the server is quiet: an auditor's line must not wait for more traffic.
 * pino flushes what is queued when the process exits (process.exit included), see
 * https://github.com/pinojs/pino/blob/main/docs/asynchronous.md; the drain also flushes.
 * Known limitation: lines still queued when the process is killed by SIGKILL (or the OOM
 * killer) are lost, because nothing runs then; at most the lines of one write in flight.
 */
export function stdoutDestination(): DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 0 });
}
