/**
 * The image's payload runs: what the Dockerfile puts in the runtime stage (package.json, the
 * production dependencies from `npm ci --omit=dev --ignore-scripts`, dist/src and dist/policies)
 * is copied to an empty folder, and the server started from there answers /healthz over HTTPS.
 * This catches a runtime import of a dev dependency, or a file the build does not ship, which a
 * test run inside the repository cannot see.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './fixtures/kustomize.js';
import { httpsGet, serveCli, type ServedCli } from './fixtures/served-cli.js';

const BUILT = ['dist/src', 'dist/policies'].map((p) => join(REPO_ROOT, p));
const built = BUILT.every((p) => existsSync(p));
if (!built) console.warn('payload: dist/ is missing (run "npm run build"); skipped');

// npm ci from the local cache can take a while on a shared 2-core machine.
const INSTALL_TIMEOUT_MS = 240_000;

describe.skipIf(!built)('the image payload', () => {
  let dir = '';
  let server: ServedCli | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phi-guard-payload-'));
    for (const file of ['package.json', 'package-lock.json'])
      cpSync(join(REPO_ROOT, file), join(dir, file));
    for (const path of ['dist/src', 'dist/policies'])
      cpSync(join(REPO_ROOT, path), join(dir, path), { recursive: true });

    const install = spawnSync(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      { cwd: dir, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS },
    );
    expect(install.status, install.stderr).toBe(0);
    server = await serveCli({
      cli: join(dir, 'dist/src/cli.js'),
      cwd: dir,
      args: ['--cert-dir', join(dir, 'certs')],
    });
  }, INSTALL_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds no package that only the dev dependencies need', () => {
    // package-lock.json marks such packages `dev: true`; a dev dependency that a production one
    // also needs (e.g. @types/node, which @kubernetes/client-node depends on) is not marked.
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => entry.dev === true && path.startsWith('node_modules/'))
      .map(([path]) => path);
    expect(devOnly).toContain('node_modules/vitest');
    expect(devOnly.filter((path) => existsSync(join(dir, path)))).toEqual([]);
  });

  it.each(['/healthz', '/readyz'])(
    'answers %s over HTTPS with the development certificate',
    async (path) => {
      const ca = readFileSync(join(dir, 'certs/ca.crt'), 'utf8');
      const res = await httpsGet(server!.port, path, ca);
      expect(res.status).toBe(200);
    },
  );

  it('serves /metrics on the plain-HTTP metrics port', async () => {
    const res = await fetch(`http://127.0.0.1:${server!.metricsPort}/metrics`, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('phi_guard_admission_requests_total');
  });
});
