/**
 * Starting the webhook: policies and config, engine, certificates, the HTTPS server with the
 * admission app, the metrics server, config and certificate reloading, and graceful shutdown.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Express } from 'express';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { DestinationStream } from 'pino';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { loadAndWatchConfig, type ConfigWatch } from '../config/watch.js';
import { Engine } from '../engine/engine.js';
import { POD_KINDS } from '../engine/pod-spec.js';
import type { ClusterLookup, Policy } from '../engine/policy.js';
import { loadPolicies } from '../engine/registry.js';
import { LOG_FIELD as F, LOG_MESSAGE } from '../logging/fields.js';
import { createLogger, type Logger, type LogLevel } from '../logging/logger.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { listen } from './listen.js';
import { TLS_MIN_VERSION, type CertStore } from '../tls/cert-store.js';
import { loadCertificates, type CertificateProvider } from './certificates.js';
import { createAdmissionApp } from './app.js';
import { Readiness } from './readiness.js';

/** Default HTTPS port of the admission endpoints. */
export const DEFAULT_PORT = 8443;
/** Default plain-HTTP port of `/metrics`. */
export const DEFAULT_METRICS_PORT = 9090;
/**
 * Default pause between readiness turning off and the listener closing: the time the endpoints
 * controller and kube-proxy take to drop the pod from the Service, so that no new connection
 * lands on a closed port (Kubernetes docs, "Pod termination").
 */
export const DEFAULT_SHUTDOWN_DELAY_MS = 5_000;
/** Default time in-flight requests get to finish before their connections are cut. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 20_000;
/**
 * Default keep-alive idle timeout. The API server's webhook client (Go net/http) keeps idle
 * connections for 90 s; a server that closes first races the client reusing the socket and the
 * call fails, so the server waits longer than that.
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 120_000;
// The API server gives up on a webhook after at most 30 s (webhook timeoutSeconds maximum).
const HEADERS_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 35_000;

/** Options of {@link startServer}; every field is optional. */
export interface ServerOptions {
  /** HTTPS port (default 8443; 0 picks a free port). */
  port?: number;
  /** Address to listen on (default: all interfaces). */
  host?: string;
  /** Plain-HTTP metrics port (default 9090; 0 picks a free port). */
  metricsPort?: number;
  /** PEM serving certificate and key files; both or neither. Without them, dev certificates. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Folder for development certificates (default `.phi-guard/certs` under the cwd). */
  certDir?: string;
  /** Config file; the built-in defaults when unset (then nothing is watched). */
  configPath?: string;
  /** Log level (default info) and destination (default stdout), or a ready logger. */
  logLevel?: LogLevel;
  logDestination?: DestinationStream;
  logger?: Logger;
  /** Policies to serve; every module in `policies/` by default. */
  policies?: ReadonlyMap<string, Policy>;
  /** Cluster state for policies (the namespace cache); none by default. */
  cluster?: ClusterLookup;
  /**
   * Conditions readiness waits for besides certificates and config, e.g. the namespace cache's
   * first sync: name → promise resolved when met.
   */
  readyWhen?: Record<string, Promise<unknown>>;
  /** Pause between readiness off and closing the listener (default 5 s). */
  shutdownDelayMs?: number;
  /** Time in-flight requests get before connections are cut (default 20 s). */
  drainTimeoutMs?: number;
  /** Keep-alive idle timeout (default 120 s). */
  keepAliveTimeoutMs?: number;
  /** Time a new connection has to start its first request (default 20 s). */
  firstRequestTimeoutMs?: number;
  /** Request body limit in bytes (default 16 MiB, see DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Poll periods of the config and certificate watches in ms (default 5 s; 0: watch only). */
  configPollIntervalMs?: number;
  certPollIntervalMs?: number;
  /** Serves certificates from elsewhere than files (the self-managed mode); wins over files. */
  certificateProvider?: CertificateProvider;
  /** Called once when the server stops (after the listeners closed), e.g. to stop a cache. */
  onClose?: () => void | Promise<void>;
}

