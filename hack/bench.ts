/**
 * `npm run bench`: throughput and latency of the webhook over HTTPS with keep-alive and the full
 * policy set, beside a bare Node HTTPS server that answers a fixed AdmissionReview (the ceiling).
 *
 * Three kinds of process, so that none measures itself:
 * - the server under test: the built CLI, `node dist/src/cli.js serve`, logging at info to
 *   /dev/null (one decision line per request is part of the real cost);
 * - the ceiling: this file with `--ceiling`, reading the body and answering a fixed review;
 * - the load generator: this file with `--load`, Node's https.Agent with keep-alive, either N
 *   requests in flight (closed loop, for peak throughput) or a fixed rate (open loop, for the
 *   latency at half of peak, timed from each request's scheduled start so that a stalled server
 *   cannot hide its queueing, the "coordinated omission" of closed-loop latency).
 * Client and server share the machine (2 cores here): the figures are for comparison, within
 * one run, not absolute capacity. Peak RSS is the server's VmHWM from /proc/<pid>/status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, Agent, request } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDevCertificates } from '../src/tls/certs.js';

const HERE = fileURLToPath(import.meta.url);
const CLI = join(HERE, '../../src/cli.js');
// dist/hack/bench.js → the repository root.
const REPO_ROOT = join(HERE, '../../..');
const CONCURRENCY = 16;
const WARMUP_MS = 1_000;
const WARM_UP_MS = 750;
const PEAK_MS = 4_000;
const HALF_LOAD_MS = 4_000;

/** What one load-generator run does. */
interface LoadSpec {
  port: number;
  ca: string;
  path: string;
  body: string;
  /** `closed`: `concurrency` requests always in flight. `open`: `rate` requests per second. */
  mode: 'closed' | 'open';
  concurrency: number;
  rate?: number;
  warmupMs: number;
  durationMs: number;
}

/** What one load-generator run measured. */
interface LoadResult {
  /** Answers in the measured window. */
  requests: number;
  /** Answers in the whole run, warm-up included (for CPU time per request). */
  answered: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** `auditAnnotations.decision` of the last answer, to show what was measured. */
  decision: string;
}

const LABELS = { app: 'records-api', owner: 'team-records', 'data-classification': 'phi' };

// A Deployment as teams write them: two containers, probes, env from a Secret, volumes.
function deployment(): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'records-api', namespace: 'clinical', labels: LABELS },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'records-api' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: LABELS, annotations: { 'prometheus.io/scrape': 'true' } },
        spec: podSpec(),
      },
    },
  };
}

function pod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'records-api-7d9f8-x2k4q', namespace: 'clinical', labels: LABELS },
    spec: podSpec(),
  };
}

function podSpec(): Record<string, unknown> {
  const resources = { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } };
  const app = {
    name: 'api',
    image: 'registry.k8s.io/records/api:2.14.1',
    ports: [{ name: 'http', containerPort: 8080 }],
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'DB_HOST', value: 'records-db.clinical.svc' },
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'records-db', key: 'password' } } },
    ],
    readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/live', port: 'http' }, periodSeconds: 10 },
    volumeMounts: [
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'config', mountPath: '/etc/records' },
    ],
    resources,
  };
  const proxy = {
    name: 'proxy',
    image: 'registry.k8s.io/records/proxy:1.3.0',
    ports: [{ containerPort: 8443 }],
    resources,
  };
  return {
    serviceAccountName: 'records-api',
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [app, proxy].map((c) => ({
      ...c,
      securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      },
    })),
    volumes: [
      { name: 'tmp', emptyDir: {} },
      { name: 'config', configMap: { name: 'records-api' } },
    ],
  };
}

function review(object: Record<string, unknown>, group: string, resource: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group, version: 'v1', kind: object.kind },
      resource: { group, version: 'v1', resource },
      requestKind: { group, version: 'v1', kind: object.kind },
      name: (object.metadata as { name: string }).name,
      namespace: 'clinical',
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:argocd:argocd-application-controller',
        groups: ['system:serviceaccounts'],
      },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  });
}

// --- load generator (child process) ---

