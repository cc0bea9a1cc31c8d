// The built `phi-guard` binary (dist/src/cli.js) as CI and users run it: exit codes, one-line
// errors without stack traces, the three report formats, `serve` as the default command, and a
// run over the real-world manifests in ../shared/corpus.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { get } from 'node:http';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { findAll, parseXml } from './fixtures/cli/xml.js';
import { writeBrokenFixtures } from './fixtures/cli/broken.js';

const REPO = resolve(import.meta.dirname, '..');
const CLI = join(REPO, 'dist', 'src', 'cli.js');
const FIXTURES = join(REPO, 'test', 'fixtures', 'cli');
const CORPUS = resolve(REPO, '../shared/corpus');
const BROKEN = writeBrokenFixtures(mkdtempSync(join(tmpdir(), 'phi-guard-cli-binary-')));
const fixture = (name: string): string => join(FIXTURES, name);

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function cli(args: string[], timeout = 60_000): Run {
  const run = spawnSync(process.execPath, [CLI, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 << 20,
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

const STACK_FRAME = /^\s+at .+\(.+:\d+:\d+\)$/m;

beforeAll(() => {
  // Type errors in files being edited elsewhere do not stop tsc from emitting: the CLI must exist.
  spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], {
    cwd: REPO,
    stdio: 'ignore',
    timeout: 240_000,
  });
  expect(existsSync(CLI), `${CLI} was not built`).toBe(true);
}, 300_000);

describe('phi-guard binary', () => {
  it('starts with a node shebang, so that npm links it as the phi-guard command', () => {
    expect(readFileSync(CLI, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(cli(['--version'])).toEqual({ code: 0, out: `${pkg.version}\n`, err: '' });
  });

  it('--help lists every command', () => {
    const run = cli(['--help']);
    for (const command of ['serve', 'check', 'mutate', 'certs'])
      expect(run.out).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(run.code).toBe(0);
  });

  const exitCases: Array<{
    name: string;
    args: string[];
    code: number;
    out?: string;
    err?: string;
  }> = [
    {
      name: 'compliant manifest',
      args: ['check', fixture('compliant-deployment.yaml')],
      code: 0,
      out: 'Result: passed',
    },
    {
      name: 'privileged pod',
      args: ['check', fixture('privileged-pod.yaml')],
      code: 1,
      out: ': denied: [pod-security] Pod clinic/debug-shell',
    },
    {
      name: 'missing path',
      args: ['check', fixture('nope.yaml')],
      code: 2,
      out: 'nope.yaml: error: no such file or directory',
    },
    {
      name: 'YAML syntax error',
      args: ['check', BROKEN.badSyntax],
      code: 2,
      out: 'bad-syntax.yaml:7:1: error: YAML',
    },
    {
      name: 'bad config',
      args: ['check', '--config', fixture('bad-config.yaml'), fixture('privileged-pod.yaml')],
      code: 2,
      err: 'policies.pod-security.mode: ',
    },
    {
      name: 'no path and no config',
      args: ['check'],
      code: 2,
      err: 'name at least one file or folder',
    },
    {
      name: 'plain Secret applied as Argo CD',
      args: [
        'check',
        '--as',
        'system:serviceaccount:argocd:argocd-application-controller',
        '--as-group',
        'system:serviceaccounts',
        fixture('plain-secret.yaml'),
      ],
      code: 1,
      out: ': denied: [gitops-secrets] Secret billing/db-credentials',
    },
    {
      name: 'plain Secret applied by a person',
      args: ['check', '--as', 'alice', fixture('plain-secret.yaml')],
      code: 0,
      out: 'Result: passed',
    },
    {
      name: 'plain Secret with no --as',
      args: ['check', fixture('plain-secret.yaml')],
      code: 0,
      out: 'Note: 1 Secret judged as applied by a person (no --as); a GitOps controller',
    },
    {
      name: '--as-group without --as',
      args: ['check', '--as-group', 'devs', fixture('plain-secret.yaml')],
      code: 2,
      err: '--as-group needs --as USER',
    },
    { name: 'unknown command', args: ['lint', 'x.yaml'], code: 2, err: "unknown command 'lint'" },
    {
      name: 'unknown option',
      args: ['check', '--fast', 'x.yaml'],
      code: 2,
      err: "unknown option '--fast'",
    },
    {
      name: 'mutate of a missing file',
      args: ['mutate', fixture('nope.yaml')],
      code: 2,
      err: 'no such file or directory',
    },
    {
      name: 'serve with a bad port',
      args: ['serve', '--port', 'http'],
      code: 1,
      err: '--port must be an integer',
    },
    {
      name: 'certs into a path under a file',
      args: ['certs', '--out', fixture('list.yaml/certs')],
      code: 2,
      err: 'phi-guard: ',
    },
  ];

  it.each(exitCases)('$name: exit $code, no stack trace', ({ args, code, out, err }) => {
    const run = cli(args);
    if (out) expect(run.out).toContain(out);
    if (err) expect(run.err).toContain(err);
    expect(run.err).not.toMatch(STACK_FRAME);
    expect(run.code).toBe(code);
  });

  it('check - reads standard input, as `helm template ... | phi-guard check -`', () => {
    const run = spawnSync(process.execPath, [CLI, 'check', '-'], {
      cwd: REPO,
      encoding: 'utf8',
      input: readFileSync(fixture('privileged-pod.yaml'), 'utf8'),
      timeout: 60_000,
    });
    expect(run.stdout).toContain('<stdin>:2: denied: [pod-security] Pod clinic/debug-shell');
    expect(run.status).toBe(1);
  });

  it('check - with nothing on standard input fails, as kubectl apply -f - does', () => {
    const run = spawnSync(process.execPath, [CLI, 'check', '-'], {
      cwd: REPO,
      encoding: 'utf8',
      input: '# helm template failed before printing anything\n',
      timeout: 60_000,
    });
    expect(run.stdout).toContain('<stdin>: error: standard input holds no objects');
    expect(run.status).toBe(2);
  });

  it('check -o json prints one parseable document', () => {
    const run = cli(['check', '-o', 'json', fixture('multi-doc.yaml'), fixture('list.yaml')]);
    const report = JSON.parse(run.out) as {
      summary: { files: number; objects: number; exitCode: number };
    };
    expect(report.summary).toMatchObject({ files: 2, objects: 5, exitCode: 1 });
    expect(run.code).toBe(1);
  });

  it('check -o junit prints well-formed XML', () => {
    const run = cli(['check', '-o', 'junit', fixture('tree'), fixture('escaping.yaml')]);
    const root = parseXml(run.out);
    expect(findAll(root, 'testsuite')).toHaveLength(4);
    expect(findAll(root, 'testcase')).toHaveLength(4);
    expect(findAll(root, 'failure').length).toBeGreaterThanOrEqual(2);
  });

  it('mutate --patch prints a JSON Patch, mutate -o json the patched object', () => {
    const patch = JSON.parse(
      cli(['mutate', '--patch', fixture('compliant-deployment.yaml')]).out,
    ) as Array<{ op: string; path: string }>;
    const object = JSON.parse(
      cli(['mutate', '-o', 'json', fixture('compliant-deployment.yaml')]).out,
    ) as {
      spec: { template: { spec: { securityContext: Record<string, unknown> } } };
    };
    expect(patch.map((p) => p.op)).toContain('add');
    expect(patch.map((p) => p.path)).toContain('/spec/template/spec/securityContext/runAsNonRoot');
    expect(object.spec.template.spec.securityContext).toMatchObject({
      runAsUser: 10001,
      runAsNonRoot: true,
    });
  });
});

describe('phi-guard serve through the command line', () => {
  // Flags only, no command name: `serve` is the default command.
  it('listens with the flags given, then drains and exits 0 on SIGTERM', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'phi-guard-cli-serve-'));
    const args = [
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--host',
      '127.0.0.1',
      '--cert-dir',
      certDir,
    ];
    const child = spawn(
      process.execPath,
      [CLI, ...args, '--log-level', 'info', '--shutdown-delay-ms', '0'],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const lines = createInterface({ input: child.stdout });
    const listening = await new Promise<Record<string, unknown>>((done, fail) => {
      const timer = setTimeout(
        () => fail(new Error('serve did not log that it listens within 30 s')),
        30_000,
      );
      lines.on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (typeof entry.port === 'number') {
          clearTimeout(timer);
          done(entry);
        }
      });
      child.on('exit', (code) => fail(new Error(`serve exited early with ${code}`)));
    });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    // The server logs before serve installs its signal handlers; an answer from the metrics port
    // means the event loop has moved past that point.
    expect(await httpStatus(`http://127.0.0.1:${String(listening.metricsPort)}/metrics`)).toBe(200);
    child.kill('SIGTERM');

    expect(listening.port).toBeGreaterThan(0);
    expect(existsSync(join(certDir, 'tls.crt'))).toBe(true);
    expect(await exited).toBe(0);
  }, 60_000);
});