/** A started server. */
export interface RunningServer {
  /** Bound HTTPS port. */
  port: number;
  /** Bound metrics port. */
  metricsPort: number;
  /** CA that signed the development certificate (unset when certificate files were given). */
  caFile?: string;
  /** The certificate and key files served (unset when a provider serves from memory). */
  certFile?: string;
  keyFile?: string;
  readiness: Readiness;
  metrics: Metrics;
  logger: Logger;
  /** The config in use (changes on reload). */
  config(): Config;
  /** Graceful stop: readiness off, wait shutdownDelayMs, stop accepting, drain, close. */
  shutdown(): Promise<void>;
  /** Immediate stop: closes listeners and every connection (tests). */
  close(): Promise<void>;
}

/** Starts the server; rejects (a ConfigError for a bad config) when it cannot start. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const logger =
    options.logger ??
    createLogger({ level: options.logLevel, destination: options.logDestination });
  const cleanup: Cleanup = options.onClose ? [options.onClose] : [];
  try {
    return await start(options, logger, cleanup);
  } catch (err) {
    await closeAll(cleanup);
    throw err;
  }
}

/** Things to close on stop, in the order they were opened (closed in reverse). */
type Cleanup = Array<() => void | Promise<void>>;

async function start(
  options: ServerOptions,
  logger: Logger,
  cleanup: Cleanup,
): Promise<RunningServer> {
  const policies = options.policies ?? (await loadPolicies());
  const metrics = createMetrics({ knownKinds: knownKinds(policies) });
  const readiness = new Readiness();
  const engine = startEngine(options, policies, logger, metrics, cleanup);
  const certs = await loadCertificates(options, logger, metrics);
  cleanup.push(() => certs.close());
  waitFor(readiness, options.readyWhen ?? {}, logger);

  const app = createAdmissionApp({
    engine,
    logger,
    metrics,
    readiness,
    maxBodyBytes: options.maxBodyBytes,
  });
  const server = await listenHttps(app, certs.store, options);
  cleanup.push(() => closeServer(server));
  const metricsPort = options.metricsPort ?? DEFAULT_METRICS_PORT;
  const metricsServer = await startMetricsServer(metrics.registry, metricsPort, options.host);
  cleanup.push(() => closeServer(metricsServer.server));

  const port = (server.address() as AddressInfo).port;
  logger.info({ [F.port]: port, [F.metricsPort]: metricsServer.port }, LOG_MESSAGE.listening);
  let stopped: Promise<void> | undefined;
  return {
    caFile: certs.caFile,
    certFile: certs.certFile,
    keyFile: certs.keyFile,
    port,
    metricsPort: metricsServer.port,
    readiness,
    metrics,
    logger,
    config: () => engine().config,
    shutdown() {
      stopped ??= drain(server, readiness, logger, options).then(() => closeAll(cleanup));
      return stopped;
    },
    close() {
      readiness.stop();
      server.closeAllConnections();
      metricsServer.server.closeAllConnections();
      stopped ??= closeAll(cleanup);
      return stopped;
    },
  };
}

// The engine in use, behind a getter: a config reload swaps it while requests keep the one they
// started with (an Engine is immutable).
function startEngine(
  options: ServerOptions,
  policies: ReadonlyMap<string, Policy>,
  logger: Logger,
  metrics: Metrics,
  cleanup: Cleanup,
): () => Engine {
  let engine: Engine | undefined;
  const { config, watch } = startConfig(options, policies, logger, metrics, (next) => {
    engine = engine!.withConfig(next);
  });
  if (watch) cleanup.push(() => watch.close());
  engine = new Engine(policies, config, { cluster: options.cluster });
  return () => engine!;
}

async function listenHttps(app: Express, store: CertStore, options: ServerOptions) {
  const server = createHttpsServer(
    {
      ...store.secureContextOptions(),
      SNICallback: store.sniCallback,
      minVersion: TLS_MIN_VERSION,
    },
    app,
  );
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  closeSilentConnections(server, options.firstRequestTimeoutMs ?? HEADERS_TIMEOUT_MS);
  store.attach(server);
  await listen(server, options.port ?? DEFAULT_PORT, options.host);
  return server;
}

