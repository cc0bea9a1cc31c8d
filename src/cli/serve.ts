/**
 * `phi-guard serve`: the admission webhook server, configured by flags (a plain options object
 * that src/cli.ts fills from commander) or by environment variables, flags winning.
 *
 * | option           | flag                   | environment                  | default            |
 * | ---------------- | ---------------------- | ---------------------------- | ------------------ |
 * | port             | `--port`               | PHI_GUARD_PORT               | 8443 (0: any free) |
 * | metricsPort      | `--metrics-port`       | PHI_GUARD_METRICS_PORT       | 9090 (0: any free) |
 * | tlsCert, tlsKey  | `--tls-cert/--tls-key` | PHI_GUARD_TLS_CERT/_TLS_KEY  | development certs  |
 * | certDir          | `--cert-dir`           | PHI_GUARD_CERT_DIR           | `.phi-guard/certs` |
 * | config           | `--config`             | PHI_GUARD_CONFIG             | built-in defaults  |
 * | logLevel         | `--log-level`          | PHI_GUARD_LOG_LEVEL          | info               |
 * | selfManagedCerts | `--self-managed-certs` | PHI_GUARD_SELF_MANAGED_CERTS | off                |
 * | shutdownDelayMs  | `--shutdown-delay-ms`  | PHI_GUARD_SHUTDOWN_DELAY_MS  | 5000               |
 * | drainTimeoutMs   | `--drain-timeout-ms`   | PHI_GUARD_DRAIN_TIMEOUT_MS   | 20000              |
 * | maxBodyBytes     | `--max-body-bytes`     | PHI_GUARD_MAX_BODY_BYTES     | 16 MiB             |
 * | host             | `--host`               | PHI_GUARD_HOST               | all interfaces     |
 *
 * In a cluster (in a pod, or with a kubeconfig) the namespace cache starts and readiness waits for
 * its first sync. The self-managed mode reads PHI_GUARD_NAMESPACE (default: the pod's namespace),
 * PHI_GUARD_SERVICE_NAME (phi-guard), PHI_GUARD_CERT_SECRET (phi-guard-tls) and
 * PHI_GUARD_WEBHOOK_CONFIGURATIONS (phi-guard, comma-separated), as src/server/cluster.ts says.
 */
import { ConfigError } from '../config/load.js';
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from '../logging/logger.js';
import { startServer, type RunningServer, type ServerOptions } from '../server/start.js';
import { clusterIntegration } from '../server/cluster.js';
import { configErrorText } from './check.js';

/** Options of `phi-guard serve`, as commander hands them over (numbers may still be strings). */
export interface ServeOptions {
  /** HTTPS port of /mutate, /validate, /healthz, /readyz. */
  port?: number | string;
  /** Plain-HTTP port of /metrics. */
  metricsPort?: number | string;
  /** PEM serving certificate file (cert-manager's `tls.crt`); needs tlsKey. */
  tlsCert?: string;
  /** PEM private key file of tlsCert. */
  tlsKey?: string;
  /** Folder of the development CA and certificate, used when no certificate files are given. */
  certDir?: string;
  /** Policy config file (YAML), reloaded when it changes. */
  config?: string;
  /** fatal, error, warn, info, debug, trace or silent. */
  logLevel?: string;
  /** In a cluster without certificate files: generate a CA and patch the webhooks' caBundle. */
  selfManagedCerts?: boolean | string;
  /** Pause between readiness going off and the listener closing, on SIGTERM. */
  shutdownDelayMs?: number | string;
  /** Time in-flight requests get to finish after the listener closed. */
  drainTimeoutMs?: number | string;
  /** Largest accepted request body. */
  maxBodyBytes?: number | string;
  /** Address to listen on. */
  host?: string;
}

/** Environment variables read by `serve`, by option. */
export const SERVE_ENV = {
  port: 'PHI_GUARD_PORT',
  metricsPort: 'PHI_GUARD_METRICS_PORT',
  tlsCert: 'PHI_GUARD_TLS_CERT',
  tlsKey: 'PHI_GUARD_TLS_KEY',
  certDir: 'PHI_GUARD_CERT_DIR',
  config: 'PHI_GUARD_CONFIG',
  logLevel: 'PHI_GUARD_LOG_LEVEL',
  selfManagedCerts: 'PHI_GUARD_SELF_MANAGED_CERTS',
  shutdownDelayMs: 'PHI_GUARD_SHUTDOWN_DELAY_MS',
  drainTimeoutMs: 'PHI_GUARD_DRAIN_TIMEOUT_MS',
  maxBodyBytes: 'PHI_GUARD_MAX_BODY_BYTES',
  host: 'PHI_GUARD_HOST',
} as const satisfies Record<keyof ServeOptions, string>;

