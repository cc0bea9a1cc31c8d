import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registryOf } from '../src/engine/registry.js';
import { ConfigError } from '../src/config/load.js';
import { loadAndWatchConfig, type ConfigWatch } from '../src/config/watch.js';
import { startServer } from '../src/server/start.js';
import { configMap, labelPolicy, throwingPolicy } from './fixtures/test-policies.js';
import { sample, scrape, startTestServer, tempDir, type TestServer } from './fixtures/server.js';
import { admissionReview } from './fixtures/reviews.js';
import type { Config } from '../src/config/schema.js';

const registry = registryOf([labelPolicy, throwingPolicy]);
const bad = configMap('settings', 'team-a', { bad: 'true' });
const modeConfig = (mode: string) => `policies:\n  label-check:\n    mode: ${mode}\n`;

let running: TestServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function decisionFor(t: TestServer): Promise<string> {
  const answer = await t.client.post('/validate', admissionReview(bad));
  return answer.json.response.auditAnnotations.decision;
}

async function eventually(t: TestServer, expected: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if ((await decisionFor(t)) === expected) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(await decisionFor(t)).toBe(expected);
}

/** A ConfigMap volume as the kubelet lays it out: config.yaml → ..data/config.yaml → ..<version>/. */
function configMapVolume(dir: string, text: string): { path: string; swap(text: string): void } {
  let version = 0;
  const writeVersion = (content: string) => {
    version += 1;
    const folder = `..2026_12_03_00_00_0${version}`;
    mkdirSync(join(dir, folder));
    writeFileSync(join(dir, folder, 'config.yaml'), content);
    return folder;
  };
  symlinkSync(writeVersion(text), join(dir, '..data'));
  symlinkSync(join('..data', 'config.yaml'), join(dir, 'config.yaml'));
  return {
    path: join(dir, 'config.yaml'),
    swap(content: string) {
      const old = `..2026_12_03_00_00_0${version}`;
      symlinkSync(writeVersion(content), join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, old), { recursive: true });
    },
  };
}

describe('config reload through a running server', () => {
  it('a plain write of a new mode takes effect without a restart', async () => {
    const path = join(tempDir(), 'config.yaml');
    writeFileSync(path, modeConfig('enforce'));
    running = await startTestServer({ configPath: path, policies: registry });
    expect(await decisionFor(running)).toBe('denied');

    writeFileSync(path, modeConfig('warn'));
    await eventually(running, 'warned');
    const text = await scrape(running.server.metricsPort);
    expect(sample(text, 'phi_guard_config_reloads_total', { result: 'success' })).toBe(1);
    expect(running.logs.some((l) => l.msg === 'config reloaded' && l.configPath === path)).toBe(
      true,
    );
  });

  it('a ConfigMap update (..data symlink swap) takes effect without a restart', async () => {
    const volume = configMapVolume(tempDir(), modeConfig('enforce'));
    running = await startTestServer({ configPath: volume.path, policies: registry });
    expect(await decisionFor(running)).toBe('denied');

    volume.swap(modeConfig('audit'));
    await eventually(running, 'allowed');
    volume.swap(modeConfig('enforce'));
    await eventually(running, 'denied');
    expect(
      sample(await scrape(running.server.metricsPort), 'phi_guard_config_reloads_total', {
        result: 'success',
      }),
    ).toBe(2);
  });

  it.each([
    ['an unknown mode', modeConfig('sometimes'), /policies\.label-check\.mode/],
    [
      'an unknown policy',
      'policies:\n  no-such-policy: {}\n',
      /policies\.no-such-policy: unknown policy/,
    ],
    ['broken YAML', 'policies: [\n', /\(YAML\)/],
    ['an emptied ConfigMap', '', /the file is empty/],
  ])(
    '%s is rejected, the last good config stays and the failure is counted',
    async (_state, text, issue) => {
      const volume = configMapVolume(tempDir(), modeConfig('enforce'));
      running = await startTestServer({ configPath: volume.path, policies: registry });
      const before = sample(
        await scrape(running.server.metricsPort),
        'phi_guard_config_last_reload_success_timestamp_seconds',
      );

      volume.swap(text);
      const t = running;
      const deadline = Date.now() + 10_000;
      while (
        !t.logs.some((l) => l.msg === 'config reload rejected; keeping the last good config') &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const rejected = t.logs.find(
        (l) => l.msg === 'config reload rejected; keeping the last good config',
      );
      expect(rejected).toMatchObject({
        level: 'error',
        configPath: volume.path,
        issues: [expect.stringMatching(issue)],
      });
      expect(await decisionFor(t)).toBe('denied');
      const metrics = await scrape(t.server.metricsPort);
      expect(sample(metrics, 'phi_guard_config_reloads_total', { result: 'failure' })).toBe(1);
      expect(sample(metrics, 'phi_guard_config_reloads_total', { result: 'success' })).toBe(0);
      expect(sample(metrics, 'phi_guard_config_last_reload_success_timestamp_seconds')).toBe(
        before,
      );
    },
  );

  it('an invalid config at start stops the start with a ConfigError naming the field', async () => {
    const path = join(tempDir(), 'config.yaml');
    writeFileSync(path, modeConfig('sometimes'));
    const start = startServer({
      configPath: path,
      policies: registry,
      port: 0,
      metricsPort: 0,
      certDir: tempDir(),
      logLevel: 'silent',
    });
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toMatchObject({
      issues: [expect.stringMatching(/^policies\.label-check\.mode: /)],
    });
  });
});

describe('watchConfig without directory events (poll only)', () => {
  let watch: ConfigWatch | undefined;
  afterEach(() => watch?.close());

  it.each([
    ['content unchanged', modeConfig('enforce'), 'unchanged', 'enforce'],
    ['mode changed to warn', modeConfig('warn'), 'success', 'warn'],
    ['mode made invalid', modeConfig('never'), 'failure', 'enforce'],
  ])('%s → %s', async (_state, next, result, mode) => {
    const path = join(tempDir(), 'config.yaml');
    writeFileSync(path, modeConfig('enforce'));
    let current: Config | undefined;
    const errors: ConfigError[] = [];
    const loaded = loadAndWatchConfig({
      path,
      registry,
      watchDirectory: false,
      pollIntervalMs: 0,
      onReload: (c) => (current = c),
      onReject: (e) => errors.push(e),
    });
    watch = loaded.watch;
    current = loaded.config;

    writeFileSync(path, next);
    expect(watch.check()).toBe(result);
    expect(current.policies['label-check']!.mode).toBe(mode);
    expect(errors).toHaveLength(result === 'failure' ? 1 : 0);
    expect(watch.check()).toBe('unchanged');
  });

  it.each([
    ['a plain write', (path: string) => writeFileSync(path, modeConfig('warn'))],
    [
      'the file replaced by a rename',
      (path: string) => {
        writeFileSync(`${path}.new`, modeConfig('warn'));
        renameSync(`${path}.new`, path);
      },
    ],
  ])('the stat poll notices %s when no watch runs', async (_state, change) => {
    const path = join(tempDir(), 'config.yaml');
    writeFileSync(path, modeConfig('enforce'));
    const reloaded = new Promise<Config>((done) => {
      const loaded = loadAndWatchConfig({
        path,
        registry,
        watchDirectory: false,
        pollIntervalMs: 50,
        onReload: done,
        onReject: () => undefined,
      });
      watch = loaded.watch;
    });
    await new Promise((r) => setTimeout(r, 120));
    change(path);
    expect((await reloaded).policies['label-check']!.mode).toBe('warn');
  });
});