async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  // A bounded pool in both modes, like the API server's webhook client: an open loop with an
  // unbounded pool opens a new TLS connection whenever answers lag, and the handshakes then
  // swamp the server (a connection storm no real client causes).
  const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency, ca: spec.ca });
  const latencies: number[] = [];
  const state = { errors: 0, answered: 0, measuring: false, decision: '' };
  const send = async (scheduled: bigint) => {
    try {
      const text = await post(agent, spec);
      state.answered += 1;
      if (state.measuring) latencies.push(Number(process.hrtime.bigint() - scheduled) / 1e6);
      state.decision =
        (JSON.parse(text) as { response?: { auditAnnotations?: { decision?: string } } }).response
          ?.auditAnnotations?.decision ?? '?';
    } catch {
      state.errors += 1;
    }
  };
  const stopAt = Date.now() + spec.warmupMs + spec.durationMs;
  setTimeout(() => (state.measuring = true), spec.warmupMs);
  if (spec.mode === 'closed') await closedLoop(spec.concurrency, stopAt, send);
  else await openLoop(spec.rate ?? 1, stopAt, send);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pick = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    requests: latencies.length,
    answered: state.answered,
    errors: state.errors,
    rps: latencies.length / (spec.durationMs / 1000),
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    decision: state.decision,
  };
}

async function closedLoop(
  concurrency: number,
  stopAt: number,
  send: (t: bigint) => Promise<void>,
): Promise<void> {
  const worker = async () => {
    while (Date.now() < stopAt) await send(process.hrtime.bigint());
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// Requests start on a fixed schedule whether or not earlier ones have answered. A timer wakes the
// loop (1 ms resolution, so fast rates send small bursts) rather than a spin that would steal
// the CPU the server shares with this process.
async function openLoop(
  rate: number,
  stopAt: number,
  send: (t: bigint) => Promise<void>,
): Promise<void> {
  const intervalNs = BigInt(Math.round(1e9 / rate));
  const inFlight = new Set<Promise<void>>();
  let next = process.hrtime.bigint();
  while (Date.now() < stopAt) {
    for (let now = process.hrtime.bigint(); now >= next; next += intervalNs) {
      const p = send(next).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    const waitMs = Number(next - process.hrtime.bigint()) / 1e6;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.floor(waitMs))));
  }
  await Promise.all(inFlight);
}

function post(agent: Agent, spec: LoadSpec): Promise<string> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: spec.port,
        method: 'POST',
        path: spec.path,
        agent,
        servername: 'localhost',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(spec.body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          res.statusCode === 200 ? done(text) : fail(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', fail);
    req.end(spec.body);
  });
}

// --- ceiling server (child process) ---

function runCeiling(port: number, certFile: string, keyFile: string): void {
  const answer = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      allowed: true,
      auditAnnotations: { decision: 'allowed' },
    },
  });
  const server = createHttpsServer(
    { cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' },
    (req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(answer));
    },
  );
  server.keepAliveTimeout = 120_000;
  server.listen(port, '127.0.0.1', () => process.send?.('ready'));
}

// --- orchestration (main process) ---

// The servers run with the NODE_OPTIONS `npm run bench` was given, so that V8 settings a
// deployment uses (e.g. --max-semi-space-size) can be measured here.
/** The server's Node options: NODE_OPTIONS when set, otherwise those the Dockerfile sets. */
function nodeOptions(): string {
  if (process.env.NODE_OPTIONS !== undefined) return process.env.NODE_OPTIONS;
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  return /^ENV .*\bNODE_OPTIONS=(\S+)/m.exec(dockerfile)?.[1] ?? '';
}

interface Target {
  name: string;
  proc: ChildProcess;
  port: number;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
    s.on('error', fail);
  });
}

