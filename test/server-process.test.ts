import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { CLI, HttpsClient, startChildServer, tempDir } from './fixtures/server.js';
import { admissionReview, pod } from './fixtures/reviews.js';

// The built server as Kubernetes runs it: `node dist/src/cli.js serve` in its own process.
beforeAll(() => {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: build first with npx tsc -p tsconfig.json`);
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs the CLI to completion (15 s at most) and returns exit code and output. */
function runCli(args: string[], env: Record<string, string>, cwd: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: cwd, ...env },
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** Starts a POST with half its body sent; `finish()` sends the rest and reads the answer. */
function startRequest(port: number, ca: string, review: unknown) {
  const body = Buffer.from(JSON.stringify(review));
  let finish!: () => Promise<{ status: number; connection?: string; text: string }>;
  const answer = new Promise<{ status: number; connection?: string; text: string }>(
    (done, fail) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/validate',
          ca,
          servername: 'localhost',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () =>
            done({ status: res.statusCode!, connection: res.headers.connection, text }),
          );
        },
      );
      req.on('error', fail);
      req.write(body.subarray(0, body.length / 2));
      finish = () => {
        req.end(body.subarray(body.length / 2));
        return answer;
      };
    },
  );
  return { finish: () => finish() };
}

describe('SIGTERM drains in-flight requests', () => {
  it('readiness turns 503, the listener closes, the in-flight request completes, exit 0', async () => {
    const cwd = tempDir();
    const child = await startChildServer({ PHI_GUARD_SHUTDOWN_DELAY_MS: '1500' }, cwd);
    const ca = readFileSync(child.caFile, 'utf8');
    const client = new HttpsClient(child.port, ca, { keepAlive: false });
    expect((await client.get('/readyz')).status).toBe(200);

    // An in-flight request: headers and half the body sent, the rest held back until the
    // listener has closed.
    const inFlight = startRequest(
      child.port,
      ca,
      admissionReview(pod('slow'), { uid: 'in-flight' }),
    );
    await sleep(200);
    child.proc.kill('SIGTERM');

    let ready = 200;
    for (let i = 0; i < 20 && ready === 200; i++) {
      ready = (await client.get('/readyz')).status;
      if (ready === 200) await sleep(50);
    }
    expect(ready).toBe(503);

    let refused: unknown;
    for (let i = 0; i < 60 && refused === undefined; i++) {
      await sleep(100);
      refused = await client.get('/healthz').then(
        () => undefined,
        (err: unknown) => err,
      );
    }
    expect(String(refused)).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);

    const answer = inFlight.finish();
    const done = await answer;
    expect(done.status).toBe(200);
    expect(done.connection).toBe('close');
    expect(JSON.parse(done.text).response.uid).toBe('in-flight');
    expect(await child.exited).toBe(0);
    expect(child.logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['termination signal: readiness off, draining', 'drained; exiting']),
    );
    client.close();
  });
});

describe('start failures exit 1 with a message and no stack', () => {
  it.each([
    [
      'a config with an unknown mode',
      'policies:\n  pod-security:\n    mode: sometimes\n',
      /invalid config .*config\.yaml:\n {2}policies\.pod-security\.mode: /,
    ],
    [
      'a config naming an unknown policy',
      'policies:\n  no-such-policy: {}\n',
      /policies\.no-such-policy: unknown policy/,
    ],
  ])('%s', async (_state, text, message) => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'config.yaml'), text);
    const run = await runCli(
      ['serve'],
      {
        PHI_GUARD_CONFIG: join(cwd, 'config.yaml'),
        PHI_GUARD_PORT: '0',
        PHI_GUARD_METRICS_PORT: '0',
      },
      cwd,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [
      'PHI_GUARD_PORT is not a number',
      { PHI_GUARD_PORT: 'https' },
      /PHI_GUARD_PORT must be an integer from 0 to 65535$/m,
    ],
    [
      'PHI_GUARD_LOG_LEVEL is unknown',
      { PHI_GUARD_LOG_LEVEL: 'loud' },
      /PHI_GUARD_LOG_LEVEL must be one of fatal, error/,
    ],
    [
      'only a certificate file is given',
      { PHI_GUARD_TLS_CERT: '/nonexistent/tls.crt' },
      /both a TLS certificate file and its key file/,
    ],
    [
      'the certificate files do not exist',
      { PHI_GUARD_TLS_CERT: '/nonexistent/tls.crt', PHI_GUARD_TLS_KEY: '/nonexistent/tls.key' },
      /cannot use TLS certificate \/nonexistent\/tls.crt/,
    ],
  ])('%s', async (_state, env, message) => {
    const cwd = tempDir();
    const run = await runCli(
      ['serve'],
      { PHI_GUARD_PORT: '0', PHI_GUARD_METRICS_PORT: '0', ...env },
      cwd,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('a port already in use', async () => {
    const cwd = tempDir();
    const first = await startChildServer(
      { PHI_GUARD_CERT_DIR: join(cwd, 'certs'), PHI_GUARD_SHUTDOWN_DELAY_MS: '0' },
      cwd,
    );
    const run = await runCli(
      ['serve'],
      {
        PHI_GUARD_PORT: String(first.port),
        PHI_GUARD_METRICS_PORT: '0',
        PHI_GUARD_CERT_DIR: join(cwd, 'certs'),
      },
      cwd,
    );
    first.proc.kill('SIGTERM');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`cannot listen on port ${first.port}: .*EADDRINUSE`));
    expect(await first.exited).toBe(0);
  });
});