function httpStatus(url: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = get(url, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', fail);
  });
}

function manifestFilesUnder(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) n += entry.startsWith('.') ? 0 : manifestFilesUnder(path);
    else if (['.yaml', '.yml', '.json'].includes(extname(entry))) n += 1;
  }
  return n;
}

if (!existsSync(CORPUS)) console.warn(`skipping the corpus run: ${CORPUS} is missing`);

describe.skipIf(!existsSync(CORPUS))('phi-guard check over ../shared/corpus', () => {
  it('reads every file, reports each unparsable one with its line, and prints the summary', () => {
    const files = manifestFilesUnder(CORPUS);
    const strict = cli(['check', CORPUS], 120_000);
    const lenient = cli(['check', '--skip-unparsable', CORPUS], 120_000);
    const errors = strict.out.split('\n').filter((l) => l.includes(': error: '));
    const unparsable = Number(/\((\d+) unparsable\)/.exec(strict.out)?.[1] ?? 0);

    expect(strict.err).toBe('');
    expect(strict.out).toMatch(new RegExp(`^Summary: ${files} files`, 'm'));
    expect(strict.out).toMatch(/\d+ objects\/s/);
    expect(errors).toHaveLength(unparsable);
    for (const line of errors) expect(line).toMatch(/:\d+:\d+: error: YAML: /);
    expect(strict.code).toBe(unparsable > 0 ? 2 : lenient.code);
    expect([0, 1]).toContain(lenient.code);
    expect(lenient.out).toMatch(/Result: (passed|failed: enforce-mode violations)/);
  }, 240_000);
});