/**
 * Closes connections that complete the TLS handshake but never start a request. Node's
 * headersTimeout and keepAliveTimeout only run once a request has begun or ended, so such a
 * connection would otherwise hold a file descriptor for as long as its peer likes.
 */
function closeSilentConnections(server: HttpsServer, timeoutMs: number): void {
  const timers = new WeakMap<object, NodeJS.Timeout>();
  server.on('secureConnection', (socket) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs).unref();
    timers.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req) => {
    clearTimeout(timers.get(req.socket));
    timers.delete(req.socket);
  });
}

async function closeAll(cleanup: Cleanup): Promise<void> {
  for (const fn of cleanup.reverse()) await fn();
}

function closeServer(server: HttpsServer | MetricsServer['server']): Promise<void> {
  return new Promise((done) => {
    if (!server.listening) return done();
    server.close(() => done());
  });
}

function waitFor(
  readiness: Readiness,
  conditions: Record<string, Promise<unknown>>,
  logger: Logger,
): void {
  for (const [condition, promise] of Object.entries(conditions)) {
    readiness.wait(condition);
    promise.then(
      () => readiness.done(condition),
      (err: unknown) => logger.error({ [F.err]: err, [F.reason]: condition }, LOG_MESSAGE.notReady),
    );
  }
}

function startConfig(
  options: ServerOptions,
  policies: ReadonlyMap<string, Policy>,
  logger: Logger,
  metrics: Metrics,
  useConfig: (config: Config) => void,
): { config: Config; watch?: ConfigWatch } {
  const path = options.configPath;
  metrics.configLastSuccess.setToCurrentTime();
  if (path === undefined) {
    logger.info({ [F.configPath]: 'built-in defaults' }, LOG_MESSAGE.configLoaded);
    return { config: loadConfig(undefined, policies) };
  }
  const loaded = loadAndWatchConfig({
    path,
    registry: policies,
    pollIntervalMs: options.configPollIntervalMs,
    onReload(next) {
      useConfig(next);
      metrics.configReloads.inc({ result: 'success' });
      metrics.configLastSuccess.setToCurrentTime();
      logger.info({ [F.configPath]: path }, LOG_MESSAGE.configReloaded);
    },
    onReject(error) {
      metrics.configReloads.inc({ result: 'failure' });
      logger.error({ [F.configPath]: path, [F.issues]: error.issues }, LOG_MESSAGE.configRejected);
    },
    onWatchError: (err) => logger.warn({ [F.err]: err }, err.message),
  });
  logger.info({ [F.configPath]: path }, LOG_MESSAGE.configLoaded);
  return loaded;
}

// Readiness goes first so that the Service stops sending new connections during the delay; then
// the listener closes (Node also closes idle keep-alive sockets then) and in-flight requests
// finish, answering with `Connection: close`; whatever is still open after the drain timeout
// is cut.
async function drain(
  server: HttpsServer,
  readiness: Readiness,
  logger: Logger,
  options: ServerOptions,
): Promise<void> {
  const delayMs = options.shutdownDelayMs ?? DEFAULT_SHUTDOWN_DELAY_MS;
  readiness.stop();
  logger.info({ [F.delayMs]: delayMs }, LOG_MESSAGE.shutdownStarted);
  await delay(delayMs);

  const closed = new Promise<void>((done) => server.close(() => done()));
  const timeout = delay(options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS, 'timeout' as const, {
    ref: false,
  });
  if ((await Promise.race([closed, timeout])) === 'timeout') server.closeAllConnections();
  await closed;
  logger.info({}, LOG_MESSAGE.shutdownDone);
  await new Promise<void>((done) => logger.flush(() => done()));
}

function knownKinds(policies: ReadonlyMap<string, Policy>): Set<string> {
  const kinds = new Set<string>(POD_KINDS);
  for (const policy of policies.values()) {
    for (const kind of policy.match.kinds) if (kind !== '*') kinds.add(kind);
  }
  return kinds;
}