/** Flags and environment merged and checked; throws a UsageError naming the bad one. */
export function resolveServeOptions(
  options: ServeOptions,
  env: NodeJS.ProcessEnv = process.env,
): ServerOptions & { selfManagedCerts: boolean } {
  const pick = <K extends keyof ServeOptions>(
    key: K,
  ): Setting<NonNullable<ServeOptions[K]> | string> => {
    const flag = options[key];
    if (flag !== undefined) return { value: flag, source: `--${kebab(key)}` };
    return { value: nonEmpty(env[SERVE_ENV[key]]), source: SERVE_ENV[key], fromEnv: true };
  };
  const text = <K extends keyof ServeOptions>(key: K) => pick(key).value as string | undefined;
  return {
    port: integer(pick('port'), 0, 65535),
    metricsPort: integer(pick('metricsPort'), 0, 65535),
    tlsCertFile: text('tlsCert'),
    tlsKeyFile: text('tlsKey'),
    certDir: text('certDir'),
    configPath: text('config'),
    logLevel: logLevel(pick('logLevel')),
    selfManagedCerts: flag(pick('selfManagedCerts')),
    shutdownDelayMs: integer(pick('shutdownDelayMs'), 0, 600_000),
    drainTimeoutMs: integer(pick('drainTimeoutMs'), 0, 600_000),
    maxBodyBytes: integer(pick('maxBodyBytes'), 1024, 1024 ** 3),
    host: text('host'),
  };
}

/** One option's value and where it came from, for messages. */
interface Setting<T> {
  value: T | undefined;
  source: string;
  fromEnv?: boolean;
}

/** An option value that cannot be used; its message names the option, the value and what works. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Starts the server and returns once it listens; SIGTERM or SIGINT then drain it and exit 0.
 * Never throws: a bad config prints its issues, any other start failure one line, and the
 * process exits 1.
 */
export async function runServe(options: ServeOptions = {}): Promise<void> {
  let running: RunningServer;
  try {
    const resolved = resolveServeOptions(options);
    const logger = createLogger({ level: resolved.logLevel });
    const cluster = await clusterIntegration({ ...resolved, logger });
    running = await startServer({ ...resolved, ...cluster, logger });
  } catch (err) {
    process.stderr.write(`${failureText(err, 'cannot start')}\n`);
    process.exit(1);
  }
  stopOnSignals(running);
}

/** What a failure prints: a ConfigError's issues, else `what`, the message and its causes. */
export function failureText(err: unknown, what: string): string {
  if (err instanceof ConfigError) return configErrorText(err);
  const reasons: string[] = [];
  for (let e: unknown = err; e !== undefined && reasons.length < 4; e = (e as Error).cause) {
    reasons.push(e instanceof Error ? e.message.split('\n')[0]! : String(e));
    if (!(e instanceof Error)) break;
  }
  return `phi-guard: ${what}: ${reasons.join(': ')}`;
}

// Kubernetes sends SIGTERM once, then SIGKILL when the grace period ends. A second signal (a
// second Ctrl-C) means "stop now": exit 1 without waiting for the drain.
function stopOnSignals(running: RunningServer): void {
  let draining = false;
  const stop = () => {
    if (draining) process.exit(1);
    draining = true;
    running.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${failureText(err, 'shutdown failed')}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

// Flag values are quoted back; environment values are not (nothing from the environment is
// ever written to output), the variable's name is enough to find it.
function invalid(setting: Setting<unknown>, expected: string): UsageError {
  const got = setting.fromEnv ? '' : `, got ${JSON.stringify(setting.value)}`;
  return new UsageError(`${setting.source} must be ${expected}${got}`);
}

function integer(setting: Setting<number | string>, min: number, max: number): number | undefined {
  const { value } = setting;
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw invalid(setting, `an integer from ${min} to ${max}`);
  return n;
}

function flag(setting: Setting<boolean | string>): boolean {
  const { value } = setting;
  if (value === undefined || typeof value === 'boolean') return value ?? false;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw invalid(setting, 'true or false');
}

function logLevel(setting: Setting<string>): LogLevel | undefined {
  const { value } = setting;
  if (value === undefined || isLogLevel(value)) return value;
  throw invalid(setting, `one of ${LOG_LEVELS.join(', ')}`);
}