async function startPhiGuard(certFile: string, keyFile: string, ca: string): Promise<Target> {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    // No kubeconfig in HOME: the server runs without a cluster, as the ceiling does.
    HOME: tmpdir(),
    PHI_GUARD_PORT: String(port),
    PHI_GUARD_METRICS_PORT: String(await freePort()),
    PHI_GUARD_TLS_CERT: certFile,
    PHI_GUARD_TLS_KEY: keyFile,
    PHI_GUARD_SHUTDOWN_DELAY_MS: '0',
    NODE_OPTIONS: nodeOptions(),
  };
  const proc = spawn(process.execPath, [CLI, 'serve'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitReady(port, ca, proc);
  return { name: 'phi-guard', proc, port };
}

async function startCeiling(certFile: string, keyFile: string): Promise<Target> {
  const port = await freePort();
  const proc = spawn(process.execPath, [HERE, '--ceiling', String(port), certFile, keyFile], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((done, fail) => {
    proc.once('message', () => done());
    proc.once('exit', (code) => fail(new Error(`ceiling server exited with ${code}`)));
  });
  return { name: 'ceiling', proc, port };
}

async function waitReady(port: number, ca: string, proc: ChildProcess): Promise<void> {
  const agent = new Agent({ ca });
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`phi-guard exited with ${proc.exitCode}`);
    const ready = await new Promise<boolean>((done) => {
      request(
        { host: '127.0.0.1', port, path: '/readyz', agent, servername: 'localhost' },
        (res) => {
          res.resume();
          done(res.statusCode === 200);
        },
      )
        .on('error', () => done(false))
        .end();
    });
    if (ready) return agent.destroy();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('phi-guard did not become ready within 30 s');
}

function load(spec: LoadSpec): Promise<LoadResult> {
  // The client keeps V8's defaults whatever the servers are given.
  const env = { ...process.env, NODE_OPTIONS: '' };
  const proc = spawn(process.execPath, [HERE, '--load'], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  proc.stdin!.end(JSON.stringify(spec));
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  return new Promise((done, fail) => {
    proc.on('exit', (code) =>
      code === 0
        ? done(JSON.parse(out) as LoadResult)
        : fail(new Error(`load generator exited with ${code}`)),
    );
  });
}

function peakRssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** One measured scenario. */
interface Row {
  scenario: string;
  result: LoadResult;
  /** Server CPU time (user + system) per answered request. */
  cpuMsPerRequest: number;
  ceiling?: Row;
}

// utime and stime, fields 14 and 15 of /proc/<pid>/stat (proc(5)), in clock ticks of 10 ms
// (USER_HZ is 100 on Linux).
function cpuMs(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function measure(scenario: string, target: Target, spec: LoadSpec): Promise<Row> {
  const before = cpuMs(target.proc.pid);
  const result = await load(spec);
  const cpuMsPerRequest = (cpuMs(target.proc.pid) - before) / Math.max(1, result.answered);
  return { scenario, result, cpuMsPerRequest };
}

function printTable(rows: Row[], half: Row[], rss: { server: number; ceiling: number }): void {
  const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const line = (cells: string[]) =>
    console.log(cells.map((c, i) => (i === 0 ? c.padEnd(34) : c.padStart(10))).join(' '));
  const share = (a: number, b: number | undefined) => (b ? `${f((100 * a) / b, 0)} %` : '');

  console.log(`\nPeak: ${CONCURRENCY} requests in flight, ${PEAK_MS / 1000} s after a warm-up.`);
  line(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'CPU ms/req', 'ceiling %', 'decision']);
  for (const { scenario, result: r, cpuMsPerRequest, ceiling } of rows) {
    const cells = [f(r.rps, 0), f(r.p50Ms), f(r.p99Ms), f(cpuMsPerRequest, 3)];
    line([
      scenario,
      ...cells,
      share(r.rps, ceiling?.result.rps),
      `${r.decision} ${r.errors || ''}`,
    ]);
  }
  console.log(`\nHalf load: an open loop at 50 % of each peak rate, ${HALF_LOAD_MS / 1000} s.`);
  line(['scenario', 'rate/s', 'p50 ms', 'p99 ms', 'errors', 'p99 < 5 ms']);
  for (const { scenario, result: r, ceiling } of half) {
    const ok = !ceiling ? '(baseline)' : r.p99Ms < 5 ? 'yes' : 'NO';
    line([scenario, f(r.rps, 0), f(r.p50Ms), f(r.p99Ms), String(r.errors), ok]);
  }
  console.log(
    '(baseline): the same open loop against the bare server at half of its own peak; where its\n' +
      'p99 is high too, the load generator sharing the cores sets the figure, not the server.',
  );
  console.log(
    `\nPeak RSS (VmHWM): phi-guard ${f(rss.server, 1)} MB, ceiling ${f(rss.ceiling, 1)} MB.`,
  );
  console.log(
    'Targets (PRODUCT.md): >= 75 % of the ceiling, p99 < 5 ms at half of peak load, RSS < 150 MB.',
  );
  console.log(
    '"ceiling %" compares req/s, which the shared load generator can cap; "CPU ms/req" is the\n' +
      "server's own CPU time per answer, whichever process limits the rate.\n",
  );
}

function header(): void {
  const [one, five] = loadavg();
  console.log(
    `phi-guard bench: Node ${process.version}, ${availableParallelism()} CPUs shared by the ` +
      `load generator and the servers, load average ${one!.toFixed(2)} (1 min) ` +
      `${five!.toFixed(2)} (5 min); server NODE_OPTIONS=${JSON.stringify(nodeOptions())}`,
  );
}

async function peakLoad(
  targets: { server: Target; ceiling: Target },
  ca: string,
  objects: Record<string, string>,
) {
  const base = {
    ca,
    mode: 'closed' as const,
    concurrency: CONCURRENCY,
    warmupMs: WARMUP_MS,
    durationMs: PEAK_MS,
  };
  const rows: Row[] = [];
  for (const [kind, body] of Object.entries(objects)) {
    const spec = { ...base, port: targets.ceiling.port, path: '/validate', body };
    const top = await measure(`ceiling (bare HTTPS) ${kind}`, targets.ceiling, spec);
    rows.push(top);
    for (const path of ['/validate', '/mutate']) {
      const own = { ...base, port: targets.server.port, path, body };
      rows.push({
        ...(await measure(`phi-guard ${path} ${kind}`, targets.server, own)),
        ceiling: top,
      });
    }
  }
  return rows;
}

// Every peak row again at half its rate, the ceiling's included: the bare server's p99 at half
// load is what this machine's scheduling and load generator allow, the baseline for ours.
async function halfLoad(
  targets: { server: Target; ceiling: Target },
  ca: string,
  objects: Record<string, string>,
  peaks: Row[],
) {
  const half: Row[] = [];
  for (const row of peaks) {
    const kind = row.scenario.split(' ').at(-1)!;
    const path = row.ceiling ? row.scenario.split(' ')[1]! : '/validate';
    const target = row.ceiling ? targets.server : targets.ceiling;
    const spec: LoadSpec = {
      ca,
      port: target.port,
      path,
      body: objects[kind]!,
      mode: 'open',
      concurrency: CONCURRENCY,
      rate: row.result.rps / 2,
      warmupMs: 500,
      durationMs: HALF_LOAD_MS,
    };
    half.push({ ...(await measure(row.scenario, target, spec)), ceiling: row.ceiling });
  }
  return half;
}

// JIT warm-up of every path the measurements take, so that the first scenario is not the one
// that pays for compilation.
async function warmUp(targets: Target[], ca: string, objects: Record<string, string>) {
  for (const target of targets) {
    for (const body of Object.values(objects)) {
      for (const path of ['/validate', '/mutate']) {
        const spec = { ca, port: target.port, path, body, mode: 'closed' as const, concurrency: 4 };
        await load({ ...spec, warmupMs: 0, durationMs: WARM_UP_MS });
      }
    }
  }
}

async function main(): Promise<void> {
  header();
  const dir = join(tmpdir(), `phi-guard-bench-${process.pid}`);
  const certs = await writeDevCertificates(dir);
  const ca = readFileSync(certs.caCertPath, 'utf8');
  const ceiling = await startCeiling(certs.certPath, certs.keyPath);
  const server = await startPhiGuard(certs.certPath, certs.keyPath, ca);
  const objects = {
    Deployment: review(deployment(), 'apps', 'deployments'),
    Pod: review(pod(), '', 'pods'),
  };

  try {
    await warmUp([server, ceiling], ca, objects);
    const peaks = await peakLoad({ server, ceiling }, ca, objects);
    const half = await halfLoad({ server, ceiling }, ca, objects, peaks);
    printTable(peaks, half, {
      server: peakRssMb(server.proc.pid),
      ceiling: peakRssMb(ceiling.proc.pid),
    });
  } finally {
    server.proc.kill('SIGTERM');
    ceiling.proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === '--load') {
  const result = await runLoad(JSON.parse(await readStdin()) as LoadSpec);
  process.stdout.write(JSON.stringify(result));
} else if (mode === '--ceiling') {
  runCeiling(Number(args[0]), args[1]!, args[2]!);
} else {
  await main();
}
