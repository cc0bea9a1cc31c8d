/**
 * The namespace cache against test/fixtures/fake-apiserver.ts, which stands in for the Kubernetes
 * API server because none can run here: it lists Namespaces with a resourceVersion and streams
 * watch events from one, replays what a re-watch missed, answers 410 Gone for a compacted
 * version, and can end or reset its watch connections like a real API server does.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NamespaceCache } from '../src/kube/namespace-cache.js';
import { FakeApiServer, until } from './fixtures/fake-apiserver.js';

const LIST = (r: { path: string; query: Record<string, string> }) =>
  r.path === '/api/v1/namespaces' && r.query.watch !== 'true';
const WATCH = (r: { path: string; query: Record<string, string> }) =>
  r.path === '/api/v1/namespaces' && r.query.watch === 'true';

describe('NamespaceCache', () => {
  let fake: FakeApiServer;
  let cache: NamespaceCache;
  let errors: Error[];

  beforeEach(async () => {
    fake = await FakeApiServer.start();
    fake.putNamespace('records', { 'data-classification': 'phi' });
    fake.putNamespace('web', { team: 'frontend' });
    errors = [];
    cache = new NamespaceCache({
      kubeConfig: fake.kubeConfig(),
      initialBackoffMs: 50,
      maxBackoffMs: 200,
      onError: (err) => errors.push(err),
    });
  });
  afterEach(async () => {
    await cache.stop();
    await fake.close();
  });

  const lists = () => fake.requests.filter(LIST).length;
  const labelOf = (ns: string, key: string) => cache.namespaceLabels(ns)?.[key];
  async function synced() {
    await cache.start();
    await Promise.race([
      cache.ready,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('not ready within 10 s')), 10_000),
      ),
    ]);
    await until(() => fake.openWatches === 1, 'the watch to open');
  }

  it('first list succeeds: ready, with every namespace and its labels', async () => {
    expect(cache.isSynced()).toBe(false);
    expect(cache.namespaceLabels('records')).toBeUndefined();

    await synced();

    expect(cache.isSynced()).toBe(true);
    expect(cache.namespaceLabels('records')).toEqual({ 'data-classification': 'phi' });
    expect(cache.namespaceLabels('web')).toEqual({ team: 'frontend' });
    expect(cache.namespaceLabels('absent')).toBeUndefined();
  });

  it('first list fails: not ready until a restart after the backoff lists', async () => {
    fake.failNext('GET', /^\/api\/v1\/namespaces$/, 500);

    await cache.start();
    expect(cache.isSynced()).toBe(false);
    expect(cache.namespaceLabels('records')).toBeUndefined();
    await until(() => errors.length === 1, 'the list failure to be reported');
    expect(errors[0]?.message).toBe('namespace watch failed; restarting in 50 ms');

    await until(() => cache.isSynced(), 'the cache to sync after the restart');
    expect(labelOf('records', 'data-classification')).toBe('phi');
    expect(lists()).toBe(2);
  });

  it.each([
    {
      state: 'namespace relabelled',
      change: (f: FakeApiServer) => f.putNamespace('web', { team: 'phi-team' }),
      expected: 'phi-team',
    },
    {
      state: 'namespace created',
      change: (f: FakeApiServer) => f.putNamespace('new', { team: 'phi-team' }),
      ns: 'new',
      expected: 'phi-team',
    },
    {
      state: 'namespace deleted',
      change: (f: FakeApiServer) => f.deleteNamespace('web'),
      expected: undefined,
    },
  ])('$state: a watch event updates the cache, no new list', async ({ change, ns, expected }) => {
    await synced();
    change(fake);
    await until(() => labelOf(ns ?? 'web', 'team') === expected, 'the watch event');
    expect(lists()).toBe(1);
  });

  it('watch closed by the server: re-watches from the last version and sees every later change', async () => {
    await synced();
    fake.putNamespace('web', { team: 'seen-before-close' });
    await until(() => labelOf('web', 'team') === 'seen-before-close', 'the first change');

    fake.dropWatches('close');
    fake.putNamespace('web', { team: 'changed-while-disconnected' });
    await until(
      () => labelOf('web', 'team') === 'changed-while-disconnected',
      'the replayed change',
    );
    await until(() => fake.openWatches === 1, 'the new watch');
    fake.putNamespace('records', { 'data-classification': 'internal' });
    await until(() => labelOf('records', 'data-classification') === 'internal', 'a later change');

    const watches = fake.requests.filter(WATCH);
    expect(Number(watches.at(-1)?.query.resourceVersion)).toBeGreaterThan(
      Number(watches[0]?.query.resourceVersion),
    );
    expect(lists()).toBe(1);
  });

  it('watch connection reset: reports it, restarts after the backoff and sees later changes', async () => {
    await synced();

    fake.dropWatches('reset');
    fake.putNamespace('web', { team: 'changed-while-disconnected' });
    await until(
      () => labelOf('web', 'team') === 'changed-while-disconnected',
      'the replayed change',
    );
    await until(() => fake.openWatches === 1, 'the new watch');
    fake.putNamespace('web', { team: 'later' });
    await until(() => labelOf('web', 'team') === 'later', 'a later change');
    expect(errors.map((e) => e.message)).toEqual(['namespace watch failed; restarting in 50 ms']);
    expect(lists()).toBe(1);
  });

  it('watch closed and its version compacted away (410 Gone): lists again and recovers', async () => {
    await synced();

    fake.dropWatches('close');
    fake.deleteNamespace('web');
    fake.putNamespace('records', { 'data-classification': 'public' });
    fake.compact();

    await until(() => labelOf('records', 'data-classification') === 'public', 'the relist');
    expect(cache.namespaceLabels('web')).toBeUndefined();
    expect(lists()).toBe(2);
    await until(() => fake.openWatches === 1, 'the new watch');
    fake.putNamespace('records', { 'data-classification': 'phi' });
    await until(() => labelOf('records', 'data-classification') === 'phi', 'a later change');
  });

  it('stopped while the first list is in flight: the watch opened after it is closed at once', async () => {
    const starting = cache.start();
    await cache.stop();
    await starting;

    await until(
      () => fake.requests.filter(WATCH).length === 1,
      'the watch the informer opens after its list',
    );
    await until(() => fake.openWatches === 0, 'that watch to be aborted');
    expect(cache.isSynced()).toBe(false);
    expect(errors).toEqual([]);
  });

  it('stopped: closes the watch, reports nothing, restarts nothing', async () => {
    await synced();
    await cache.stop();

    await until(() => fake.openWatches === 0, 'the watch to close');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.openWatches).toBe(0);
    expect(errors).toEqual([]);
  });
});
